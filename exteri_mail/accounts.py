"""Use cases on accounts: each runs inside the caller's one transaction."""

import logging
import re
from dataclasses import dataclass

import psycopg
from psycopg import Connection, sql

from . import audit, names, passwords
from .errors import Conflict, InvalidInput, NotFound
from .plans import DEFAULT_PLAN, PLANS, get_plan

log = logging.getLogger("exteri_mail.accounts")

STATUSES = ("active", "suspended", "closed")
# What the audit log records of an account: profile fields, never secrets.
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "plan",
    "status",
    "forward",
    "alias",
    "quota_bytes",
)


@dataclass
class Registry:
    """The open transaction plus what every use case needs to know."""

    conn: Connection
    primary_domain: str
    alias_domain: str
    operator: str
    # Lets forwards point at reserved test domains (ext.test) on a lab instance.
    test_domains: bool = False

    def address(self, local_part: str, alias: bool = False) -> str:
        return f"{local_part}@{self.alias_domain if alias else self.primary_domain}"


@dataclass
class Outcome:
    account: dict
    password: str | None = None
    notes: tuple[str, ...] = ()


# --- reading ---------------------------------------------------------------

_SELECT = """
SELECT ac.*, ad.local_part,
       (SELECT array_agg(o.local_part ORDER BY o.created_at) FROM addresses o
         WHERE o.account_id = ac.id AND NOT o.is_current) AS former
  FROM accounts ac JOIN addresses ad ON ad.account_id = ac.id AND ad.is_current
"""


def local_part_of(reg: Registry, address: str) -> str:
    """The local part of ADDRESS, given in either of our domains, any case."""
    text = address.strip()
    if text.count("@") != 1:
        raise InvalidInput(
            f"not an address: {address!r} (expected nome.cognome@{reg.primary_domain})"
        )
    local, domain = text.lower().split("@")
    if domain not in (reg.primary_domain, reg.alias_domain):
        raise InvalidInput(
            f"{address!r} is not in {reg.primary_domain} or {reg.alias_domain}"
        )
    return local.split("+", 1)[0]


def find(reg: Registry, address: str, lock: bool = False) -> dict:
    local = local_part_of(reg, address)
    query = (
        _SELECT
        + " WHERE ac.id = (SELECT account_id FROM addresses WHERE local_part = %s)"
    )
    row = reg.conn.execute(
        query + (" FOR UPDATE OF ac" if lock else ""), (local,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no account has the address {address.strip()!r}")
    return row


def describe(reg: Registry, row: dict) -> dict:
    """The account as operators see it (show, list, --json)."""
    plan = PLANS[row["plan"]]
    return {
        "address": reg.address(row["local_part"]),
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "plan": row["plan"],
        "status": row["status"],
        "forward": row["forward"],
        "alias": reg.address(row["local_part"], alias=True)
        if row["alias_enabled"]
        else None,
        "quota_bytes": (row["quota_bytes"] or plan.quota_bytes)
        if plan.mailbox
        else None,
        "services": list(plan.login_services) if row["status"] == "active" else [],
        "former_addresses": [reg.address(lp) for lp in row["former"] or ()],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def show(reg: Registry, address: str) -> dict:
    return describe(reg, find(reg, address))


def listing(
    reg: Registry, plan: str | None = None, status: str | None = None
) -> list[dict]:
    clauses, params = [], []
    if plan is not None:
        clauses.append("ac.plan = %s")
        params.append(get_plan(plan).name)
    if status is not None:
        clauses.append("ac.status = %s")
        params.append(_check_status(status))
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = reg.conn.execute(_SELECT + where + " ORDER BY ad.local_part", params)
    return [describe(reg, row) for row in rows]


def _check_status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidInput(
            f"unknown status: {status!r} (choose one of {', '.join(STATUSES)})"
        )
    return status


# --- validation ------------------------------------------------------------


def check_forward(reg: Registry, forward: str, own_local: str | None = None) -> str:
    from email_validator import EmailNotValidError, validate_email

    text = forward.strip()
    try:
        result = validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=False,
            test_environment=reg.test_domains,
        )
    except EmailNotValidError as exc:
        raise InvalidInput(f"forward address {text!r} is not valid: {exc}") from None
    domain = result.ascii_domain.lower()
    ours = (reg.primary_domain, reg.alias_domain)
    if any(domain == d or domain.endswith("." + d) for d in ours):
        what = (
            "the account itself"
            if own_local and result.local_part.lower().split("+")[0] == own_local
            else "our own domains"
        )
        raise InvalidInput(
            f"forward address {text!r} points into {what}: forwarding into "
            f"{reg.primary_domain} or {reg.alias_domain} (or their hosts) makes a loop"
        )
    return f"{result.local_part}@{domain}"


def _check_forward_for_plan(
    plan_name: str, forward: str | None, how: str = "--forward"
) -> None:
    if get_plan(plan_name).forward_required and not forward:
        raise InvalidInput(
            f"plan {plan_name} forwards mail and needs a forward address ({how})"
        )


def _claim(reg: Registry, local: str, account_id: int, first: str = "") -> None:
    """Give LOCAL to the account for life, or explain who holds it."""
    holder = reg.conn.execute(
        "SELECT ac.id, ac.status FROM addresses ad "
        "JOIN accounts ac ON ac.id = ad.account_id "
        "WHERE ad.local_part = %s",
        (local,),
    ).fetchone()
    if holder is not None and holder["id"] != account_id:
        raise _taken(reg, local, holder["status"], first)
    try:
        with reg.conn.transaction():
            reg.conn.execute(
                "INSERT INTO addresses (local_part, account_id, is_current) "
                "VALUES (%s, %s, true)",
                (local, account_id),
            )
    except psycopg.errors.UniqueViolation:
        # Another operator claimed it between our check and our insert.
        raise _taken(reg, local, "active", first) from None


def _taken(reg: Registry, local: str, status: str, first: str = "") -> Conflict:
    example = f"{first or local.split('.')[0].capitalize()} Maria"
    hint = (
        f"add a further given name to tell the two people apart "
        f"(e.g. --first {example!r}); numbers are never added"
    )
    if status == "closed":
        return Conflict(
            f"address {reg.address(local)} is retired (its account is closed) "
            f"and is never given to anyone else; {hint}"
        )
    return Conflict(f"address {reg.address(local)} is already taken; {hint}")


# --- changing --------------------------------------------------------------


def create(
    reg: Registry,
    first: str,
    last: str,
    forward: str | None = None,
    plan: str = DEFAULT_PLAN,
    alias: bool = False,
    password_hash: str | None = None,
) -> Outcome:
    first_name = names.clean_name("first name", first)
    last_name = names.clean_name("last name", last)
    local = names.local_part(first, last)
    plan_obj = get_plan(plan)
    fwd = check_forward(reg, forward, local) if forward else None
    _check_forward_for_plan(plan_obj.name, fwd)

    password = None
    if plan_obj.needs_password and password_hash is None:
        password = passwords.generate()
        password_hash = passwords.hash_password(password)
    if not plan_obj.needs_password:
        password_hash = None

    row = reg.conn.execute(
        "INSERT INTO accounts (first_name, last_name, plan, forward, "
        "password_hash, alias_enabled) "
        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (first_name, last_name, plan_obj.name, fwd, password_hash, alias),
    ).fetchone()
    _claim(reg, local, row["id"], first_name)

    account = describe(reg, find(reg, reg.address(local)))
    audit.record(
        reg.conn, reg.operator, "account.create", local, None, _profile(account)
    )
    log.info("account %s created on plan %s by %s", local, plan_obj.name, reg.operator)
    return Outcome(account, password)


def _profile(account: dict) -> dict:
    return {k: account[k] for k in PROFILE_FIELDS}


def _update(reg: Registry, row: dict, action: str, changes: dict) -> dict:
    before = _profile(describe(reg, row))
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = %s").format(sql.Identifier(column)) for column in changes
    )
    reg.conn.execute(
        sql.SQL("UPDATE accounts SET {}, updated_at = now() WHERE id = %s").format(
            assignments
        ),
        (*changes.values(), row["id"]),
    )
    after_row = find(reg, reg.address(row["local_part"]))
    after = describe(reg, after_row)
    audit.record(
        reg.conn, reg.operator, action, row["local_part"], before, _profile(after)
    )
    log.info("%s on %s by %s", action, row["local_part"], reg.operator)
    return after


def _open(reg: Registry, address: str) -> dict:
    """The account, locked; a closed one is retired and refuses changes."""
    row = find(reg, address, lock=True)
    if row["status"] == "closed":
        raise Conflict(
            f"account {reg.address(row['local_part'])} is closed; reopen it first"
        )
    return row


def change_plan(reg: Registry, address: str, plan: str) -> Outcome:
    row = _open(reg, address)
    new, old = get_plan(plan), PLANS[row["plan"]]
    if new.name == old.name:
        raise InvalidInput(
            f"account {reg.address(row['local_part'])} is already on plan {new.name}"
        )
    _check_forward_for_plan(
        new.name, row["forward"], "set one first with `exteri-mail account forward`"
    )

    changes: dict = {"plan": new.name, "quota_bytes": None}
    password = None
    if not new.needs_password:
        changes["password_hash"] = None
    elif row["password_hash"] is None:
        password = passwords.generate()
        changes["password_hash"] = passwords.hash_password(password)
    notes = []
    if old.mailbox and not new.mailbox:
        notes.append(
            "the mailbox and its mail are kept; they are reachable again "
            "if the account returns to plan plus"
        )
    account = _update(reg, row, "account.plan", changes)
    return Outcome(account, password, tuple(notes))


def _unchanged(reg: Registry, row: dict, what: str) -> Outcome:
    """A request that changes nothing: no write, so no audit entry claims one."""
    return Outcome(describe(reg, row), notes=(f"{what}; nothing changed",))


def change_forward(reg: Registry, address: str, forward: str | None) -> Outcome:
    row = _open(reg, address)
    fwd = check_forward(reg, forward, row["local_part"]) if forward else None
    _check_forward_for_plan(row["plan"], fwd)
    if fwd == row["forward"]:
        return _unchanged(reg, row, f"the forward address is already {fwd or 'unset'}")
    return Outcome(_update(reg, row, "account.forward", {"forward": fwd}))


def change_alias(reg: Registry, address: str, enabled: bool) -> Outcome:
    row = _open(reg, address)
    if row["alias_enabled"] == enabled:
        state = "on" if enabled else "off"
        return _unchanged(reg, row, f"the alias-domain address is already {state}")
    return Outcome(_update(reg, row, "account.alias", {"alias_enabled": enabled}))


def reset_password(reg: Registry, address: str, password: str | None = None) -> Outcome:
    row = _open(reg, address)
    if not PLANS[row["plan"]].needs_password:
        raise InvalidInput(
            f"plan {row['plan']} has no login, so "
            f"{reg.address(row['local_part'])} has no password"
        )
    given = password is not None
    password = password if given else passwords.generate()
    account = _update(
        reg,
        row,
        "account.password",
        {"password_hash": passwords.hash_password(password)},
    )
    return Outcome(account, None if given else password)


_TRANSITIONS = {
    # action: (statuses it applies to, resulting status)
    "suspend": (("active",), "suspended"),
    "resume": (("suspended",), "active"),
    "close": (("active", "suspended"), "closed"),
    "reopen": (("closed",), "active"),
}


def change_status(reg: Registry, address: str, action: str) -> Outcome:
    row = find(reg, address, lock=True)
    allowed, target = _TRANSITIONS[action]
    if row["status"] not in allowed:
        raise Conflict(
            f"cannot {action} {reg.address(row['local_part'])}: it is {row['status']}"
        )

    changes: dict = {"status": target}
    password = None
    if target == "closed":
        changes["password_hash"] = None
    elif action == "reopen" and PLANS[row["plan"]].needs_password:
        password = passwords.generate()
        changes["password_hash"] = passwords.hash_password(password)
    return Outcome(_update(reg, row, f"account.{action}", changes), password)


def rename(reg: Registry, address: str, first: str, last: str) -> Outcome:
    row = _open(reg, address)
    first_name = names.clean_name("first name", first)
    last_name = names.clean_name("last name", last)
    local = names.local_part(first, last)
    notes = []

    if local != row["local_part"]:
        reg.conn.execute(
            "UPDATE addresses SET is_current = false WHERE account_id = %s",
            (row["id"],),
        )
        mine = reg.conn.execute(
            "UPDATE addresses SET is_current = true "
            "WHERE local_part = %s AND account_id = %s "
            "RETURNING 1",
            (local, row["id"]),
        ).fetchone()
        if mine is None:
            _claim(reg, local, row["id"], first_name)
        notes.append(f"{reg.address(row['local_part'])} keeps working for this account")

    before = _profile(describe(reg, row))
    reg.conn.execute(
        "UPDATE accounts SET first_name = %s, last_name = %s, updated_at = now() "
        "WHERE id = %s",
        (first_name, last_name, row["id"]),
    )
    account = describe(reg, find(reg, reg.address(local)))
    audit.record(
        reg.conn,
        reg.operator,
        "account.rename",
        local,
        {**before, "address": reg.address(row["local_part"])},
        {**_profile(account), "address": account["address"]},
    )
    return Outcome(account, None, tuple(notes))


_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
MAX_QUOTA = 1024**4


def parse_size(text: str) -> int | None:
    """'100K' -> 102400; 'default' -> None (the plan's quota)."""
    if text.strip().lower() == "default":
        return None
    match = _SIZE_RE.match(text)
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(
            f"size {text!r} is not valid (e.g. 100K, 50M, 2G or default)"
        )
    size = int(match.group(1)) * _UNITS[match.group(2).upper()]
    if size > MAX_QUOTA:
        raise InvalidInput(f"size {text!r} is larger than the 1T a mailbox may have")
    return size


def set_quota(reg: Registry, address: str, size: str) -> Outcome:
    quota = parse_size(size)
    row = _open(reg, address)
    if not PLANS[row["plan"]].mailbox:
        raise InvalidInput(f"plan {row['plan']} has no mailbox, so no quota to set")
    return Outcome(_update(reg, row, "account.quota", {"quota_bytes": quota}))
