"""No open relay: a client outside mynetworks reaches only our own domains."""

import pytest

from tests.smtp_clients import smtp

pytestmark = pytest.mark.daemons

OUTSIDE = "127.0.0.2"  # another loopback address: not in mynetworks


@pytest.mark.parametrize(
    "rcpt",
    [
        "vittima@ext.test",
        "vittima%ext.test@esteri.org",
        '"vittima@ext.test"@esteri.org',
        "@esteri.org:vittima@ext.test",
        "vittima!ext.test@esteri.org",
        "vittima@ext.test@esteri.org",
    ],
)
def test_outside_client_cannot_relay(stack, rcpt):
    before = len(stack.sink.received)
    with smtp(stack, source=OUTSIDE) as client:
        client.mail("spammer@ext.test")
        code, reply = client.rcpt(rcpt)

    assert 500 <= code < 600, reply
    assert stack.queue() == []
    assert len(stack.sink.received) == before


def test_K15_our_own_sender_does_not_open_the_relay(stack):
    stack.create("Anna", "Bruni", forward="anna.bruni@ext.test")
    with smtp(stack, source=OUTSIDE) as client:
        client.mail("anna.bruni@esteri.org")
        code, reply = client.rcpt("vittima@ext.test")

    assert code in (553, 554), reply
    assert stack.queue() == []


def test_forged_sender_of_a_submission_user_is_refused_on_port_25(stack):
    # Outbox and Plus users send through us, so their addresses arriving
    # unauthenticated from outside are forgeries.
    stack.create("Bianca", "Bruni", plan="outbox", forward="bianca@ext.test")
    with smtp(stack, source=OUTSIDE) as client:
        client.mail("bianca.bruni@esteri.org")
        code, reply = client.rcpt("bianca.bruni@esteri.org")

    assert code == 553
    assert b"submission port" in reply


def test_smuggled_second_message_stays_inside_the_first(stack):
    stack.create("Piero", "Gallo", forward="piero@ext.test")
    with smtp(stack, source=OUTSIDE) as client:
        client.mail("amico@ext.test")
        client.rcpt("piero.gallo@esteri.org")
        # A bare LF before the dot: some servers end DATA there (smuggling).
        client.putcmd("DATA")
        assert client.getreply()[0] == 354
        client.send(
            b"Subject: primo\r\n\r\nx\n.\nMAIL FROM:<boss@ext.test>\r\n"
            b"RCPT TO:<piero.gallo@esteri.org>\r\nDATA\r\nSubject: contrabbando\r\n"
            b"\r\ny\r\n.\r\n"
        )
        assert client.getreply()[0] == 250

    stack.sink.wait_for("piero@ext.test", "primo")
    assert not [m for m in stack.sink.received if m.message["Subject"] == "contrabbando"]
