"""The append-only audit log of operator actions.

Values recorded are profile fields only: never a password, hash or token.
"""

import getpass
import os

from psycopg import Connection
from psycopg.types.json import Jsonb

from .errors import InvalidInput

SECRET_FIELDS = frozenset({"password", "password_hash", "token"})


OPERATOR_MAX = 64


def current_operator(explicit: str | None = None) -> str:
    if explicit is None:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    name = explicit.strip()
    if not name:
        raise InvalidInput("operator name is empty")
    if len(name) > OPERATOR_MAX or not name.isprintable():
        raise InvalidInput(
            f"operator name must be printable and at most {OPERATOR_MAX} characters"
        )
    return name


def _scrub(values: dict | None) -> Jsonb | None:
    if values is None:
        return None
    return Jsonb({k: v for k, v in values.items() if k not in SECRET_FIELDS})


def record(
    conn: Connection,
    operator: str,
    action: str,
    target: str | None,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    conn.execute(
        "INSERT INTO audit_log (operator, action, target, before, after) "
        "VALUES (%s, %s, %s, %s, %s)",
        (operator, action, target, _scrub(before), _scrub(after)),
    )


def entries(
    conn: Connection, address: str | None = None, limit: int = 1000
) -> list[dict]:
    if address is None:
        cur = conn.execute(
            "SELECT id, at, operator, action, target, before, after FROM audit_log "
            "ORDER BY id DESC LIMIT %s",
            (limit,),
        )
    else:
        # An account's entries are filed under whichever address it had then.
        cur = conn.execute(
            """
            SELECT id, at, operator, action, target, before, after FROM audit_log
             WHERE target IN (SELECT local_part FROM addresses WHERE account_id =
                                (SELECT account_id FROM addresses WHERE local_part = %s))
             ORDER BY id DESC LIMIT %s
            """,
            (address, limit),
        )
    return list(reversed(cur.fetchall()))
