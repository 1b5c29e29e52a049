"""Plus plan: a mailbox over IMAP and POP3, with a quota checked at RCPT."""

import smtplib

import pytest

from tests.mailstack import wait
from tests.smtp_clients import imap, message, pop3, smtp, submission

pytestmark = pytest.mark.daemons


def deliver(stack, rcpt: str, subject: str, size: int = 0) -> None:
    with smtp(stack) as client:
        client.send_message(message("amico@ext.test", rcpt, subject, size=size))


def inbox_count(stack, user: str) -> int:
    out = stack.doveadm("mailbox", "status", "-u", user, "messages", "INBOX").stdout
    return int(out.split("=")[1]) if "=" in out else 0


def subjects_over_imap(stack, user, password, implicit_tls=False) -> list[str]:
    client = imap(stack, user, password, implicit_tls)
    try:
        client.select("INBOX", readonly=True)
        _, data = client.search(None, "ALL")
        found = []
        for num in data[0].split():
            _, parts = client.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            found.append(parts[0][1].decode().split(":", 1)[1].strip())
        return found
    finally:
        client.logout()


@pytest.fixture(scope="module")
def chiara(stack):
    account = stack.create("Chiara", "Romano", plan="plus")
    return account["address"], account["password"]


def test_mail_is_read_over_imap_and_pop3_with_starttls_and_implicit_tls(stack, chiara):
    address, password = chiara
    deliver(stack, address, "benvenuta")
    wait(
        lambda: inbox_count(stack, address) >= 1, message="not delivered to the Maildir"
    )

    assert "benvenuta" in subjects_over_imap(stack, address, password)
    assert "benvenuta" in subjects_over_imap(
        stack, address, password, implicit_tls=True
    )
    for implicit in (False, True):
        client = pop3(stack, address, password, implicit_tls=implicit)
        count, _ = client.stat()
        client.quit()
        assert count >= 1


def test_K06_login_in_capitals_reaches_the_same_mailbox(stack, chiara):
    address, password = chiara
    deliver(stack, address.upper(), "in maiuscolo")
    wait(lambda: "in maiuscolo" in subjects_over_imap(stack, address, password))

    assert "in maiuscolo" in subjects_over_imap(stack, address.upper(), password)
    assert not list((stack.state_dir / "vmail").glob("*CHIARA*"))


def test_plus_user_submits_mail(stack, chiara):
    address, password = chiara
    with submission(stack, address, password) as client:
        client.send_message(message(address, "amico@ext.test", "dalla casella"))
    assert stack.sink.wait_for("amico@ext.test", "dalla casella").mail_from == address


def test_quota_of_one_gib_is_visible(stack, chiara):
    out = stack.doveadm("quota", "get", "-u", chiara[0]).stdout

    assert "1048576" in out


def test_K09_full_mailbox_is_refused_at_smtp_time_and_nothing_bounces(stack):
    account = stack.create("Dario", "Greco", plan="plus")
    easy = stack.create("Ettore", "Greco", forward="ettore@ext.test")
    address = account["address"]
    stack.cli("account", "quota", address, "100K")
    deliver(stack, address, "quasi pieno", size=90 * 1024)
    # Crossing 80% of the quota puts a warning into the mailbox itself.
    wait(lambda: inbox_count(stack, address) == 2, message="no quota warning")
    assert "Mailbox 80% full" in " ".join(
        subjects_over_imap(stack, address, account["password"])
    )

    with smtp(stack) as client:
        with pytest.raises(
            (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)
        ) as err:
            client.send_message(
                message("amico@ext.test", address, "troppo", size=50 * 1024)
            )
    refusal = str(err.value)
    assert "552" in refusal or "452" in refusal
    assert "Mailbox is full" in refusal or "5.2.2" in refusal
    assert stack.queue() == []
    assert inbox_count(stack, address) == 2

    deliver(stack, easy["address"], "non riguarda Easy", size=50 * 1024)
    stack.sink.wait_for("ettore@ext.test", "non riguarda Easy")


def test_K10_plus_easy_plus_restores_the_quota_and_keeps_the_mail(stack):
    account = stack.create("Fabio", "Lombardi", plan="plus", forward="fabio@ext.test")
    address = account["address"]
    deliver(stack, address, "da conservare")
    wait(lambda: inbox_count(stack, address) == 1)
    stack.cli("account", "quota", address, "100K")

    down = stack.cli("account", "plan", address, "easy")
    assert "mailbox and its mail are kept" in down.stdout
    deliver(stack, address, "mentre era Easy")
    stack.sink.wait_for("fabio@ext.test", "mentre era Easy")
    assert inbox_count(stack, address) == 0  # no userdb row while on Easy

    up = stack.cli("account", "plan", address, "plus", "--json")
    import json

    password = json.loads(up.stdout)["password"]
    assert "1048576" in stack.doveadm("quota", "get", "-u", address).stdout
    assert subjects_over_imap(stack, address, password) == ["da conservare"]


def test_K12_accented_name_logs_in_over_sasl_and_imap(stack, k12_account):
    address, password = k12_account

    with submission(stack, address, password) as client:
        client.mail(address)
        assert client.rcpt("amico@ext.test")[0] == 250
    client = imap(stack, address, password, implicit_tls=True)
    assert client.select("INBOX")[0] == "OK"
    client.logout()
