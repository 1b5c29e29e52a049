"""Late bounces from a forward destination reach the original sender
without naming the private forward address (issue 6).

The destination accepted the forwarded message, failed later and reports
to the SRS envelope sender the sink saw. Whatever the report's format, what
the original sender gets is our own report: it names the account's
esteri.org address and nothing of the destination's side.
"""

import base64
import json
import re
import smtplib

import dkim
import pytest

from tests import dsn_samples
from tests.mailstack import wait
from tests.smtp_clients import message, smtp

pytestmark = pytest.mark.daemons

FORWARD = "elena.privata@ext.test"
HIDDEN = (b"elena.privata", b"ext.test")
SUBJECT = "Messaggio non consegnato / Undelivered message"


@pytest.fixture(scope="module")
def elena(stack) -> str:
    """An Easy user whose forward address is private."""
    return stack.create("Elena", "Ferri", forward=FORWARD)["address"]


@pytest.fixture(scope="module")
def settings(stack):
    from exteri_mail.settings import load

    return load(stack.state_dir / "exteri-mail.toml")


def forward_one(stack, address: str, sender: str, subject: str) -> str:
    """Send SENDER's message to ADDRESS; the SRS sender it left with."""
    with smtp(stack, source="127.0.0.2") as client:
        client.send_message(message(sender, address, subject), sender, [address])
    return stack.sink.wait_for(FORWARD, subject).mail_from


def report_back(stack, srs: str, data: bytes, sender: str = "<>") -> None:
    """The destination's MTA sends its report to the SRS address."""
    with smtp(stack, source="127.0.0.2") as client:
        client.mail(sender)
        code, reply = client.rcpt(srs)
        assert code == 250, reply
        code, reply = client.data(data)
        assert code == 250, reply


def settled(stack, rcpt: str) -> None:
    """Nothing for RCPT is left in the main queue."""
    wait(
        lambda: not any(
            r["address"] == rcpt for item in stack.queue() for r in item["recipients"]
        ),
        15,
        f"mail for {rcpt} stays queued",
    )


def dkim_key(stack):
    records = json.loads(stack.cli("dns", "records", "--format", "json").stdout)
    keys = {
        r["name"].rstrip(".") + ".": r["value"] for r in records if r["type"] == "TXT"
    }
    return lambda name, timeout=5: keys.get(name.decode()).encode()


@pytest.mark.parametrize("kind", sorted(dsn_samples.FORMATS))
def test_late_bounce_reaches_the_sender_without_the_forward_address(
    stack, elena, kind
):
    sender = f"notizie.{kind}@strict.test"
    srs = forward_one(stack, elena, sender, f"da respingere {kind}")
    build = dsn_samples.FORMATS[kind]

    report_back(stack, srs, build(srs, FORWARD, elena, sender, f"da respingere {kind}"))

    got = stack.sink.wait_for(sender, SUBJECT)
    settled(stack, sender)
    data = got.data
    assert [r.mail_from for r in stack.sink.received if sender in r.rcpt_tos] == ["<>"]
    assert not [hidden for hidden in HIDDEN if hidden in data.lower()]
    assert elena.encode() in data
    body = got.message
    assert body.get_content_type() == "multipart/report"
    status = body.get_payload()[1].get_payload()[1]
    assert status["Final-Recipient"] == f"rfc822; {elena}"
    assert status["Action"] == "failed"
    if kind != "plain":  # a non-standard bounce returns nothing we can read
        assert f"Subject: da respingere {kind}".encode() in data
    assert dkim.verify(re.sub(rb"\r?\n", b"\r\n", data), dnsfunc=dkim_key(stack))


def test_a_later_hop_is_withheld_too(stack, elena):
    """The destination forwarded again; its report names only the later hop."""
    sender = "notizie.hop@strict.test"
    srs = forward_one(stack, elena, sender, "oltre")
    later = "elena@altrove.ext.test"

    report_back(stack, srs, dsn_samples.postfix(srs, later, elena, sender, "oltre"))

    data = stack.sink.wait_for(sender, SUBJECT).data
    assert b"altrove" not in data and b"ext.test" not in data
    assert f"Final-Recipient: rfc822; {elena}".encode() in data  # from the To field


def test_an_unrecognised_report_names_a_placeholder(stack, elena):
    sender = "notizie.ignoto@strict.test"
    srs = forward_one(stack, elena, sender, "ignoto")
    stranger = "qualcuno@altrove.ext.test"
    data = dsn_samples.plain(srs, stranger, "nessuno@strict.test", sender, "ignoto")

    report_back(stack, srs, data)

    got = stack.sink.wait_for(sender, SUBJECT).data
    assert b"forward-address-withheld@esteri.org" in got
    assert b"ext.test" not in got


def test_only_reports_are_taken_for_an_srs_address(stack, elena):
    sender = "notizie.risposta@strict.test"
    srs = forward_one(stack, elena, sender, "risposta")

    with smtp(stack, source="127.0.0.2") as client:
        client.mail("elena.privata@ext.test")
        code, reply = client.rcpt(srs)

    assert code == 554
    assert b"takes only delivery reports" in reply


def test_a_forged_srs_address_is_still_refused(stack, elena):
    sender = "notizie.falso@strict.test"
    srs = forward_one(stack, elena, sender, "falso")
    forged = srs.replace("=notizie.falso@", "=ceo@")

    with smtp(stack, source="127.0.0.2") as client:
        client.mail("<>")
        code, _ = client.rcpt(forged)

    assert code == 550


def running(stack) -> dict[str, bool]:
    # `server status` exits 3 while a daemon is stopped, as this test wants.
    result = stack.cli("server", "status", "--json", check=False)
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)["running"]


def test_a_report_waits_in_the_queue_while_the_filter_is_down(stack, elena, settings):
    from exteri_mail.server import background

    sender = "notizie.attesa@strict.test"
    srs = forward_one(stack, elena, sender, "in attesa")
    background.stop(settings, "bouncefilter")
    wait(lambda: not running(stack)["bouncefilter"], 10, "the filter did not stop")
    try:
        report_back(stack, srs, dsn_samples.exim(srs, FORWARD, elena, sender, "attesa"))

        def deferred():
            return [
                r["delay_reason"]
                for item in stack.queue()
                for r in item["recipients"]
                if r["address"] == sender and r.get("delay_reason")
            ]

        reasons = wait(deferred, 30, "the report was not deferred")
        assert "451" in reasons[0] or "4.7.1" in reasons[0], reasons
        assert not [r for r in stack.sink.received if sender in r.rcpt_tos]
    finally:
        stack.cli("server", "up", "--state-dir", str(stack.state_dir))

    assert running(stack)["bouncefilter"]
    stack.postfix("flush")
    data = stack.sink.wait_for(sender, SUBJECT).data
    assert b"ext.test" not in data
    assert elena.encode() in data


def test_a_bounce_to_an_srs_address_with_smtplib_is_accepted(stack, elena):
    """smtplib's own sendmail (how a plain client bounces) works end to end."""
    sender = "notizie.smtplib@strict.test"
    srs = forward_one(stack, elena, sender, "via smtplib")
    data = dsn_samples.gmail(srs, FORWARD, elena, sender, "via smtplib")

    with smtp(stack, source="127.0.0.2") as client:
        refused = client.sendmail("", [srs], data)

    assert refused == {}
    assert b"ext.test" not in stack.sink.wait_for(sender, SUBJECT).data
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        with smtp(stack, source="127.0.0.2") as client:
            client.sendmail("someone@ext.test", [srs], data)


def test_a_hostile_report_from_the_forward_s_own_domain_gives_nothing_away(
    stack, elena
):
    """The sender shares the forward's domain, so only the address can leak:
    folded, encoded, with 8-bit bytes and a line break hidden in a word."""
    sender = "notizie.ostile@ext.test"
    srs = forward_one(stack, elena, sender, "ostile")
    encoded = base64.b64encode(FORWARD.upper().encode()).decode()
    subject = (
        f"=?utf-8?b?{encoded}?= elena.privata@\r\n ext.test "
        "=?utf-8?q?x=0D=0AX-Inoltro:_elena=2Eprivata?="
    )
    data = dsn_samples.postfix(srs, FORWARD, elena, sender, subject)
    data = data.replace(b"Date: Tue, 4 Jun", b"Date: \xff\xfe 4 Jun")

    report_back(stack, srs, data)

    got = stack.sink.wait_for(sender, SUBJECT)
    settled(stack, sender)
    assert "privata" not in dsn_samples.shown(got.data)
    assert f"Final-Recipient: rfc822; {elena}".encode() in got.data
    assert [r.mail_from for r in stack.sink.received if sender in r.rcpt_tos] == ["<>"]
