"""Outbox plan: authenticated submission, only as the user's own addresses."""

import imaplib
import poplib
import smtplib

import pytest

from tests.smtp_clients import auth_plain, imap, message, pop3, smtp, submission

pytestmark = pytest.mark.daemons


def try_sender(client, sender: str) -> tuple[int, bytes]:
    """Postfix judges the sender at RCPT time (smtpd_delay_reject)."""
    client.rset()
    client.mail(sender)
    return client.rcpt("amica@ext.test")


@pytest.fixture(scope="module")
def sara(stack):
    account = stack.create(
        "Sara", "Colombo", plan="outbox", forward="sara@ext.test", alias=True
    )
    return account["address"], account["password"]


@pytest.fixture(scope="module")
def luca(stack):
    account = stack.create("Luca", "Ferrari", plan="outbox", forward="luca@ext.test")
    return account["address"], account["password"]


def test_auth_is_not_offered_before_starttls_on_587_nor_on_25(stack):
    with smtplib.SMTP(
        "127.0.0.1", stack.port("submission"), source_address=("127.0.0.2", 0)
    ) as client:
        client.ehlo("laptop.ext.test")
        assert not client.has_extn("auth")
        assert client.has_extn("starttls")
    with smtp(stack, source="127.0.0.2") as client:
        assert not client.has_extn("auth")
    with submission(stack) as client:
        assert "PLAIN" in client.esmtp_features["auth"]


def test_user_sends_as_own_address_to_the_outside(stack, sara):
    address, password = sara
    with submission(stack, address, password) as client:
        client.send_message(message(address, "amica@ext.test", "da Sara"))

    got = stack.sink.wait_for("amica@ext.test", "da Sara")
    assert got.mail_from == address


def test_K08_alias_address_is_a_sender_only_while_the_alias_is_on(stack, sara):
    address, password = sara
    alias = address.replace("@esteri.org", "@exteri.it")
    with submission(stack, address, password) as client:
        client.send_message(message(alias, "amica@ext.test", "dal vecchio indirizzo"))
    assert (
        stack.sink.wait_for("amica@ext.test", "dal vecchio indirizzo").mail_from
        == alias
    )

    stack.cli("account", "alias", address, "off")
    try:
        with submission(stack, address, password) as client:
            code, reply = try_sender(client, alias)
            assert code == 553, reply
    finally:
        stack.cli("account", "alias", address, "on")


def test_K13_another_users_address_is_refused(stack, sara, luca):
    address, password = sara
    with submission(stack, address, password) as client:
        code, reply = try_sender(client, luca[0])
        assert code == 553
        assert b"not owned" in reply
        assert try_sender(client, address)[0] == 250


def test_outside_address_as_sender_is_refused(stack, sara):
    address, password = sara
    with submission(stack, address, password) as client:
        assert try_sender(client, "sara@ext.test")[0] == 553


def test_wrong_password_gets_535(stack, sara):
    with submission(stack) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            auth_plain(client, sara[0], "sbagliata")
    assert err.value.smtp_code == 535


def test_K14_easy_user_cannot_authenticate_anywhere(stack):
    account = stack.create("Bruno", "Marino", forward="bruno@ext.test")
    assert "password" not in account
    stack.cli("account", "password", account["address"], check=False)

    with submission(stack) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            auth_plain(client, account["address"], "qualsiasi")
    assert err.value.smtp_code == 535


def test_outbox_user_cannot_use_imap_or_pop3(stack, sara):
    with pytest.raises(imaplib.IMAP4.error):
        imap(stack, *sara)
    with pytest.raises(poplib.error_proto):
        pop3(stack, *sara)


@pytest.mark.parametrize(
    "password", ["Perché-2025!", "una frase con spazi dentro", "x" * 70 + "é"]
)
def test_K11_unusual_passwords_log_in(stack, password):
    name = {"P": "Alda", "u": "Bice", "x": "Clio"}[password[0]]
    account = stack.create(name, "Pavan", plan="outbox", forward="pavan@ext.test")
    stack.cli(
        "account", "password", account["address"], "--stdin", input=password + "\n"
    )

    hashed = stack.doveadm(
        "auth", "test", "-x", "service=smtp", account["address"], password
    )
    assert hashed.returncode == 0, hashed.stdout + hashed.stderr
    with submission(stack, account["address"], password) as client:
        assert try_sender(client, account["address"])[0] == 250


@pytest.mark.parametrize(
    ("envelope", "header", "accepted"),
    [
        ("own", "Sara <{own}>", True),
        ("own", "{alias}", True),
        ("own", "{other}", False),
        ("own", "ceo@bank.test", False),
        ("", "{other}", False),
        ("own", "{own}, {other}", False),
    ],
)
def test_from_header_must_be_the_users_own(stack, sara, luca, envelope, header, accepted):
    address, password = sara
    alias = address.replace("@esteri.org", "@exteri.it")
    sender = address if envelope == "own" else ""
    from_ = header.format(own=address, alias=alias, other=luca[0])
    data = f"From: {from_}\r\nSubject: intestazione {from_}\r\n\r\nx\r\n".encode()

    with submission(stack, address, password) as client:
        if accepted:
            client.sendmail(sender, ["amica@ext.test"], data)
        else:
            with pytest.raises(smtplib.SMTPDataError) as err:
                client.sendmail(sender, ["amica@ext.test"], data)
            assert err.value.smtp_code == 553
            assert b"is not an address of " + address.encode() in err.value.smtp_error

    if accepted:
        stack.sink.wait_for("amica@ext.test", f"intestazione {from_}")
