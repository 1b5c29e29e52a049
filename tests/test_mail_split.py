"""Postfix and Dovecot on different hosts (settings `runs` and `mailstore`).

Two instances on loopback stand for the two hosts of a split setup: the
IMAP host runs Dovecot only and opens LMTP, auth and quota-status on TCP;
the MX host runs Postfix (and its helpers) only and reaches Dovecot there.
They share one registry, as the hosts of inventory/split do. Both use the
same port offset, as two machines would use the same port numbers: each
opens only the ports of what it runs.
"""

import json
import os
import shutil
import smtplib
import subprocess
from pathlib import Path

import pytest

from exteri_mail import postgres
from exteri_mail import settings as settings_mod
from exteri_mail.server.instance import _new_settings, config_file
from exteri_mail.settings import Mailstore, Ports
from tests.conftest import _free_offset
from tests.mailstack import EXTERI_MAIL, Sink, Stack, free_port, wait
from tests.smtp_clients import auth_plain, imap, message, smtp, submission

pytestmark = pytest.mark.daemons

ROOT = Path("/var/lib/exteri-mail-test") / f"split-{os.getpid()}"
DB = f"exteri_split_{os.getpid()}"


def _up(state_dir: Path, *extra: str) -> Stack:
    result = subprocess.run(
        [EXTERI_MAIL, "server", "up", "--state-dir", str(state_dir), "--json", *extra],
        capture_output=True,
        check=False,
        text=True,
        env={**os.environ, "EXTERI_MAIL_CONFIG": ""},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def hosts():
    """(mx, imap): the two hosts, each a Stack; the sink plays the outside."""
    shutil.rmtree(ROOT, ignore_errors=True)
    postgres.drop_database(DB)
    offset = _free_offset()
    ports = Ports(**{k: v + offset for k, v in Ports().model_dump().items()})
    base = _new_settings(ROOT / "imap", DB)
    written = {
        "imap": base.model_copy(
            update={
                "runs": ["imap"],
                "ports": ports,
                "mailstore": Mailstore(listen=["127.0.0.1"]),
            }
        ),
        "mx": base.model_copy(
            update={
                "state_dir": ROOT / "mx",
                "runs": ["mx"],
                "ports": ports,
                "mailstore": Mailstore(host="127.0.0.1"),
            }
        ),
    }
    for name, s in written.items():
        settings_mod.dump(s, config_file(ROOT / name))
    sink = Sink(free_port())
    controller = sink.start()
    store = Stack(ROOT / "imap", sink, _up(ROOT / "imap"))
    mx = Stack(ROOT / "mx", sink, _up(ROOT / "mx", "--relay", f"127.0.0.1:{sink.port}"))
    yield mx, store
    for stack in (mx, store):
        stack.cli("server", "down", check=False)
    controller.stop()
    postgres.drop_database(DB)
    shutil.rmtree(ROOT, ignore_errors=True)


def _subjects(store: Stack, user: str, password: str) -> list[str]:
    client = imap(store, user, password)
    try:
        client.select("INBOX", readonly=True)
        _, data = client.search(None, "ALL")
        subjects = []
        for num in data[0].split():
            _, parts = client.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subjects.append(parts[0][1].decode().split(":", 1)[1].strip())
        return subjects
    finally:
        client.logout()


def test_each_host_runs_only_its_part(hosts):
    mx, store = hosts
    assert mx.status["runs"] == ["mx"]
    assert store.status["runs"] == ["imap"]
    assert "dovecot" not in mx.status["running"]
    assert "postfix" not in store.status["running"]
    assert all(mx.status["running"].values()), mx.status["running"]
    assert all(store.status["running"].values()), store.status["running"]
    assert set(mx.status["endpoints"]) == {"smtp", "submission", "submissions"}
    assert set(store.status["endpoints"]) == {"imap", "imaps", "pop3", "pop3s"}
    assert not (mx.state_dir / "dovecot").exists()
    assert not (store.state_dir / "postfix").exists()


def test_mail_to_the_mx_is_read_over_imap_on_the_other_host(hosts):
    mx, store = hosts
    account = mx.create("Giulia", "Ferri", plan="plus")
    with smtp(mx) as client:
        client.send_message(message("amico@ext.test", account["address"], "divisi"))
    wait(
        lambda: "divisi" in _subjects(store, account["address"], account["password"]),
        message="mail to the MX did not reach the mailbox on the IMAP host",
    )


def test_submission_on_the_mx_logs_in_against_the_imap_host(hosts):
    mx, _ = hosts
    account = mx.create("Paolo", "Greco", plan="outbox", forward="paolo@ext.test")
    with submission(mx, account["address"], account["password"]) as client:
        client.send_message(message(account["address"], "zia@ext.test", "da lontano"))
    assert mx.sink.wait_for("zia@ext.test", "da lontano")

    with (
        submission(mx) as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as refused,
    ):
        auth_plain(client, account["address"], "not-the-password-1")
    assert refused.value.smtp_code == 535


def test_dovecot_down_defers_mailbox_mail_and_forwarding_goes_on(hosts):
    mx, store = hosts
    plus = mx.create("Sara", "Conti", plan="plus")
    easy = mx.create("Marco", "Bruno", forward="marco@ext.test")
    store.cli("server", "down")
    try:
        stopped = store.cli("server", "status", "--json", check=False)
        assert stopped.returncode == 3
        assert json.loads(stopped.stdout)["running"]["dovecot"] is False
        with smtp(mx) as client:
            # The quota policy lives on the IMAP host: unreachable is 4xx.
            code, reply = client.docmd("MAIL FROM:<amico@ext.test>")
            assert code == 250
            code, reply = client.docmd(f"RCPT TO:<{plus['address']}>")
            assert code == 451, reply
            client.docmd("RSET")
            client.send_message(message("amico@ext.test", easy["address"], "avanti"))
        assert mx.sink.wait_for("marco@ext.test", "avanti")
    finally:
        _up(store.state_dir)
    with smtp(mx) as client:
        client.send_message(message("amico@ext.test", plus["address"], "di nuovo"))
    wait(
        lambda: "di nuovo" in _subjects(store, plus["address"], plus["password"]),
        message="mail did not reach the mailbox after Dovecot came back",
    )


def test_an_mx_without_a_mailstore_is_refused_in_one_line(tmp_path):
    config = tmp_path / "exteri-mail.toml"
    config.write_text('runs = ["mx"]\n')
    result = subprocess.run(
        [
            EXTERI_MAIL,
            "--config",
            str(config),
            "server",
            "render",
            "--out",
            str(tmp_path / "tree"),
        ],
        capture_output=True,
        check=False,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        (
            f"exteri-mail: config {config}: runs has no imap: set mailstore.host "
            "to the Dovecot host's address"
        )
    ]
    assert not (tmp_path / "tree").exists()
