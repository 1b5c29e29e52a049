"""Bad settings are refused in one line naming the bad value, before
anything is written (`server render` stands for every command: they all
load the settings first)."""

import pytest
from click.testing import CliRunner

from exteri_mail.cli import cli as cli_group

DSN = 'mail_dsn = "postgresql://u:p@127.0.0.1/d"\n'

BAD = {
    "unknown role": (
        'runs = ["mx", "smtp"]',
        "runs.1: Input should be 'mx' or 'imap', not 'smtp'",
    ),
    "host with a port": (
        'runs = ["mx"]\n[mailstore]\nhost = "10.0.0.5:24"',
        "mailstore.host: '10.0.0.5:24' is neither an IP address nor a host name",
    ),
    "host with spaces": (
        'runs = ["mx"]\n[mailstore]\nhost = "db host; x"',
        "mailstore.host: 'db host; x' is neither an IP address nor a host name",
    ),
    "empty host": (
        'runs = ["mx"]\n[mailstore]\nhost = ""',
        "mailstore.host: '' is neither an IP address nor a host name",
    ),
    "bad IPv4 host": (
        'runs = ["mx"]\n[mailstore]\nhost = "999.1.1.1"',
        "mailstore.host: '999.1.1.1' is neither an IP address nor a host name",
    ),
    "garbage listen": (
        'runs = ["imap"]\n[mailstore]\nlisten = ["garbage!!"]',
        "mailstore.listen.0: 'garbage!!' is not an IP address",
    ),
    "listen without Dovecot": (
        'runs = ["mx"]\n[mailstore]\nhost = "10.0.0.5"\nlisten = ["10.0.0.5"]',
        "mailstore.listen ['10.0.0.5'] is for the Dovecot host, and runs has no imap",
    ),
    "bad listen": (
        'listen = ["1.2.3.4.5"]',
        "listen.0: '1.2.3.4.5' is not an IP address",
    ),
    "a mail domain that is no domain": (
        'primary_domain = "esteri,org"',
        "primary_domain: 'esteri,org' is not a domain name (dot-separated "
        "labels of letters, digits and hyphens)",
    ),
    "an SRS domain that is an address": (
        '[deliverability]\nsrs_domain = "192.0.2.1"',
        "deliverability.srs_domain: '192.0.2.1' is not a domain name "
        "(dot-separated labels of letters, digits and hyphens)",
    ),
    "port out of range": (
        "[ports]\nsmtp = 70000",
        "ports.smtp: Input should be less than or equal to 65535, not 70000",
    ),
    "two ports alike": (
        "[ports]\nauth = 143",
        "ports.imap and ports.auth are both 143: each needs its own port",
    ),
    "a helper on a daemon's port": (
        "[deliverability]\ndkim_port = 587",
        "ports.submission and deliverability.dkim_port are both 587: "
        "each needs its own port",
    ),
    "a helper moved out of range": (
        "[ports]\nsmtp = 60000",
        "deliverability.dkim_port would be 68866 (moved like ports.smtp): "
        "set it to a port 1-65535",
    ),
}


def render(tmp_path, text: str):
    config = tmp_path / "exteri-mail.toml"
    config.write_text(DSN + text + "\n")
    result = CliRunner().invoke(
        cli_group,
        ["--config", str(config), "server", "render", "--out", str(tmp_path / "tree")],
        env={"EXTERI_MAIL_CONFIG": None},
    )
    return config, result


@pytest.mark.parametrize("text, error", BAD.values(), ids=BAD.keys())
def test_a_bad_setting_is_refused_in_one_line(tmp_path, text, error):
    config, result = render(tmp_path, text)

    assert result.exit_code == 1
    assert result.output.splitlines() == [f"exteri-mail: config {config}: {error}"]
    assert not (tmp_path / "tree").exists()


@pytest.mark.parametrize("host", ["[::1]", "::1"])
def test_an_ipv6_mailstore_is_bracketed_once(tmp_path, host):
    _, result = render(tmp_path, f'runs = ["mx"]\n[mailstore]\nhost = "{host}"')

    assert result.exit_code == 0, result.output
    main_cf = (tmp_path / "tree" / "postfix" / "main.cf").read_text()
    assert "smtpd_sasl_path = inet:[::1]:10033" in main_cf
    assert "check_policy_service inet:[::1]:10031" in main_cf
    assert "[[" not in main_cf


def test_our_domains_are_taken_in_lower_case_without_the_root_dot(tmp_path):
    _, result = render(
        tmp_path,
        'hostname = "Mail.Esteri.ORG."\nalias_domain = "Exteri.IT"\n'
        '[deliverability]\nsrs_domain = "Esteri.org."',
    )

    assert result.exit_code == 0, result.output
    main_cf = (tmp_path / "tree" / "postfix" / "main.cf").read_text()
    assert "myhostname = mail.esteri.org\n" in main_cf
    assert "Esteri" not in main_cf and "ORG" not in main_cf


def test_a_mailstore_host_name_is_taken_in_lower_case(tmp_path):
    _, result = render(tmp_path, 'runs = ["mx"]\n[mailstore]\nhost = "Dovecot.LAN."')

    assert result.exit_code == 0, result.output
    main_cf = (tmp_path / "tree" / "postfix" / "main.cf").read_text()
    assert "virtual_transport = lmtp:inet:[dovecot.lan]:24" in main_cf


def test_webmail_and_mta_sts_may_share_nginx_s_port(tmp_path):
    _, result = render(tmp_path, "[ports]\nwebmail = 443")

    assert result.exit_code == 0, result.output


def test_a_port_offset_beyond_the_last_port_is_refused(tmp_path):
    result = CliRunner().invoke(
        cli_group,
        ["server", "up", "--state-dir", str(tmp_path / "up"), "--port-offset", "70000"],
        env={"EXTERI_MAIL_CONFIG": ""},
    )

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "exteri-mail: --port-offset 70000: smtp: Input should be less than or equal "
        "to 65535, not 70025"
    ]
    assert not (tmp_path / "up").exists()
