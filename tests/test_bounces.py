"""The rebuild of a returned report, without daemons (issue 6).

The stack tests (test_deliverability_dsn.py) send these reports through
Postfix; here each rule is shown on its own, and quickly.
"""

import base64

import pytest

from exteri_mail.dns import bounces
from exteri_mail.dns.bouncefilter import recognise
from tests import dsn_samples

SRS = "SRS0=AbCd=JW=strict.test=news@esteri.org"
FORWARD = "rita.privata@ext.test"
ADDRESS = "rita.bassi@esteri.org"
SENDER = "news@strict.test"
OURS = {"esteri.org", "exteri.it", "mail.esteri.org"}
ROWS = [
    (ADDRESS, FORWARD),
    ("rita.bassi@exteri.it", ADDRESS),
    ("anna.neri@esteri.org", "anna@ext.test"),
]


def rebuilt(raw: bytes, rows=ROWS) -> bytes:
    report = bounces.read(raw)
    address, forwards = recognise(rows, report.words, OURS)
    msg = bounces.rebuild(
        report,
        sender=SENDER,
        address=address,
        withheld=bounces.withheld(report, SENDER, OURS, forwards),
        forwards=forwards,
        hostname="mail.esteri.org",
        placeholder="forward-address-withheld@esteri.org",
    )
    return msg.as_bytes()


@pytest.mark.parametrize("kind", sorted(dsn_samples.FORMATS))
def test_every_format_is_rebuilt_without_the_destination_side(kind):
    raw = dsn_samples.FORMATS[kind](SRS, FORWARD, ADDRESS, SENDER, "Prova")

    out = rebuilt(raw)

    assert b"ext.test" not in out and b"rita.privata" not in out
    assert f"Final-Recipient: rfc822; {ADDRESS}".encode() in out
    assert b"Action: failed" in out
    assert b"Remote-MTA" not in out and b"Diagnostic-Code" not in out


def test_action_and_status_are_kept_when_well_formed():
    raw = dsn_samples.postfix(SRS, FORWARD, ADDRESS, SENDER, "Prova")
    delayed = raw.replace(b"Action: failed", b"Action: delayed").replace(
        b"Status: 5.2.2", b"Status: 4.2.2 (mailbox busy at store.ext.test)"
    )

    report = bounces.read(delayed)

    assert (report.action, report.status) == ("delayed", "4.0.0")
    assert b"Consegna ritardata / Delayed delivery" in rebuilt(delayed)


def test_returned_fields_that_name_the_forward_address_are_dropped():
    raw = dsn_samples.exim(SRS, FORWARD, ADDRESS, SENDER, f"scrivi a {FORWARD}")
    raw = raw.replace(f"To: {ADDRESS}".encode(), f"To: {FORWARD}".encode())

    out = rebuilt(raw)

    assert b"rita.privata" not in out
    assert b"From: Notizie <news@strict.test>" in out
    assert b"Message-ID: <20240604.1@strict.test>" in out


def test_the_sender_domain_is_kept_when_the_forward_shares_it():
    forward = "rita.privata@strict.test"
    raw = dsn_samples.gmail(SRS, forward, ADDRESS, SENDER, "Prova")

    out = rebuilt(raw, [(ADDRESS, forward)])

    assert b"rita.privata" not in out
    assert b"From: Notizie <news@strict.test>" in out


def test_an_alias_address_in_the_report_finds_the_account():
    """A later hop is named, not the forward: the returned To decides."""
    raw = dsn_samples.postfix(
        SRS, "rita@altrove.ext.test", "rita.bassi@exteri.it", SENDER, "Prova"
    )

    out = rebuilt(raw)

    assert f"Final-Recipient: rfc822; {ADDRESS}".encode() in out
    assert b"altrove" not in out


def test_two_accounts_sharing_a_forward_are_told_apart_by_their_address():
    rows = [*ROWS, ("marco.bassi@esteri.org", FORWARD)]
    raw = dsn_samples.postfix(SRS, FORWARD, ADDRESS, SENDER, "Prova")

    assert f"Final-Recipient: rfc822; {ADDRESS}".encode() in rebuilt(raw, rows)


def test_a_report_naming_nobody_known_gets_the_placeholder():
    raw = dsn_samples.plain(SRS, "x@altrove.ext.test", "y@strict.test", SENDER, "P")

    out = rebuilt(raw)

    assert b"Final-Recipient: rfc822; forward-address-withheld@esteri.org" in out
    assert b"un indirizzo di esteri / an esteri address" in out


def test_garbage_still_gives_a_report():
    out = rebuilt(b"\x00\xff not a message at all\r\n\r\n" + FORWARD.encode())

    assert b"multipart/report" in out and b"rita.privata" not in out


def test_a_report_with_several_recipients_names_none_of_them():
    report = bounces.read(dsn_samples.exim(SRS, FORWARD, ADDRESS, SENDER, "P"))

    msg = bounces.rebuild(
        report,
        sender="",
        address=ADDRESS,
        withheld=bounces.withheld(report, "", OURS, {FORWARD}),
        forwards={FORWARD},
        hostname="mail.esteri.org",
        placeholder="forward-address-withheld@esteri.org",
    )

    assert msg["To"] == "undisclosed-recipients:;"
    assert b"ext.test" not in msg.as_bytes()


# --- Hostile reports: the forward shares the sender's domain, so only the
# address itself can give it away. What the sender receives is decoded
# (MIME parts, base64, quoted-printable, RFC 2047) before it is searched.
SHARED = "rita.privata@strict.test"


def _b(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


HOSTILE = {
    "folded": "scrivi a rita.privata@\r\n strict.test",
    "encoded word": f"scrivi a {_b(SHARED)}",
    "split encoded words": f"a {_b('rita.priv')} {_b('ata@strict.test')}",
    "quoted-printable word": "=?utf-8?q?rita=2Eprivata=40STRICT=2Etest?=",
    "upper case": f"scrivi a {SHARED.upper()}",
    "zero-width space": f"scrivi a {_b('rita.pri' + chr(0x200B) + 'vata@strict.test')}",
    "full-width letters": f"scrivi a {_b('ｒｉｔａ.privata@strict.test')}",
    "spelled out": "scrivi a rita.privata at strict.test",
    "line break in a word": "=?utf-8?q?Prova=0D=0AX-Inoltro:_rita=2Eprivata?=",
    "long run of letters": "x" * 100_000 + f" {SHARED}",
}


@pytest.mark.parametrize("subject", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_returned_field_never_gives_the_forward_away(subject):
    raw = dsn_samples.postfix(SRS, SHARED, ADDRESS, SENDER, subject)

    out = rebuilt(raw, [(ADDRESS, SHARED)])

    assert "privata" not in dsn_samples.shown(out)
    assert f"Final-Recipient: rfc822; {ADDRESS}".encode() in out
    assert b"From: Notizie <news@strict.test>" in out


def test_a_forward_address_as_message_id_is_dropped():
    raw = dsn_samples.postfix(SRS, SHARED, ADDRESS, SENDER, "Prova")
    raw = raw.replace(b"<20240604.1@strict.test>", f"<{SHARED}>".encode())

    assert "privata" not in dsn_samples.shown(rebuilt(raw, [(ADDRESS, SHARED)]))


@pytest.mark.parametrize("written", ["rita@münchen.test", "rita@xn--mnchen-3ya.test"])
def test_an_idn_forward_is_withheld_in_either_spelling(written):
    """The registry keeps the IDNA form; a report may write either."""
    forward = "rita@xn--mnchen-3ya.test"
    raw = dsn_samples.postfix(SRS, written, ADDRESS, SENDER, f"scrivi a {written}")

    out = rebuilt(raw, [(ADDRESS, forward)])

    shown = dsn_samples.shown(out)
    assert "münchen" not in shown and "mnchen" not in shown
    assert f"Final-Recipient: rfc822; {ADDRESS}".encode() in out


def test_a_returned_part_that_is_not_a_message_still_gives_a_report():
    raw = dsn_samples.postfix(SRS, FORWARD, ADDRESS, SENDER, "Prova")
    head, _, _ = raw.partition(b"Content-Type: message/rfc822\r\n")

    out = rebuilt(head + b"Content-Type: message/rfc822\r\n\r\n--")

    assert f"Final-Recipient: rfc822; {ADDRESS}".encode() in out
