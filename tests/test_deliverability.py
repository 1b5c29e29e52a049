"""SRS, DKIM and DMARC on real daemons, judged by independent verifiers.

Knot serves the zones `exteri-mail dns records` prints (plus strict.test, an
outside domain whose SPF allows only its own host); pyspf, dkimpy and
authheaders resolve through it, as the receiving providers would.
"""

import base64
import re
import smtplib
import subprocess

import dkim
import dns.resolver
import pytest
import spf
from authheaders import authenticate_message
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.dnszone import Knot
from tests.smtp_clients import message, smtp, submission

pytestmark = [
    pytest.mark.daemons,
    # pyspf still calls dns.resolver.query, deprecated in dnspython 2.
    pytest.mark.filterwarnings("ignore:please use dns.resolver:DeprecationWarning"),
]

HOST = "mail.esteri.org"
OUTSIDE_HOST_IP = "192.0.2.25"
SRS = re.compile(r"^SRS0=[^=]+=[^=]+=strict\.test=news@esteri\.org$")


@pytest.fixture(scope="module")
def strict_key() -> tuple[bytes, str]:
    """strict.test's DKIM key: (private PEM, p= value)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def dns_server(stack, strict_key, tmp_path_factory):
    """Knot with our zones and strict.test; the default resolver asks it."""
    zones = {
        domain: stack.cli("dns", "records", "--domain", domain).stdout
        for domain in ("esteri.org", "exteri.it")
    }
    zones["strict.test"] = (
        f'strict.test. 3600 IN TXT "v=spf1 ip4:{OUTSIDE_HOST_IP} -all"\n'
        f'_dmarc.strict.test. 3600 IN TXT "v=DMARC1; p=reject"\n'
        f'sel._domainkey.strict.test. 3600 IN TXT "v=DKIM1; k=rsa; '
        f'p={strict_key[1]}"\n'
    )
    server = Knot(tmp_path_factory.mktemp("knot"))
    server.serve(zones)
    saved = dns.resolver.default_resolver
    dns.resolver.default_resolver = server.resolver()
    yield server
    dns.resolver.default_resolver = saved
    server.cleanup()


@pytest.fixture(scope="module")
def irene(stack):
    """An Easy user (K01's anna.neri; that name is taken in other modules)."""
    return stack.create("Irene", "Fontana", forward="irene@ext.test")["address"]


def signed_by_strict(strict_key, to: str, subject: str) -> bytes:
    msg = message("News <news@strict.test>", to, subject, body="Notizie firmate.\n")
    raw = msg.as_bytes().replace(b"\n", b"\r\n")
    signature = dkim.sign(
        raw,
        b"sel",
        b"strict.test",
        strict_key[0],
        include_headers=[b"from", b"to", b"subject", b"x-exteri-test"],
    )
    return signature + raw


def other_letter(char: str) -> str:
    """A different hash character: SRS compares hashes case-insensitively."""
    return "c" if char.lower() == "b" else "b"


def send_from_strict(stack, rcpt: str, data: bytes | None = None, subject: str = ""):
    with smtp(stack) as client:
        if data is None:
            msg = message("news@strict.test", rcpt, subject)
            client.send_message(msg, "news@strict.test", [rcpt])
        else:
            client.sendmail("news@strict.test", [rcpt], data)


def wire(received) -> bytes:
    """The message as it went over SMTP (CRLF line ends)."""
    return re.sub(rb"\r?\n", b"\r\n", received.data)


def test_K01_forward_gets_an_srs_sender_that_passes_spf_for_our_host(
    stack, dns_server, irene
):
    send_from_strict(stack, irene, subject="K01")

    got = stack.sink.wait_for("irene@ext.test", "K01")

    assert SRS.match(got.mail_from), got.mail_from
    assert spf.check2(i="127.0.0.1", s=got.mail_from, h=HOST)[0] == "pass"
    # Without SRS the destination would have judged strict.test's policy.
    assert spf.check2(i="127.0.0.1", s="news@strict.test", h=HOST)[0] == "fail"


def test_bounce_to_the_srs_address_reaches_the_original_sender(stack, irene):
    send_from_strict(stack, irene, subject="da rimandare")
    srs_sender = stack.sink.wait_for("irene@ext.test", "da rimandare").mail_from

    with smtp(stack) as client:
        client.mail("<>")
        assert client.rcpt(srs_sender)[0] == 250
        client.data(
            b"From: MAILER-DAEMON@ext.test\r\nSubject: non consegnato\r\n\r\nx\r\n"
        )

    # Rebuilt on the way (test_deliverability_dsn.py): our report, not theirs.
    bounce = stack.sink.wait_for(
        "news@strict.test", "Messaggio non consegnato / Undelivered message"
    )
    assert bounce.mail_from == "<>"  # the null sender, as aiosmtpd shows it


@pytest.mark.parametrize(
    "tamper",
    [
        lambda a: re.sub(r"^SRS0=(.)", lambda m: "SRS0=" + other_letter(m[1]), a),
        lambda a: a.replace("=news@", "=ceo@"),
        lambda a: a.replace("=strict.test=", "=other.test="),
    ],
    ids=["hash", "local-part", "domain"],
)
def test_tampered_srs_address_is_refused_at_rcpt(stack, irene, tamper):
    send_from_strict(stack, irene, subject="originale")
    srs_sender = stack.sink.wait_for("irene@ext.test", "originale").mail_from
    forged = tamper(srs_sender)
    assert forged != srs_sender

    with smtp(stack) as client:
        client.mail("<>")
        code, _ = client.rcpt(forged)

    assert code == 550


def test_failed_forward_bounces_to_the_sender_without_the_forward_address(
    stack, dns_server, monkeypatch
):
    address = stack.create("Rita", "Bassi", forward="rita.privata@ext.test")["address"]

    async def refuse_rita(server, session, envelope, rcpt, options):
        if rcpt.startswith("rita.privata@"):
            return "550 5.1.1 <rita.privata@ext.test>: no such user at mx.ext.test"
        envelope.rcpt_tos.append(rcpt)
        return "250 OK"

    monkeypatch.setattr(stack.sink, "handle_RCPT", refuse_rita, raising=False)
    # A cached connection to the sink would predate the hook.
    forwarder = stack.state_dir / "postfix-forwarder"
    subprocess.run(["postfix", "-c", str(forwarder), "reload"], check=True)

    send_from_strict(stack, address, subject="forward fallito")
    bounce = stack.sink.wait_for(
        "news@strict.test", "Undelivered Mail Returned to Sender"
    )
    data = wire(bounce)

    assert bounce.mail_from == "<>"
    assert b"rita.privata" not in data
    assert b"mx.ext.test" not in data
    assert b"Original-Recipient: rfc822;rita.bassi@esteri.org" in data
    assert b"Subject: forward fallito" in data  # the returned message is attached
    assert dkim.verify(data)  # signed by us, like any mail the server sends


def test_outside_dkim_signature_still_verifies_after_forwarding(
    stack, dns_server, strict_key, irene
):
    send_from_strict(stack, irene, signed_by_strict(strict_key, irene, "firmato"))

    got = stack.sink.wait_for("irene@ext.test", "firmato")

    assert SRS.match(got.mail_from)
    assert dkim.verify(wire(got))
    # strict.test publishes p=reject: its aligned signature is what passes.
    verdict = authenticate_message(
        wire(got),
        "sink.ext.test",
        ip="127.0.0.1",
        mail_from=got.mail_from,
        helo=HOST,
        spf=True,
        dkim=True,
        dmarc=True,
    )
    assert "dmarc=pass" in verdict and "header.from=strict.test" in verdict


def test_outbox_mail_is_signed_and_aligned_under_dmarc(stack, dns_server):
    account = stack.create("Mario", "Rossi", plan="outbox", forward="mario@ext.test")
    address, password = account["address"], account["password"]

    with submission(stack, address, password) as client:
        client.send_message(
            message(f"Mario Rossi <{address}>", "amico@ext.test", "DMARC")
        )
    got = stack.sink.wait_for("amico@ext.test", "DMARC")
    data = wire(got)

    assert got.mail_from == address
    assert b"DKIM-Signature:" in data and b"d=esteri.org" in data
    assert dkim.verify(data)
    verdict = authenticate_message(
        data,
        "sink.ext.test",
        ip="127.0.0.1",
        mail_from=got.mail_from,
        helo=HOST,
        spf=True,
        dkim=True,
        dmarc=True,
    )
    assert "spf=pass" in verdict
    assert "dkim=pass" in verdict
    assert "dmarc=pass" in verdict and "header.from=esteri.org" in verdict


def test_mail_from_the_alias_domain_is_signed_for_it(stack, dns_server):
    account = stack.create(
        "Lisa", "Conti", plan="outbox", forward="lisa@ext.test", alias=True
    )
    sender = "lisa.conti@exteri.it"

    with submission(stack, sender, account["password"]) as client:
        client.send_message(message(sender, "amico@ext.test", "da exteri.it"))
    got = stack.sink.wait_for("amico@ext.test", "da exteri.it")

    assert b"d=exteri.it" in wire(got)
    assert dkim.verify(wire(got))


def test_plus_delivery_keeps_the_original_return_path(stack):
    account = stack.create("Cinzia", "Galli", plan="plus")
    address = account["address"]

    send_from_strict(stack, address, subject="nella casella")

    def fetched():
        out = stack.doveadm(
            "fetch",
            "-u",
            address,
            "hdr",
            "mailbox",
            "INBOX",
            "header",
            "subject",
            "nella casella",
        ).stdout
        return out if "Return-Path" in out else None

    from tests.mailstack import wait

    headers = wait(fetched, 15, "the message did not reach the Plus mailbox")
    assert "Return-Path: <news@strict.test>" in headers
    assert "SRS0" not in headers


def test_mail_from_our_users_to_a_forwarding_user_is_not_rewritten(stack, irene):
    account = stack.create("Piero", "Sala", plan="outbox", forward="piero@ext.test")
    address = account["address"]

    with submission(stack, address, account["password"]) as client:
        client.send_message(message(address, irene, "tra colleghi"))

    assert stack.sink.wait_for("irene@ext.test", "tra colleghi").mail_from == address


def test_mail_is_refused_with_4xx_not_lost_while_srs_is_down(stack, irene):
    from exteri_mail.dns import helpers
    from exteri_mail.settings import load

    settings = load(stack.state_dir / "exteri-mail.toml")
    postsrsd, _ = helpers.daemons(settings)
    postsrsd.stop()
    try:
        with (
            smtp(stack) as client,
            pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
        ):
            msg = message("news@strict.test", irene, "senza SRS")
            client.send_message(msg, "news@strict.test", [irene])
    finally:
        postsrsd.start(postsrsd.argv(settings))

    code, _ = refused.value.recipients[irene]
    assert code == 451  # the sender retries later; nothing bounces
    send_from_strict(stack, irene, subject="di nuovo con SRS")
    assert SRS.match(
        stack.sink.wait_for("irene@ext.test", "di nuovo con SRS").mail_from
    )
