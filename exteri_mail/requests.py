"""Account requests: asked for on the web, confirmed by mail, decided by people.

A request starts `unconfirmed`; the link mailed to its forward address
makes it `pending` (double opt-in); an operator then approves it, which
creates the account in the same transaction, or rejects it. Links carry
random tokens of which only the SHA-256 digest is stored: a confirmation
token works once, a setup token opens the account's setup page until it
expires or is replaced, and lets the password be chosen once.

Messages are sent at the end of the transaction that caused them, so a
failure to send leaves the registry as it was.
"""

import hashlib
import logging
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from . import accounts, audit, names, passwords
from .accounts import Registry
from .errors import Conflict, InvalidInput, NotFound
from .plans import DEFAULT_PLAN, PLANS, Plan, get_plan
from .settings import Settings

log = logging.getLogger("exteri_mail.requests")

STATUSES = ("unconfirmed", "pending", "approved", "rejected")
LANGUAGES = ("it", "en")
# Longest accepted value of each field, in characters.
LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "forward": 254,
    "note": 2000,
    "reason": 500,
}
PASSWORD_MIN = passwords.MIN_LENGTH
CONFIRM_PATH = "/confirm/"
SETUP_PATH = "/setup/"
_TOKEN_MAX = 100


class InvalidRequest(InvalidInput):
    """Fields of a request break rules; every bad field is named at once."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems.values()))


class RateLimited(Conflict):
    """Too many requests from one client or for one forward address."""


class TokenRefused(NotFound):
    """A link is unknown, expired, already used or replaced by a newer one."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"link refused: {reason}")


@dataclass(frozen=True)
class Draft:
    """A request's fields, checked and normalised."""

    first_name: str
    last_name: str
    local_part: str
    forward: str
    note: str


@dataclass(frozen=True)
class SetupView:
    account: dict
    plan: Plan
    password_settable: bool
    expires_at: object


def public_url(settings: Settings) -> str:
    """Where links in messages point (no trailing slash)."""
    explicit = settings.web.public_url
    if explicit:
        return explicit.rstrip("/")
    return f"http://{settings.listen[0]}:{settings.ports.web}"


# --- checking input -----------------------------------------------------------


def _bounded(field: str, value: str) -> str:
    limit = LIMITS[field]
    if len(value) > limit:
        label = field.replace("_", " ")
        raise InvalidInput(f"{label} is longer than {limit} characters")
    return value


def _plain_text(field: str, value: str, multiline: bool) -> str:
    """Refuse control characters and markup in free text."""
    label = field.replace("_", " ")
    text = _bounded(field, value.replace("\r\n", "\n").strip())
    allowed = "\n\t" if multiline else ""
    for char in text:
        if unicodedata.category(char).startswith("C") and char not in allowed:
            raise InvalidInput(f"{label} contains control character U+{ord(char):04X}")
    if "<" in text or ">" in text:
        raise InvalidInput(f"{label} contains < or >: markup is not accepted")
    return text


def check(reg: Registry, first: str, last: str, forward: str, note: str = "") -> Draft:
    """Check every field of a request; InvalidRequest names all bad ones."""
    problems: dict[str, str] = {}

    def attempt(field: str, step):
        try:
            return step()
        except InvalidInput as exc:
            problems[field] = str(exc)
            return None

    first_name = attempt(
        "first_name",
        lambda: names.clean_name("first name", _bounded("first_name", first)),
    )
    last_name = attempt(
        "last_name",
        lambda: names.clean_name("last name", _bounded("last_name", last)),
    )
    local = None
    if first_name and last_name:
        local = attempt("last_name", lambda: names.local_part(first, last))
    fwd = attempt(
        "forward", lambda: accounts.check_forward(reg, _bounded("forward", forward))
    )
    text = attempt("note", lambda: _plain_text("note", note, multiline=True))

    if problems:
        raise InvalidRequest(problems)
    return Draft(first_name, last_name, local, fwd, text)


def check_rate(reg: Registry, settings: Settings, client: str | None, forward: str):
    web = settings.web
    if client:
        recent = reg.conn.execute(
            "SELECT count(*) AS n FROM account_requests "
            "WHERE client = %s AND created_at > now() - interval '1 hour'",
            (client,),
        ).fetchone()["n"]
        if recent >= web.rate_per_client:
            raise RateLimited(
                f"too many requests from {client}: at most "
                f"{web.rate_per_client} an hour; try again later"
            )

    recent = reg.conn.execute(
        "SELECT count(*) AS n FROM account_requests "
        "WHERE lower(forward) = lower(%s) AND created_at > now() - interval '1 day'",
        (forward,),
    ).fetchone()["n"]
    if recent >= web.rate_per_address:
        raise RateLimited(
            f"too many requests for {forward}: at most "
            f"{web.rate_per_address} a day; try again tomorrow"
        )


# --- tokens -------------------------------------------------------------------


def _digest(raw: str) -> bytes:
    return hashlib.sha256(raw.encode("ascii", "replace")).digest()


def _issue(reg: Registry, purpose: str, lifetime: timedelta, **owner) -> str:
    raw = secrets.token_urlsafe(32)
    reg.conn.execute(
        "INSERT INTO web_tokens (digest, purpose, request_id, account_id, expires_at) "
        "VALUES (%s, %s, %s, %s, now() + %s)",
        (
            _digest(raw),
            purpose,
            owner.get("request_id"),
            owner.get("account_id"),
            lifetime,
        ),
    )
    return raw


def _token(reg: Registry, raw: str, purpose: str, lock: bool = False) -> dict:
    if not raw or len(raw) > _TOKEN_MAX:
        raise TokenRefused("unknown")
    row = reg.conn.execute(
        "SELECT *, expires_at <= now() AS expired FROM web_tokens "
        "WHERE digest = %s AND purpose = %s" + (" FOR UPDATE" if lock else ""),
        (_digest(raw), purpose),
    ).fetchone()
    if row is None:
        raise TokenRefused("unknown")
    if row["revoked_at"] is not None:
        raise TokenRefused("revoked")
    if row["expired"]:
        raise TokenRefused("expired")
    return row


def _use(reg: Registry, token: dict) -> None:
    reg.conn.execute(
        "UPDATE web_tokens SET used_at = now() WHERE digest = %s", (token["digest"],)
    )


# --- reading requests -----------------------------------------------------------

_SELECT = """
SELECT r.*, ad.local_part AS account_local_part
  FROM account_requests r
  LEFT JOIN addresses ad ON ad.account_id = r.account_id AND ad.is_current
"""


def _stamp(value) -> str | None:
    return value.isoformat() if value else None


def describe(reg: Registry, row: dict) -> dict:
    """A request as operators see it (show, list, --json)."""
    account = row["account_local_part"]
    return {
        "id": row["id"],
        "status": row["status"],
        "address": reg.address(row["local_part"]),
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "forward": row["forward"],
        "note": row["note"],
        "language": row["language"],
        "client": row["client"],
        "created_at": _stamp(row["created_at"]),
        "confirmed_at": _stamp(row["confirmed_at"]),
        "decided_at": _stamp(row["decided_at"]),
        "decided_by": row["decided_by"],
        "reason": row["reason"],
        "account": reg.address(account) if account else None,
    }


def _find(reg: Registry, request_id: int, lock: bool = False) -> dict:
    row = reg.conn.execute(
        _SELECT + " WHERE r.id = %s" + (" FOR UPDATE OF r" if lock else ""),
        (request_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no request has the id {request_id}")
    return row


def show(reg: Registry, request_id: int) -> dict:
    return describe(reg, _find(reg, request_id))


def listing(reg: Registry, status: str | None = None) -> list[dict]:
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"unknown status: {status!r} (choose one of {', '.join(STATUSES)})"
        )
    where, params = (" WHERE r.status = %s", (status,)) if status else ("", ())
    rows = reg.conn.execute(_SELECT + where + " ORDER BY r.id", params)
    return [describe(reg, row) for row in rows]


# --- the applicant's side -------------------------------------------------------


def submit(
    reg: Registry,
    settings: Settings,
    draft: Draft,
    client: str | None,
    language: str = "it",
) -> int:
    """Record a request and mail the confirmation link to its forward."""
    check_rate(reg, settings, client, draft.forward)

    row = reg.conn.execute(
        "INSERT INTO account_requests (first_name, last_name, local_part, forward, "
        "note, language, client) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            draft.first_name,
            draft.last_name,
            draft.local_part,
            draft.forward,
            draft.note,
            language,
            client,
        ),
    ).fetchone()
    hours = settings.web.confirm_hours
    raw = _issue(reg, "confirm", timedelta(hours=hours), request_id=row["id"])

    from .mailer import Mailer  # jinja2: only the commands that send mail

    mailer = Mailer.from_settings(settings)
    mailer.send(
        mailer.compose(
            "verify",
            language,
            draft.forward,
            first_name=draft.first_name,
            last_name=draft.last_name,
            address=reg.address(draft.local_part),
            forward=draft.forward,
            hours=hours,
            link=public_url(settings) + CONFIRM_PATH + raw,
        )
    )
    log.info(
        "request %d for %s recorded, awaiting confirmation", row["id"], draft.local_part
    )
    return row["id"]


def confirmable(reg: Registry, raw: str) -> dict:
    """The request a confirmation link would confirm, if it still can."""
    token = _token(reg, raw, "confirm")
    if token["used_at"] is not None:
        raise TokenRefused("used")
    return show(reg, token["request_id"])


def confirm(reg: Registry, raw: str) -> dict:
    """Follow a confirmation link: the request goes to the operators."""
    token = _token(reg, raw, "confirm", lock=True)
    if token["used_at"] is not None:
        raise TokenRefused("used")
    _use(reg, token)

    updated = reg.conn.execute(
        "UPDATE account_requests SET status = 'pending', confirmed_at = now() "
        "WHERE id = %s AND status = 'unconfirmed' RETURNING id",
        (token["request_id"],),
    ).fetchone()
    if updated is None:
        raise TokenRefused("used")
    log.info("request %d confirmed, pending approval", token["request_id"])
    return show(reg, token["request_id"])


# --- the operator's side --------------------------------------------------------


def _pending(reg: Registry, request_id: int) -> dict:
    row = _find(reg, request_id, lock=True)
    if row["status"] == "pending":
        return row
    if row["status"] == "unconfirmed":
        raise Conflict(
            f"request {request_id} is unconfirmed: the applicant has not yet "
            "followed the link sent to the forward address"
        )
    raise Conflict(f"request {request_id} is already {row['status']}")


def approve(
    reg: Registry,
    settings: Settings,
    request_id: int,
    plan: str | None = None,
    first: str | None = None,
    last: str | None = None,
) -> dict:
    """Create the account of a pending request and send the welcome message.

    FIRST/LAST replace the names asked for, e.g. to tell apart two people
    whose names give the same address.
    """
    plan_name = get_plan(plan or DEFAULT_PLAN).name
    row = _pending(reg, request_id)

    # The user chooses a password on the setup page; the one generated
    # here is never shown to anyone.
    outcome = accounts.create(
        reg,
        first or row["first_name"],
        last or row["last_name"],
        row["forward"],
        plan_name,
    )
    local = outcome.account["address"].split("@")[0]
    account_id = _account_id(reg, local)
    reg.conn.execute(
        "UPDATE account_requests SET status = 'approved', account_id = %s, "
        "decided_by = %s, decided_at = now() WHERE id = %s",
        (account_id, reg.operator, request_id),
    )
    audit.record(
        reg.conn,
        reg.operator,
        "request.approve",
        local,
        None,
        {"request": request_id, "plan": plan_name},
    )

    _send_welcome(reg, settings, outcome.account, account_id, row["language"])
    log.info("request %d approved by %s: %s", request_id, reg.operator, local)
    return show(reg, request_id)


def reject(
    reg: Registry, settings: Settings, request_id: int, reason: str | None = None
) -> dict:
    """Refuse a pending request and tell the applicant, courteously."""
    text = _plain_text("reason", reason, multiline=False) if reason else None
    row = _pending(reg, request_id)

    reg.conn.execute(
        "UPDATE account_requests SET status = 'rejected', reason = %s, "
        "decided_by = %s, decided_at = now() WHERE id = %s",
        (text, reg.operator, request_id),
    )
    audit.record(
        reg.conn,
        reg.operator,
        "request.reject",
        f"request {request_id}",
        None,
        {"request": request_id, "reason": text},
    )

    from .mailer import Mailer  # jinja2: only the commands that send mail

    mailer = Mailer.from_settings(settings)
    mailer.send(
        mailer.compose(
            "reject",
            row["language"],
            row["forward"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            address=reg.address(row["local_part"]),
            reason=text,
        )
    )
    log.info("request %d rejected by %s", request_id, reg.operator)
    return show(reg, request_id)


def _account_id(reg: Registry, local: str) -> int:
    return reg.conn.execute(
        "SELECT account_id FROM addresses WHERE local_part = %s", (local,)
    ).fetchone()["account_id"]


def _send_welcome(
    reg: Registry, settings: Settings, account: dict, account_id: int, language: str
) -> None:
    """Replace any earlier setup link by a new one and mail it."""
    reg.conn.execute(
        "UPDATE web_tokens SET revoked_at = now() "
        "WHERE account_id = %s AND purpose = 'setup' AND revoked_at IS NULL",
        (account_id,),
    )
    days = settings.web.setup_days
    raw = _issue(reg, "setup", timedelta(days=days), account_id=account_id)

    plan = PLANS[account["plan"]]
    from .mailer import Mailer  # jinja2: only the commands that send mail

    mailer = Mailer.from_settings(settings)
    mailer.send(
        mailer.compose(
            "welcome",
            language,
            account["forward"],
            first_name=account["first_name"],
            last_name=account["last_name"],
            address=account["address"],
            plan=plan.name,
            forward=account["forward"],
            needs_password=plan.needs_password,
            days=days,
            link=public_url(settings) + SETUP_PATH + raw,
        )
    )


def welcome(reg: Registry, settings: Settings, address: str) -> dict:
    """Send an account a new setup link; earlier links stop working."""
    row = accounts.find(reg, address, lock=True)
    account = accounts.describe(reg, row)
    if row["status"] != "active":
        raise Conflict(f"account {account['address']} is {row['status']}")
    if not row["forward"]:
        raise InvalidInput(
            f"account {account['address']} has no forward address to send the "
            "welcome message to; set one with `exteri-mail account forward`"
        )

    last_request = reg.conn.execute(
        "SELECT language FROM account_requests WHERE account_id = %s "
        "ORDER BY id DESC LIMIT 1",
        (row["id"],),
    ).fetchone()
    language = last_request["language"] if last_request else LANGUAGES[0]
    _send_welcome(reg, settings, account, row["id"], language)
    audit.record(
        reg.conn,
        reg.operator,
        "account.welcome",
        row["local_part"],
        None,
        {"sent_to": row["forward"]},
    )
    log.info("welcome for %s sent by %s", row["local_part"], reg.operator)
    return account


# --- the setup page -------------------------------------------------------------


def _setup_account(reg: Registry, token: dict) -> dict:
    local = reg.conn.execute(
        "SELECT local_part FROM addresses WHERE account_id = %s AND is_current",
        (token["account_id"],),
    ).fetchone()["local_part"]
    row = accounts.find(reg, reg.address(local))
    if row["status"] != "active":
        raise TokenRefused("revoked")
    return accounts.describe(reg, row)


def setup_view(reg: Registry, raw: str) -> SetupView:
    """What the setup page behind a link shows."""
    token = _token(reg, raw, "setup")
    account = _setup_account(reg, token)
    plan = PLANS[account["plan"]]
    settable = plan.needs_password and token["used_at"] is None
    return SetupView(account, plan, settable, token["expires_at"])


def set_password(reg: Registry, raw: str, password: str) -> dict:
    """Choose the password once per setup link."""
    token = _token(reg, raw, "setup", lock=True)
    account = _setup_account(reg, token)
    if not PLANS[account["plan"]].needs_password:
        raise InvalidInput(f"plan {account['plan']} has no password")
    if token["used_at"] is not None:
        raise TokenRefused("used")
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(f"password is shorter than {PASSWORD_MIN} characters")

    accounts.reset_password(reg, account["address"], password)
    _use(reg, token)
    return account
