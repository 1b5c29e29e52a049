"""`exteri-mail dns records|check|keygen` against a real DNS server (Knot).

No mail daemons here: the records come from Settings and the key store, and
are judged by checkdmarc (an outside parser). `dns check`, which also
fetches the MTA-STS policy over https, is tested in test_dns_check.py.
"""

import json
import stat

import checkdmarc.dmarc
import checkdmarc.mta_sts
import checkdmarc.smtp_tls_reporting
import checkdmarc.spf
import pytest
from click.testing import CliRunner

from exteri_mail.cli import cli as cli_group
from exteri_mail.dns import policy_fetch
from tests.dnszone import Knot

DOMAINS = ("esteri.org", "exteri.it")


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {
        "EXTERI_MAIL_CONFIG": "",
        "EXTERI_MAIL_DELIVERABILITY__DKIM_DIR": str(tmp_path / "dkim"),
    }


@pytest.fixture
def run(env):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli_group, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def knot(tmp_path):
    server = Knot(tmp_path / "knot")
    yield server
    server.cleanup()


def zones(run) -> dict[str, str]:
    out = {}
    for domain in DOMAINS:
        result = run("dns", "records", "--format", "zone", "--domain", domain)
        assert result.exit_code == 0, result.stderr
        out[domain] = result.stdout
    return out


def test_records_cover_both_domains_with_unsplit_txt(run):
    assert run("dns", "keygen").exit_code == 0

    result = run("dns", "records", "--format", "json")

    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert all(set(row) == {"name", "type", "value", "ttl"} for row in rows)
    got = {(row["name"], row["type"]) for row in rows}
    for domain in DOMAINS:
        apex = f"{domain}."
        assert {
            (apex, "MX"),
            (apex, "TXT"),
            (f"mail._domainkey.{apex}", "TXT"),
            (f"_dmarc.{apex}", "TXT"),
            (f"_mta-sts.{apex}", "TXT"),
            (f"mta-sts.{apex}", "CNAME"),
            (f"_smtp._tls.{apex}", "TXT"),
            (f"_submission._tcp.{apex}", "SRV"),
            (f"_submissions._tcp.{apex}", "SRV"),
            (f"_imap._tcp.{apex}", "SRV"),
            (f"_imaps._tcp.{apex}", "SRV"),
            (f"_pop3._tcp.{apex}", "SRV"),
            (f"_pop3s._tcp.{apex}", "SRV"),
            (f"autoconfig.{apex}", "CNAME"),
            (f"autodiscover.{apex}", "CNAME"),
        } <= got
    dkim = next(r for r in rows if r["name"] == "mail._domainkey.esteri.org.")
    assert dkim["value"].startswith("v=DKIM1; k=rsa; p=MII")
    assert '"' not in dkim["value"] and len(dkim["value"]) > 255
    mx = next(r for r in rows if r["name"] == "exteri.it." and r["type"] == "MX")
    assert mx["value"] == "10 mail.esteri.org."


def test_zone_format_splits_long_txt_into_dns_strings(run):
    run("dns", "keygen")

    zone = run("dns", "records").stdout

    line = next(x for x in zone.splitlines() if x.startswith("mail._domainkey.exteri"))
    assert line.startswith("mail._domainkey.exteri.it. 3600 IN TXT ")
    assert '" "' in line  # two quoted strings, each at most 255 bytes


def test_records_name_the_ptr_of_each_public_address_for_its_provider(env):
    env["EXTERI_MAIL_DELIVERABILITY__ADDRESSES"] = '["192.0.2.1", "2001:db8::25"]'
    runner = CliRunner()

    def records(*args: str) -> str:
        result = runner.invoke(cli_group, ["dns", "records", *args], env=env)
        assert result.exit_code == 0, result.stderr
        return result.stdout

    rows = json.loads(records("--format", "json"))
    zone = records().splitlines()

    v6 = "5.2." + "0." * 22 + "8.b.d.0.1.0.0.2.ip6.arpa."
    assert [r for r in rows if r["type"] == "PTR"] == [
        {"name": "1.2.0.192.in-addr.arpa.", "type": "PTR",
         "value": "mail.esteri.org.", "ttl": 3600},
        {"name": v6, "type": "PTR", "value": "mail.esteri.org.", "ttl": 3600},
    ]
    assert zone[-3:] == [
        "; Not in these zones: ask the provider of each address for this "
        "reverse DNS (PTR)",
        "; 1.2.0.192.in-addr.arpa. 3600 IN PTR mail.esteri.org.",
        f"; {v6} 3600 IN PTR mail.esteri.org.",
    ]
    assert "PTR" not in records("--domain", "esteri.org")


def test_keygen_writes_a_private_key_readable_by_its_owner_only(run, tmp_path):
    result = run("dns", "keygen", "--selector", "s2025")

    assert result.exit_code == 0, result.stderr
    key = tmp_path / "dkim" / "s2025.private"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    secret = key.read_text()
    assert "PRIVATE KEY" in secret
    body = "".join(secret.splitlines()[1:-1])
    assert body[:40] not in result.stdout + result.stderr
    assert "PRIVATE" not in result.stdout + result.stderr


def test_keygen_rotation_keeps_the_old_selector_published(run, tmp_path):
    assert run("dns", "keygen").exit_code == 0

    again = run("dns", "keygen")
    rotated = run("dns", "keygen", "--selector", "mail2")

    assert again.exit_code == 1
    assert again.stderr.strip().splitlines() == [
        (
            f"exteri-mail: DKIM selector 'mail' already has a key in {tmp_path}/dkim; "
            "rotate with `exteri-mail dns keygen --selector NEW`"
        )
    ]
    assert rotated.exit_code == 0, rotated.stderr
    assert (tmp_path / "dkim" / "active").read_text() == "mail2\n"
    names = {
        r["name"] for r in json.loads(run("dns", "records", "--format", "json").stdout)
    }
    assert {"mail._domainkey.esteri.org.", "mail2._domainkey.esteri.org."} <= names


def test_keygen_refuses_a_bad_selector_and_writes_nothing(run, tmp_path):
    result = run("dns", "keygen", "--selector", "bad_sel!")

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        (
            "exteri-mail: invalid DKIM selector: 'bad_sel!' (letters, digits and '-', "
            "at most 63)"
        )
    ]
    assert not (tmp_path / "dkim").exists()


def test_records_refuse_an_unknown_domain(run):
    result = run("dns", "records", "--domain", "example.com")

    assert result.exit_code == 1
    assert "example.com" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_published_records_parse_cleanly_in_checkdmarc(run, knot):
    run("dns", "keygen")
    knot.serve(zones(run))
    res = knot.resolver()

    for domain in DOMAINS:
        spf = checkdmarc.spf.check_spf(domain, resolver=res)
        dmarc = checkdmarc.dmarc.check_dmarc(domain, resolver=res)
        sts = checkdmarc.mta_sts.query_mta_sts_record(domain, resolver=res)
        tlsrpt = checkdmarc.smtp_tls_reporting.query_smtp_tls_reporting_record(
            domain, resolver=res
        )

        assert spf["valid"], spf
        assert spf["parsed"]["all"] == "fail"
        assert dmarc["valid"], dmarc
        assert dmarc["tags"]["p"]["value"] == "quarantine"
        assert sts["record"].startswith("v=STSv1; id=")
        assert tlsrpt["record"] == f"v=TLSRPTv1; rua=mailto:postmaster@{domain}"


def test_policy_host_is_found_through_its_cname_in_the_other_zone(run, knot):
    run("dns", "keygen")
    knot.serve(zones(run))

    for domain in DOMAINS:
        address = policy_fetch.address_of(knot.resolver(), f"mta-sts.{domain}")

        assert address == "127.0.0.1"


def test_check_refuses_a_malformed_resolver_address(run):
    result = run("dns", "check", "--resolver", "dns.example:53")

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        (
            "exteri-mail: resolver must be IP[:PORT] (e.g. 127.0.0.1:5353): "
            "'dns.example:53'"
        )
    ]


def test_check_refuses_a_malformed_policy_server_address(run):
    result = run("dns", "check", "--mta-sts-server", "127.0.0.1:99999")

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        (
            "exteri-mail: MTA-STS server must be IP[:PORT] (e.g. 127.0.0.1:8443): "
            "'127.0.0.1:99999'"
        )
    ]


def test_split_setup_points_imap_and_pop3_clients_at_the_dovecot_host(env):
    env |= {
        "EXTERI_MAIL_RUNS": '["mx"]',
        "EXTERI_MAIL_MAILSTORE__HOST": "10.0.0.11",
        "EXTERI_MAIL_MAILSTORE__NAME": "IMAP1.esteri.org.",
        "EXTERI_MAIL_MAILSTORE__ADDRESSES": '["192.0.2.11"]',
        "EXTERI_MAIL_DELIVERABILITY__ADDRESSES": '["192.0.2.10"]',
    }

    result = CliRunner().invoke(
        cli_group, ["dns", "records", "--format", "json"], env=env
    )

    assert result.exit_code == 0, result.stderr
    rows = {(r["name"], r["type"]): r["value"] for r in json.loads(result.stdout)}
    assert rows[("imap1.esteri.org.", "A")] == "192.0.2.11"
    assert rows[("mail.esteri.org.", "A")] == "192.0.2.10"
    assert rows[("_imaps._tcp.esteri.org.", "SRV")] == "0 1 993 imap1.esteri.org."
    assert rows[("_pop3s._tcp.exteri.it.", "SRV")] == "0 1 995 imap1.esteri.org."
    assert rows[("_submissions._tcp.esteri.org.", "SRV")] == "0 1 465 mail.esteri.org."
    assert rows[("esteri.org.", "MX")] == "10 mail.esteri.org."


def test_split_setup_refuses_a_mailstore_address_that_is_not_one(env):
    env |= {
        "EXTERI_MAIL_RUNS": '["mx"]',
        "EXTERI_MAIL_MAILSTORE__HOST": "10.0.0.11",
        "EXTERI_MAIL_MAILSTORE__NAME": "imap1.esteri.org",
        "EXTERI_MAIL_MAILSTORE__ADDRESSES": '["imap1.esteri.org"]',
    }

    result = CliRunner().invoke(cli_group, ["dns", "records"], env=env)

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        (
            "exteri-mail: config (defaults): mailstore.addresses.0: "
            "'imap1.esteri.org' is not an IP address"
        )
    ]
