"""The messages exteri-mail sends to people: built, then handed to an MTA.

Bodies come from templates/web/mail/KIND.LANG.txt, each with a `subject`
and a `body` block. The MTA is the local Postfix unless the settings name
another host and port (a test sink, a smarthost).
"""

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

import jinja2

from .errors import ServerError
from .resources import resource
from .settings import Settings

log = logging.getLogger("exteri_mail.mailer")

_TIMEOUT = 15


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource("templates") / "web" / "mail"),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


class Mailer:
    def __init__(self, host: str, port: int, sender: str, domain: str) -> None:
        self.host, self.port = host, port
        self.sender, self.domain = sender, domain
        self._env = _templates()

    @classmethod
    def from_settings(cls, settings: Settings) -> "Mailer":
        support = f"{settings.support_local_part}@{settings.primary_domain}"
        sender = settings.web.sender or support
        web = settings.web
        return cls(web.smtp_host, web.smtp_port, sender, settings.primary_domain)

    def compose(self, kind: str, language: str, to: str, **context) -> EmailMessage:
        template = self._env.get_template(f"{kind}.{language}.txt")
        values = template.new_context({"domain": self.domain, **context})
        subject = "".join(template.blocks["subject"](values)).strip()
        body = "".join(template.blocks["body"](values)).strip() + "\n"

        message = EmailMessage()
        message["From"] = formataddr((self.domain, self.sender))
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=self.domain)
        # Tells vacation responders and mailing lists not to answer.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        return message

    def send(self, message: EmailMessage) -> None:
        to = message["To"]
        try:
            with smtplib.SMTP(self.host, self.port, timeout=_TIMEOUT) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            reason = str(exc).strip() or type(exc).__name__
            raise ServerError(
                f"cannot send mail to {to} via {self.host}:{self.port}: {reason}"
            ) from None
        log.info("sent %r to %s", message["Subject"], to)
