"""Reports a forward destination sends back, as real MTAs write them.

Each builder takes the SRS address the report goes to, the forward address
that failed (or a later hop of it), the account's address and the original
sender; names of the destination's side are all under ext.test.
"""

import re
import unicodedata
from email import message_from_bytes, policy
from email.parser import HeaderParser

RETURNED = (
    "Received: from mail.esteri.org (mail.esteri.org [192.0.2.10])\r\n"
    "\tby mx.ext.test (Postfix) with ESMTPS id 4Xy1\r\n"
    "\tfor <{forward}>; Tue, 4 Jun 2024 10:00:01 +0200 (CEST)\r\n"
    "Received: from client.strict.test (client.strict.test [192.0.2.25])\r\n"
    "\tby mail.esteri.org (Postfix) with ESMTP id 4Xy0\r\n"
    "\tfor <{address}>; Tue, 4 Jun 2024 10:00:00 +0200 (CEST)\r\n"
    "Delivered-To: {forward}\r\n"
    "From: Notizie <{sender}>\r\n"
    "To: {address}\r\n"
    "Subject: {subject}\r\n"
    "Date: Tue, 4 Jun 2024 09:59:58 +0200\r\n"
    "Message-ID: <20240604.1@strict.test>\r\n"
    "\r\n"
    "Testo del messaggio.\r\n"
)


def returned(forward, address, sender, subject) -> str:
    return RETURNED.format(
        forward=forward, address=address, sender=sender, subject=subject
    )


def postfix(srs, forward, address, sender, subject) -> bytes:
    """Postfix: a failed local delivery at the destination, days later."""
    return (
        "Received: by mx.ext.test (Postfix) id 4Xy2; Tue, 4 Jun 2024 10:05:00\r\n"
        "Date: Tue, 4 Jun 2024 10:05:00 +0200 (CEST)\r\n"
        "From: MAILER-DAEMON@mx.ext.test (Mail Delivery System)\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"To: {srs}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status;\r\n'
        '\tboundary="4Xy2.1717488300/mx.ext.test"\r\n'
        "\r\n"
        "--4Xy2.1717488300/mx.ext.test\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host mx.ext.test.\r\n"
        "\r\n"
        f"<{forward}>: host store.ext.test[192.0.2.77] said: 552 5.2.2\r\n"
        f"    <{forward}>: mailbox full (in reply to RCPT TO command)\r\n"
        "\r\n"
        "--4Xy2.1717488300/mx.ext.test\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.ext.test\r\n"
        "X-Postfix-Queue-ID: 4Xy1\r\n"
        f"X-Postfix-Sender: rfc822; {srs}\r\n"
        "Arrival-Date: Tue,  4 Jun 2024 10:00:01 +0200 (CEST)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {forward}\r\n"
        f"Original-Recipient: rfc822;{forward}\r\n"
        "Action: failed\r\n"
        "Status: 5.2.2\r\n"
        "Remote-MTA: dns; store.ext.test\r\n"
        f"Diagnostic-Code: smtp; 552 5.2.2 <{forward}>: mailbox full\r\n"
        "\r\n"
        "--4Xy2.1717488300/mx.ext.test\r\n"
        "Content-Description: Undelivered Message\r\n"
        "Content-Type: message/rfc822\r\n"
        "\r\n"
        + returned(forward, address, sender, subject)
        + "\r\n--4Xy2.1717488300/mx.ext.test--\r\n"
    ).encode()


def gmail(srs, forward, address, sender, subject) -> bytes:
    """Gmail-like: bilingual-free prose, an HTML twin, headers only back."""
    return (
        "Received: by 2002:a05:6a10:ext with SMTP id abc; Tue, 4 Jun 2024\r\n"
        f"X-Failed-Recipients: {forward}\r\n"
        "From: Mail Delivery Subsystem <mailer-daemon@mail.ext.test>\r\n"
        f"To: {srs}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Subject: Delivery Status Notification (Failure)\r\n"
        "Message-ID: <66e1@mx.ext.test>\r\n"
        "Date: Tue, 04 Jun 2024 01:05:00 -0700\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; boundary="000000000000g1";'
        " report-type=delivery-status\r\n"
        "\r\n"
        "--000000000000g1\r\n"
        'Content-Type: multipart/related; boundary="000000000000g2"\r\n'
        "\r\n"
        "--000000000000g2\r\n"
        'Content-Type: multipart/alternative; boundary="000000000000g3"\r\n'
        "\r\n"
        "--000000000000g3\r\n"
        'Content-Type: text/plain; charset="UTF-8"\r\n'
        "\r\n"
        "** Address not found **\r\n"
        "\r\n"
        f"Your message wasn't delivered to {forward} because the address\r\n"
        "couldn't be found, or is unable to receive mail.\r\n"
        "\r\n"
        "The response from the remote server was:\r\n"
        "550 5.1.1 The email account that you tried to reach does not exist.\r\n"
        f"  {forward}\r\n"
        "\r\n"
        "--000000000000g3\r\n"
        'Content-Type: text/html; charset="UTF-8"\r\n'
        "\r\n"
        f"<html><body><p>Your message wasn't delivered to <b>{forward}</b>.</p>"
        "</body></html>\r\n"
        "\r\n"
        "--000000000000g3--\r\n"
        "--000000000000g2--\r\n"
        "--000000000000g1\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; googlemail.ext.test\r\n"
        "Received-From-MTA: dns; mail.esteri.org\r\n"
        "Arrival-Date: Tue, 04 Jun 2024 01:04:59 -0700 (PDT)\r\n"
        "X-Original-Message-ID: <20240604.1@strict.test>\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {forward}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Remote-MTA: dns; gmail-smtp-in.l.ext.test. (192.0.2.27, the server for\r\n"
        " the domain ext.test.)\r\n"
        "Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to\r\n"
        " reach does not exist. 5.1.1 https://support.ext.test/mail/?p=NoSuchUser\r\n"
        "Last-Attempt-Date: Tue, 04 Jun 2024 01:05:00 -0700 (PDT)\r\n"
        "\r\n"
        "--000000000000g1\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        + returned(forward, address, sender, subject).split("\r\n\r\n")[0]
        + "\r\n\r\n--000000000000g1--\r\n"
    ).encode()


def exim(srs, forward, address, sender, subject) -> bytes:
    """Exim: prose with the host's answer, then RFC 3464 parts."""
    return (
        f"Received: from Debian-exim by mx.ext.test with local (Exim 4.96)\r\n"
        f"\tid 1sEa; Tue, 04 Jun 2024 10:05:00 +0200\r\n"
        f"X-Failed-Recipients: {forward}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "From: Mail Delivery System <Mailer-Daemon@mx.ext.test>\r\n"
        f"To: {srs}\r\n"
        'Content-Type: multipart/report; report-type=delivery-status;'
        ' boundary=1717488300-eximdsn-1\r\n'
        "MIME-Version: 1.0\r\n"
        "Subject: Mail delivery failed: returning message to sender\r\n"
        "Message-Id: <E1sEa@mx.ext.test>\r\n"
        "Date: Tue, 04 Jun 2024 10:05:00 +0200\r\n"
        "\r\n"
        "--1717488300-eximdsn-1\r\n"
        "Content-type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This message was created automatically by mail delivery software.\r\n"
        "\r\n"
        "A message that you sent could not be delivered to one or more of its\r\n"
        "recipients. This is a permanent error. The following address(es) failed:\r\n"
        "\r\n"
        f"  {forward}\r\n"
        "    host store.ext.test [192.0.2.77]\r\n"
        "    SMTP error from remote mail server after RCPT TO:\r\n"
        f"    <{forward}>: 550 5.7.1 over quota\r\n"
        "\r\n"
        "--1717488300-eximdsn-1\r\n"
        "Content-type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.ext.test\r\n"
        "\r\n"
        f"Action: failed\r\n"
        f"Final-Recipient: rfc822;{forward}\r\n"
        "Status: 5.0.0\r\n"
        "Remote-MTA: dns; store.ext.test\r\n"
        "Diagnostic-Code: smtp; 550 5.7.1 over quota\r\n"
        "\r\n"
        "--1717488300-eximdsn-1\r\n"
        "Content-type: message/rfc822\r\n"
        "\r\n"
        + returned(forward, address, sender, subject)
        + "\r\n--1717488300-eximdsn-1--\r\n"
    ).encode()


def plain(srs, forward, address, sender, subject) -> bytes:
    """A non-standard bounce: one text part with the message pasted in."""
    return (
        "From: MAILER-DAEMON@mx.ext.test\r\n"
        f"To: {srs}\r\n"
        "Subject: failure notice\r\n"
        "Date: Tue, 04 Jun 2024 10:05:00 +0200\r\n"
        "\r\n"
        "Sorry, we were unable to deliver your message to the following address.\r\n"
        "\r\n"
        f"<{forward}>:\r\n"
        "Remote host said: 554 delivery error: dd This user doesn't have a\r\n"
        "mx.ext.test account [RCPT_TO]\r\n"
        "\r\n"
        "--- Below this line is a copy of the message.\r\n"
        "\r\n"
        + returned(forward, address, sender, subject)
    ).encode()


FORMATS = {"postfix": postfix, "gmail": gmail, "exim": exim, "plain": plain}


def shown(out: bytes) -> str:
    """Everything a mail client could show of OUT, spacing removed."""
    texts = []
    for part in message_from_bytes(out, policy=policy.default).walk():
        texts += [str(value) for _, value in part.items()]
        payload = None if part.is_multipart() else part.get_payload(decode=True)
        if payload:
            text = payload.decode("utf-8", "replace")
            headers = HeaderParser(policy=policy.default).parsestr(text)
            texts += [text, *(str(value) for _, value in headers.items())]
    text = "".join(c for c in "".join(texts) if unicodedata.category(c) != "Cf")
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()
