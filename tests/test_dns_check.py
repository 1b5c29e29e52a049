"""`exteri-mail dns check` and the MTA-STS policy, against the running stack.

Knot serves the zones `dns records` prints, and the reverse zone of the
host's address as its provider would; the stack's nginx serves the MTA-STS
policy over https with the instance's certificate. curl fetches the policy
as a sending server would, and checkdmarc's parser judges it.
"""

import json
import subprocess

import checkdmarc.mta_sts
import pytest
from click.testing import CliRunner

from exteri_mail.cli import cli as cli_group
from tests.dnszone import Knot
from tests.mailstack import free_port

pytestmark = pytest.mark.daemons

DOMAINS = ("esteri.org", "exteri.it")
HOST = "mail.esteri.org"
REVERSE_ZONE = "127.in-addr.arpa"
PTR_NAME = "1.0.0.127.in-addr.arpa."
ENFORCE = {"EXTERI_MAIL_DELIVERABILITY__MTA_STS_MODE": "enforce"}


def run(stack, *args: str, env: dict | None = None):
    """The CLI on the stack's settings, in-process (saves a start-up)."""
    return CliRunner().invoke(
        cli_group,
        list(args),
        env={"EXTERI_MAIL_CONFIG": stack.env["EXTERI_MAIL_CONFIG"], **(env or {})},
        catch_exceptions=False,
    )


@pytest.fixture(scope="module")
def sts_port(stack_webmail) -> int:
    return int(stack_webmail["mta_sts"].split(":")[2].split("/")[0])


@pytest.fixture(scope="module")
def ca(stack) -> str:
    return str(stack.state_dir / "tls" / "cert.pem")


@pytest.fixture
def knot(tmp_path):
    server = Knot(tmp_path / "knot")
    yield server
    server.cleanup()


def zones(stack, env: dict | None = None) -> dict[str, str]:
    """Our two zones, and the reverse zone with the PTR `dns records` asks for."""
    out = {
        domain: run(stack, "dns", "records", "--domain", domain, env=env).stdout
        for domain in DOMAINS
    }
    everything = run(stack, "dns", "records", env=env).stdout.splitlines()
    ptr = [line.removeprefix("; ") for line in everything if " IN PTR " in line]
    out[REVERSE_ZONE] = "".join(f"{line}\n" for line in ptr)
    return out


def check(stack, knot, sts_port, ca, *extra: str, env: dict | None = None):
    return run(
        stack,
        "dns",
        "check",
        "--resolver",
        knot.address,
        "--mta-sts-server",
        f"127.0.0.1:{sts_port}",
        "--mta-sts-ca",
        ca,
        *extra,
        env=env,
    )


def curl(domain: str, port: int, ca: str, path: str = "/.well-known/mta-sts.txt"):
    """GET https://mta-sts.DOMAIN PATH from loopback, checking the certificate
    for that name: (status line and headers, body)."""
    host = f"mta-sts.{domain}"
    result = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--max-time", "10",
            "--resolve", f"{host}:{port}:127.0.0.1", "--cacert", ca,
            "--dump-header", "-", f"https://{host}:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # text mode has turned the CRLF line ends of the headers into LF
    head, _, body = result.stdout.partition("\n\n")
    return head, body


def content_type(head: str) -> str:
    lines = head.lower().splitlines()
    return next(x.split(":", 1)[1].strip() for x in lines if x.startswith("content-"))


# --- the policy over https --------------------------------------------------


def test_policy_is_served_for_both_domains_as_dns_announces_it(
    stack, sts_port, ca
):
    policy = run(stack, "dns", "mta-sts-policy").stdout
    records = json.loads(run(stack, "dns", "records", "--format", "json").stdout)

    for domain in DOMAINS:
        head, body = curl(domain, sts_port, ca)

        assert head.splitlines()[0] == "HTTP/1.1 200 OK"
        assert content_type(head) == "text/plain"
        assert body == policy
        parsed = checkdmarc.mta_sts.parse_mta_sts_policy(body)
        assert parsed["warnings"] == []
        assert parsed["policy"] == {
            "version": "STSv1",
            "mode": "testing",
            "max_age": 604800,
            "mx": [HOST],
        }
        mx = [r for r in records if r["name"] == f"{domain}." and r["type"] == "MX"]
        for row in mx:
            name = row["value"].split()[1].rstrip(".")
            assert checkdmarc.mta_sts.mx_in_mta_sts_patterns(name, [HOST])
        txt = next(r for r in records if r["name"] == f"_mta-sts.{domain}.")
        assert checkdmarc.mta_sts.parse_mta_sts_record(txt["value"])["tags"]


def test_nothing_else_is_served_on_the_policy_host(stack, sts_port, ca):
    head, _ = curl("esteri.org", sts_port, ca, path="/")

    assert head.splitlines()[0] == "HTTP/1.1 404 Not Found"


def test_policy_id_changes_when_the_policy_does(stack):
    def sts_id(env=None) -> str:
        rows = json.loads(
            run(stack, "dns", "records", "--format", "json", env=env).stdout
        )
        return next(r["value"] for r in rows if r["name"] == "_mta-sts.esteri.org.")

    assert sts_id() == sts_id()
    assert sts_id(ENFORCE) != sts_id()
    assert sts_id({"EXTERI_MAIL_DELIVERABILITY__MTA_STS_MAX_AGE": "86400"}) != sts_id()


# --- dns check --------------------------------------------------------------


def test_check_reports_all_present_then_names_the_one_removed(
    stack, knot, sts_port, ca
):
    served = zones(stack)
    knot.serve(served)

    ok = check(stack, knot, sts_port, ca, "--json")

    assert ok.exit_code == 0, ok.stdout + ok.stderr
    results = json.loads(ok.stdout)
    assert {r["status"] for r in results} == {"ok"}
    kinds = {(r["name"], r["type"]) for r in results}
    assert (PTR_NAME, "PTR") in kinds
    assert {
        (f"https://mta-sts.{d}/.well-known/mta-sts.txt", "MTA-STS") for d in DOMAINS
    } <= kinds

    dmarc = next(x for x in served["exteri.it"].splitlines() if x.startswith("_dmarc"))
    served["exteri.it"] = served["exteri.it"].replace(dmarc + "\n", "")
    knot.serve(served)
    missing = check(stack, knot, sts_port, ca)

    assert missing.exit_code == 1
    assert missing.stderr.strip().splitlines() == [
        (
            f"exteri-mail: 1 of {len(results)} DNS records and MTA-STS policies "
            "missing or wrong: _dmarc.exteri.it. TXT"
        )
    ]
    line = next(x for x in missing.stdout.splitlines() if "_dmarc.exteri.it." in x)
    assert line.split()[0] == "missing"
    assert "v=DMARC1; p=quarantine; rua=mailto:postmaster@exteri.it" in line


def test_check_shows_a_wrong_value_beside_the_expected_one(stack, knot, sts_port, ca):
    served = zones(stack)
    served["esteri.org"] = served["esteri.org"].replace(
        '"v=spf1 mx -all"', '"v=spf1 ip4:192.0.2.7 ~all"'
    )
    knot.serve(served)

    result = check(stack, knot, sts_port, ca)

    assert result.exit_code == 1
    assert result.stderr.strip().endswith("missing or wrong: esteri.org. TXT")
    assert "esteri.org. TXT is v=spf1 ip4:192.0.2.7 ~all" in result.stdout


def test_check_names_a_served_policy_that_differs_from_the_settings(
    stack, knot, sts_port, ca
):
    # The operator switched to enforce and published the new id, but the
    # web server still has the old policy.
    knot.serve(zones(stack, ENFORCE))

    result = check(stack, knot, sts_port, ca, env=ENFORCE)

    assert result.exit_code == 1
    urls = [f"https://mta-sts.{d}/.well-known/mta-sts.txt" for d in DOMAINS]
    assert result.stderr.strip().endswith(
        f"missing or wrong: {urls[0]} MTA-STS, {urls[1]} MTA-STS"
    )
    lines = result.stdout.splitlines()
    expected = "version: STSv1; mode: enforce; mx: mail.esteri.org; max_age: 604800"
    assert f"wrong   {urls[0]}  MTA-STS  {expected}" in lines
    assert (
        f"{urls[0]} MTA-STS is "
        "version: STSv1; mode: testing; mx: mail.esteri.org; max_age: 604800"
    ) in lines


def test_check_says_why_a_policy_could_not_be_fetched(
    stack, stack_webmail, knot, sts_port, ca
):
    knot.serve(zones(stack))
    url = "https://mta-sts.esteri.org/.well-known/mta-sts.txt"

    untrusted = run(
        stack, "dns", "check", "--resolver", knot.address, "--domain", "esteri.org",
        "--mta-sts-server", f"127.0.0.1:{sts_port}",
    )
    # Roundcube's server, which refuses hidden paths.
    roundcube_port = int(stack_webmail["url"].rstrip("/").rsplit(":", 1)[1])
    not_there = check(stack, knot, roundcube_port, ca, "--domain", "esteri.org")
    closed_port = free_port()
    refused = check(stack, knot, closed_port, ca, "--domain", "esteri.org")

    assert untrusted.exit_code == 1
    assert untrusted.stderr.strip().endswith(f"missing or wrong: {url} MTA-STS")
    assert f"{url} MTA-STS missing: TLS failed: " in untrusted.stdout
    assert "certificate verify failed" in untrusted.stdout
    assert not_there.exit_code == 1
    assert f"{url} MTA-STS missing: HTTP 403" in not_there.stdout.splitlines()
    assert refused.exit_code == 1
    assert (
        f"{url} MTA-STS missing: no connection to 127.0.0.1:{closed_port}: "
        "[Errno 111] Connection refused"
    ) in refused.stdout.splitlines()


# --- reverse DNS --------------------------------------------------------------


@pytest.mark.parametrize(
    ("ptr", "status", "shown"),
    [
        ("", "missing", None),
        (f"{PTR_NAME} 3600 IN PTR static-1.provider.test.\n", "wrong",
         f"{PTR_NAME} PTR is static-1.provider.test."),
    ],
    ids=["missing", "wrong"],
)
def test_check_names_a_missing_or_wrong_ptr_with_the_name_to_ask_for(
    stack, knot, sts_port, ca, ptr, status, shown
):
    served = zones(stack)
    served[REVERSE_ZONE] = ptr
    knot.serve(served)

    result = check(stack, knot, sts_port, ca)

    assert result.exit_code == 1
    assert result.stderr.strip().endswith(f"missing or wrong: {PTR_NAME} PTR")
    line = next(x for x in result.stdout.splitlines() if x.startswith(status))
    assert line.split() == [status, PTR_NAME, "PTR", f"{HOST}."]
    if shown:
        assert shown in result.stdout.splitlines()


def test_check_names_the_host_address_when_the_ptr_name_does_not_point_back(
    stack, knot, sts_port, ca
):
    served = zones(stack)
    served["esteri.org"] = served["esteri.org"].replace(
        f"{HOST}. 3600 IN A 127.0.0.1", f"{HOST}. 3600 IN A 192.0.2.9"
    )
    knot.serve(served)

    result = check(stack, knot, sts_port, ca)

    assert result.exit_code == 1
    assert result.stderr.strip().endswith(f"missing or wrong: {HOST}. A")
    assert f"{HOST}. A is 192.0.2.9" in result.stdout.splitlines()
