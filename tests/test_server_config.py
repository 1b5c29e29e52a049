"""render / check / apply: generated config is checked before it goes live."""

import json
import os
import subprocess
import urllib.request
import tomllib

import pytest
import tomli_w

from tests.mailstack import EXTERI_MAIL
from tests.smtp_clients import smtp

pytestmark = pytest.mark.daemons


def rendered(stack, tmp_path):
    result = stack.cli("server", "render", "--out", str(tmp_path))
    return result.stdout


def test_render_writes_the_tree_once_with_a_managed_header(stack, tmp_path):
    first = rendered(stack, tmp_path)
    second = rendered(stack, tmp_path)

    assert "postfix/main.cf" in first and "dovecot/dovecot.conf" in first
    assert second.strip() == "unchanged"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            lines = path.read_text().splitlines()
            assert any("managed by exteri-mail" in line for line in lines[:2]), path


def test_rendered_maps_read_only_the_views(stack, tmp_path):
    rendered(stack, tmp_path)
    for table in (tmp_path / "postfix" / "pgsql").glob("*.cf"):
        text = table.read_text()
        assert "FROM mail_" in text
        assert "FROM accounts" not in text and "FROM addresses" not in text
        assert oct(table.stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize(
    ("file", "good", "bad"),
    [
        ("postfix/pgsql/aliases.cf", "SELECT destination", "SELECT destinaton"),
        ("dovecot/sql.conf.ext", "FROM mail_logins", "FROM mail_login"),
    ],
)
def test_K05_check_catches_a_typo_in_a_lookup_query(stack, tmp_path, file, good, bad):
    rendered(stack, tmp_path)
    target = tmp_path / file
    target.write_text(target.read_text().replace(good, bad, 1))

    result = stack.cli("server", "check", str(tmp_path), check=False)

    assert result.returncode == 1
    assert str(target) in result.stderr
    assert "check failed" in result.stderr


def test_check_passes_on_a_clean_tree(stack, tmp_path):
    rendered(stack, tmp_path)
    assert (
        stack.cli("server", "check", str(tmp_path)).stdout.strip() == "configuration ok"
    )


def test_a_hardened_umask_leaves_the_config_folders_readable_by_the_daemons(
    stack, tmp_path
):
    # Postfix's lookups run as postfix and must enter the pgsql folder.
    subprocess.run(
        [EXTERI_MAIL, "server", "render", "--out", str(tmp_path / "tree")],
        env=stack.env, check=True, capture_output=True,
        preexec_fn=lambda: os.umask(0o077),
    )

    folder = tmp_path / "tree" / "postfix" / "pgsql"
    assert oct(folder.stat().st_mode & 0o777) == "0o755"


def test_a_wildcard_listen_address_renders_a_config_postfix_accepts(stack, tmp_path):
    # A container's address is unknown until it runs: it listens on 0.0.0.0,
    # which Postfix takes only as "all" (an address must be an interface's).
    settings = tomllib.loads((stack.state_dir / "exteri-mail.toml").read_text())
    settings["listen"] = ["0.0.0.0"]
    config = tmp_path / "wildcard.toml"
    config.write_text(tomli_w.dumps(settings))
    tree = tmp_path / "tree"

    stack.cli("--config", str(config), "server", "render", "--out", str(tree))
    check = stack.cli("--config", str(config), "server", "check", str(tree))

    assert "inet_interfaces = all\n" in (tree / "postfix" / "main.cf").read_text()
    assert check.stdout.strip() == "configuration ok"


def test_K05_apply_with_a_broken_setting_keeps_the_old_config_serving(stack):
    main_cf = stack.state_dir / "postfix" / "pgsql" / "aliases.cf"
    before = main_cf.read_text()
    config = stack.state_dir / "exteri-mail.toml"
    original = config.read_text()
    settings = tomllib.loads(original)
    settings["mail_dsn"] = settings["mail_dsn"].replace("password=", "password=wrong")
    config.write_text(tomli_w.dumps(settings))
    try:
        result = stack.cli("server", "apply", check=False)
    finally:
        config.write_text(original)

    assert result.returncode == 1
    assert "check failed" in result.stderr
    assert main_cf.read_text() == before
    stack.create("Nadia", "Fontana", forward="nadia@ext.test")
    with smtp(stack) as client:
        client.mail("amico@ext.test")
        assert client.rcpt("nadia.fontana@esteri.org")[0] == 250


def test_second_up_is_harmless(stack):
    result = stack.cli("server", "up", "--state-dir", str(stack.state_dir), "--json")
    info = json.loads(result.stdout)

    assert info["running"]["postfix"] and info["running"]["dovecot"]
    assert stack.cli("server", "apply").stdout.strip().endswith("nothing reloaded")


def test_status_lists_every_endpoint(stack):
    info = json.loads(stack.cli("server", "status", "--json").stdout)

    assert set(info["endpoints"]) >= {
        "smtp",
        "submission",
        "submissions",
        "imap",
        "imaps",
        "pop3",
        "pop3s",
    }
    assert all(
        url.startswith(("smtp", "imap", "pop3")) for url in info["endpoints"].values()
    )
    assert info["running"]["web"] and info["running"]["fromcheck"]
    with urllib.request.urlopen(info["web"], timeout=10) as page:
        assert page.status == 200


def test_up_refuses_new_ports_or_a_bad_relay_for_an_existing_instance(stack):
    config = (stack.state_dir / "exteri-mail.toml").read_text()

    moved = stack.cli("server", "up", "--state-dir", str(stack.state_dir),
                      "--port-offset", "7", check=False)
    relay = stack.cli("server", "up", "--state-dir", str(stack.state_dir),
                      "--relay", "127.0.0.1:99999", check=False)

    assert moved.returncode == 1 and "already has its ports" in moved.stderr
    assert relay.returncode == 1
    assert relay.stderr.strip() == (
        "exteri-mail: relay '127.0.0.1:99999' must be HOST:PORT, port 1-65535")
    assert (stack.state_dir / "exteri-mail.toml").read_text() == config
