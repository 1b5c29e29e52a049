"""Easy plan on real daemons: the address forwards to the user's mailbox."""

import smtplib

import pytest

from tests.smtp_clients import message, smtp

pytestmark = pytest.mark.daemons


def send(stack, rcpt: str, subject: str, sender: str = "amico@ext.test") -> None:
    with smtp(stack) as client:
        client.send_message(
            message(sender, rcpt, subject), from_addr=sender, to_addrs=[rcpt]
        )


def rcpt_reply(stack, rcpt: str, sender: str = "amico@ext.test") -> tuple[int, bytes]:
    with smtp(stack) as client:
        client.mail(sender)
        return client.rcpt(rcpt)


def test_forward_reaches_the_sink_in_any_case_and_via_the_alias(stack):
    stack.create("Lucia", "Bianchi", forward="lucia@ext.test", alias=True)

    for rcpt in (
        "lucia.bianchi@esteri.org",
        "LUCIA.BIANCHI@ESTERI.ORG",
        "lucia.bianchi@exteri.it",
    ):
        send(stack, rcpt, f"per {rcpt}")
        got = stack.sink.wait_for("lucia@ext.test", f"per {rcpt}")
        assert got.message["X-Exteri-Test"] == "kept intact"
        assert got.message.get_content().startswith("Ciao!")
        assert got.message["To"] == rcpt


def test_alias_domain_is_refused_when_the_alias_is_off(stack):
    stack.create("Paolo", "Verdi", forward="paolo@ext.test")

    code, reply = rcpt_reply(stack, "paolo.verdi@exteri.it")

    assert code == 550
    assert rcpt_reply(stack, "paolo.verdi@esteri.org")[0] == 250


@pytest.mark.parametrize("domain", ["esteri.org", "exteri.it"])
def test_K02_unknown_address_is_refused_at_rcpt_and_nothing_queued(stack, domain):
    before = len(stack.sink.received)

    code, reply = rcpt_reply(
        stack, f"nessuno.qui@{domain}", sender="sconosciuto@ext.test"
    )

    assert code == 550
    assert b"nessuno.qui" in reply
    assert stack.queue() == []
    assert len(stack.sink.received) == before


def test_suspended_account_receives_nothing(stack):
    stack.create("Carla", "Gialli", forward="carla@ext.test")
    stack.cli("account", "suspend", "carla.gialli@esteri.org")

    assert rcpt_reply(stack, "carla.gialli@esteri.org")[0] == 550

    stack.cli("account", "resume", "carla.gialli@esteri.org")
    assert rcpt_reply(stack, "carla.gialli@esteri.org")[0] == 250


def test_new_account_receives_at_once_without_reload(stack):
    reloads = stack.log().count("reload")

    stack.create("Elena", "Neri", forward="elena@ext.test")
    send(stack, "elena.neri@esteri.org", "subito")

    stack.sink.wait_for("elena@ext.test", "subito")
    assert stack.log().count("reload") == reloads


@pytest.mark.parametrize("domain", ["esteri.org", "exteri.it"])
def test_K07_plus_detail_is_the_plain_address(stack, domain):
    if domain == "esteri.org":
        stack.create("Anna", "Neri", forward="anna@ext.test", alias=True)

    send(stack, f"anna.neri+shop@{domain}", f"shop {domain}")

    got = stack.sink.wait_for("anna@ext.test", f"shop {domain}")
    assert got.rcpt_tos == ["anna@ext.test"]


def test_K06_mixed_case_address_is_delivered(stack):
    stack.create("Marta", "Russo", forward="marta@ext.test")

    send(stack, "Marta.RUSSO@ESTERI.ORG", "maiuscole")

    stack.sink.wait_for("marta@ext.test", "maiuscole")


def test_K03_forward_into_our_domains_is_refused_and_nothing_changes(stack):
    stack.create("Giulia", "Conti", forward="giulia@ext.test")

    for target in (
        "giulia.conti@exteri.it",
        "lucia.bianchi@esteri.org",
        "GIULIA.CONTI@ESTERI.ORG",
    ):
        result = stack.cli(
            "account", "forward", "giulia.conti@esteri.org", target, check=False
        )
        assert result.returncode == 1
        assert "makes a loop" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1

    shown = stack.cli("account", "show", "giulia.conti@esteri.org", "--json").stdout
    assert '"forward": "giulia@ext.test"' in shown


def test_smtp_error_does_not_leak_a_bounce(stack):
    with smtp(stack) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail(
                "amico@ext.test", ["nessuno.qui@esteri.org"], b"Subject: x\r\n\r\nx"
            )
    assert stack.queue() == []


@pytest.mark.parametrize(
    "rcpt",
    [
        "postmaster@esteri.org",
        "abuse@exteri.it",
        "assistenza@esteri.org",
        "POSTMASTER@EXTERI.IT",
    ],
)
def test_role_addresses_reach_the_operators(stack, rcpt):
    send(stack, rcpt, f"ruolo {rcpt}")

    got = stack.sink.wait_for("operatori@ext.test", f"ruolo {rcpt}")
    assert got.rcpt_tos == ["operatori@ext.test"]
