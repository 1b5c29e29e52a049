"""K04: the registry goes away; mail is deferred, never bounced, then flows."""

import subprocess

import pytest

from exteri_mail import postgres
from tests.mailstack import wait
from tests.smtp_clients import message, smtp

pytestmark = pytest.mark.daemons


def rcpt_code(stack, rcpt: str) -> int:
    with smtp(stack) as client:
        client.mail("amico@ext.test")
        return client.rcpt(rcpt)[0]


def test_K04_database_down_defers_and_recovers_without_loss(stack):
    rcpt = stack.create("Irene", "Sala", forward="irene@ext.test")["address"]
    queued = message("mittente@ext.test", rcpt, "durante il guasto")

    postgres.stop()
    try:
        assert 400 <= rcpt_code(stack, rcpt) < 500
        sent = subprocess.run(
            [
                "sendmail",
                "-C",
                str(stack.state_dir / "postfix"),
                "-f",
                "mittente@ext.test",
                rcpt,
            ],
            input=queued.as_bytes(),
            capture_output=True,
        )
        assert sent.returncode == 0, sent.stderr
    finally:
        postgres.ensure_running()

    wait(
        lambda: rcpt_code(stack, rcpt) == 250,
        timeout=20,
        message="Postfix still refuses after PostgreSQL came back",
    )
    stack.sink.wait_for("irene@ext.test", "durante il guasto", timeout=30)
    copies = [
        m for m in stack.sink.received if m.message["Subject"] == "durante il guasto"
    ]
    assert len(copies) == 1
    assert not [m for m in stack.sink.received if "mittente@ext.test" in m.rcpt_tos]
    assert "registry back" in stack.log("watch")


def test_forwarding_does_not_depend_on_dovecot(stack):
    easy = stack.create("Ugo", "Sala", forward="ugo@ext.test")["address"]
    plus = stack.create("Vera", "Sala", plan="plus")["address"]

    stack.doveadm("stop")
    try:
        assert rcpt_code(stack, easy) == 250
        assert 400 <= rcpt_code(stack, plus) < 500
    finally:
        stack.cli("server", "up", "--state-dir", str(stack.state_dir))

    assert rcpt_code(stack, plus) == 250
