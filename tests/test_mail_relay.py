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
