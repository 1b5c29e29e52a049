"""The webmail tree as rendered: PHP that parses, the settings issue 5 asks for."""

import json
import subprocess

import pytest

from exteri_mail import webmail
from exteri_mail.errors import InvalidInput
from exteri_mail.server.tls import ensure_self_signed
from exteri_mail.settings import Settings

# libpq quoting: the password is it's\secret, a trap for PHP string literals.
MAIL_DSN = r"host=127.0.0.1 port=5432 dbname=reg user=reg_mail password='it\'s\\secret'"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path, mail_dsn=MAIL_DSN, instance=True)


def php_config(path) -> dict:
    """What PHP itself reads from a rendered config file."""
    code = f"include {webmail.php_literal(str(path))}; echo json_encode($config);"
    result = subprocess.run(
        ["php", "-r", code], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_php_literal_escapes_quotes_and_backslashes():
    assert webmail.php_literal("it's\\x") == "'it\\'s\\\\x'"
    assert webmail.php_literal({"a": [1, True, None]}) == "['a' => [1, true, null]]"


def test_roundcube_config_as_php_reads_it(settings, tmp_path):
    webmail.render(settings)

    config = php_config(tmp_path / "webmail/roundcube/config/config.inc.php")

    assert config["language"] == "it_IT"
    assert config["login_lc"] == 2
    assert config["login_username_filter"] == "email"
    assert config["identities_level"] == 3
    assert config["plugins"] == ["exteri_login"]
    assert (config["sent_mbox"], config["drafts_mbox"]) == ("Sent", "Drafts")
    assert config["imap_host"] == "ssl://127.0.0.1:993"
    assert config["smtp_host"] == "tls://127.0.0.1:587"
    assert (config["smtp_user"], config["smtp_pass"]) == ("%u", "%p")
    assert config["enable_installer"] is False


def test_instance_certificate_is_pinned_and_its_name_checked(settings, tmp_path):
    webmail.render(settings)

    config = php_config(tmp_path / "webmail/roundcube/config/config.inc.php")

    for key in ("imap_conn_options", "smtp_conn_options"):
        assert config[key]["ssl"] == {
            "verify_peer": True,
            "verify_peer_name": True,
            "peer_name": "mail.esteri.org",
            "cafile": str(tmp_path / "tls/cert.pem"),
        }


def test_server_without_a_self_signed_certificate_uses_the_system_cas(tmp_path):
    settings = Settings(state_dir=tmp_path, mail_dsn=MAIL_DSN, instance=False)

    webmail.render(settings)

    config = php_config(tmp_path / "webmail/roundcube/config/config.inc.php")
    assert "cafile" not in config["imap_conn_options"]["ssl"]


def test_server_with_a_self_signed_certificate_pins_it(tmp_path):
    settings = Settings(state_dir=tmp_path, mail_dsn=MAIL_DSN, instance=False)
    ensure_self_signed(tmp_path / "tls/cert.pem", tmp_path / "tls/key.pem", "mail.x")

    webmail.render(settings)

    config = php_config(tmp_path / "webmail/roundcube/config/config.inc.php")
    assert config["smtp_conn_options"]["ssl"]["cafile"] == str(
        tmp_path / "tls/cert.pem"
    )


def test_login_plugin_reads_the_registry_as_the_mail_role(settings, tmp_path):
    webmail.render(settings)

    plugin = tmp_path / "webmail/roundcube/plugins/exteri_login"
    config = php_config(plugin / "config.inc.php")

    assert config["exteri_login_pdo_dsn"] == "pgsql:host=127.0.0.1;port=5432;dbname=reg"
    assert config["exteri_login_user"] == "reg_mail"
    assert config["exteri_login_password"] == "it's\\secret"
    assert oct(plugin.joinpath("config.inc.php").stat().st_mode & 0o777) == "0o640"
    lint = subprocess.run(
        ["php", "-l", str(plugin / "exteri_login.php")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout


def test_second_render_writes_nothing(settings):
    assert webmail.render(settings)

    assert webmail.render(settings) == []


def test_daemon_configs_pass_their_own_checks(settings, tmp_path):
    webmail.render(settings)
    layout = webmail.Layout.of(settings)
    webmail.prepare(layout)

    fpm = subprocess.run(
        [webmail.PHP_FPM, "--test", "--fpm-config", str(layout.fpm_conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert fpm.returncode == 0, fpm.stderr
    # nginx -t also opens the certificate, which only `server up` creates.
    nginx_conf = layout.nginx_conf.read_text()
    assert f"listen 127.0.0.1:{settings.ports.webmail} ssl" in nginx_conf
    assert f"ssl_certificate {tmp_path}/tls/cert.pem;" in nginx_conf


def test_bad_mail_dsn_is_named_before_anything_is_written(tmp_path):
    settings = Settings(state_dir=tmp_path, mail_dsn="host=a dbname=x;y")

    with pytest.raises(InvalidInput, match="mail_dsn"):
        webmail.render(settings)
    assert not (tmp_path / "webmail").exists()
