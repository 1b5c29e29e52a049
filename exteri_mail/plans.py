"""What each plan grants: the single table every other part reads.

The registry's `plans` table, the views Postfix and Dovecot read, the
rendered configuration and the CLI text are all derived from PLANS.
"""

from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class Plan:
    name: str
    summary: str
    forward_required: bool
    submission: bool
    mailbox: bool
    imap: bool
    pop3: bool
    quota_bytes: int | None

    @property
    def needs_password(self) -> bool:
        return self.submission or self.imap or self.pop3

    @property
    def login_services(self) -> tuple[str, ...]:
        """Dovecot service names (%s) this plan may authenticate for.

        Postfix's SASL requests reach Dovecot as service "smtp".
        """
        flags = (("smtp", self.submission), ("imap", self.imap), ("pop3", self.pop3))
        return tuple(service for service, granted in flags if granted)


PLANS: dict[str, Plan] = {
    plan.name: plan
    for plan in (
        Plan(
            name="easy",
            summary="forwarding to the user's own mailbox",
            forward_required=True,
            submission=False,
            mailbox=False,
            imap=False,
            pop3=False,
            quota_bytes=None,
        ),
        Plan(
            name="outbox",
            summary="forwarding plus authenticated SMTP submission",
            forward_required=True,
            submission=True,
            mailbox=False,
            imap=False,
            pop3=False,
            quota_bytes=None,
        ),
        Plan(
            name="plus",
            summary="a 1 GiB mailbox over IMAP, POP3 and webmail",
            forward_required=False,
            submission=True,
            mailbox=True,
            imap=True,
            pop3=True,
            quota_bytes=1 * GIB,
        ),
    )
}

DEFAULT_PLAN = "easy"


def get_plan(name: str) -> Plan:
    from .errors import InvalidInput

    try:
        return PLANS[name.strip().lower()]
    except KeyError:
        known = ", ".join(PLANS)
        raise InvalidInput(f"unknown plan: {name!r} (choose one of {known})") from None
