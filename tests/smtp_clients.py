"""Real protocol clients for the tests: SMTP, IMAP and POP3 over TLS."""

import base64
import imaplib
import poplib
import smtplib
import ssl
from email.message import EmailMessage


def tls_context(stack) -> ssl.SSLContext:
    """Trusts exactly the instance's self-signed certificate."""
    return ssl.create_default_context(cafile=str(stack.state_dir / "tls" / "cert.pem"))


def message(
    sender: str, to: str, subject: str, body: str = "Ciao!\n", size: int = 0
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["X-Exteri-Test"] = "kept intact"
    msg.set_content(body + ("x" * 76 + "\n") * (size // 77))
    return msg


def smtp(stack, source: str = "127.0.0.1") -> smtplib.SMTP:
    client = smtplib.SMTP(
        "127.0.0.1", stack.port("smtp"), source_address=(source, 0), timeout=30
    )
    client.ehlo("client.ext.test")
    return client


def submission(
    stack,
    user: str | None = None,
    password: str | None = None,
    source: str = "127.0.0.2",
) -> smtplib.SMTP:
    """Port 587 with STARTTLS, from another loopback address (not mynetworks)."""
    client = smtplib.SMTP(
        "127.0.0.1", stack.port("submission"), source_address=(source, 0), timeout=30
    )
    client.ehlo("laptop.ext.test")
    client.starttls(context=tls_context(stack))
    client.ehlo("laptop.ext.test")
    if user is not None:
        auth_plain(client, user, password)
    return client


def auth_plain(client: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH PLAIN with UTF-8 (smtplib's own login encodes ASCII only)."""
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    code, reply = client.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def imap(stack, user: str, password: str, implicit_tls: bool = False) -> imaplib.IMAP4:
    ctx = tls_context(stack)
    if implicit_tls:
        client = imaplib.IMAP4_SSL("127.0.0.1", stack.port("imaps"), ssl_context=ctx)
    else:
        client = imaplib.IMAP4("127.0.0.1", stack.port("imap"))
        client.starttls(ssl_context=ctx)
    secret = b"\0" + user.encode() + b"\0" + password.encode()
    try:
        client.authenticate("PLAIN", lambda _: secret)
    except BaseException:
        client.shutdown()
        raise
    return client


def pop3(stack, user: str, password: str, implicit_tls: bool = False) -> poplib.POP3:
    ctx = tls_context(stack)
    if implicit_tls:
        client = poplib.POP3_SSL("127.0.0.1", stack.port("pop3s"), context=ctx)
    else:
        client = poplib.POP3("127.0.0.1", stack.port("pop3"))
        client.stls(context=ctx)
    try:
        client.user(user)
        client.pass_(password)
    except BaseException:
        client.close()
        raise
    return client
