"""Connections to the registry and the schema that `db init` applies."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from .errors import InvalidInput, RegistryUnavailable
from .plans import PLANS
from .resources import resource

log = logging.getLogger("exteri_mail.db")

MAIL_VIEWS = (
    "mail_domains",
    "mail_aliases",
    "mail_mailboxes",
    "mail_sender_logins",
    "mail_logins",
    "mail_users",
)
SCHEMA_VERSION = "1"


def describe(dsn: str) -> str:
    """Where DSN points, without its password, for error messages."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparsable DSN)"
    host = info.get("host", "local socket")
    where = f"{host}:{info.get('port', 5432)}/{info.get('dbname', '?')}"
    return f"{info.get('user', '?')}@{where}"


@contextmanager
def transaction(dsn: str) -> Iterator[psycopg.Connection]:
    """One connection, one transaction: committed on success, else rolled back."""
    if not dsn.strip():
        raise InvalidInput("the registry DSN is empty (--dsn or EXTERI_MAIL_DSN)")
    try:
        conn = psycopg.connect(dsn, row_factory=dict_row, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RegistryUnavailable(
            f"cannot reach the registry {describe(dsn)}: {_reason(exc)}"
        ) from None
    except psycopg.ProgrammingError as exc:
        raise InvalidInput(f"the registry DSN is not valid: {_reason(exc)}") from None
    with conn:
        with conn.transaction():
            yield conn


def _reason(exc: psycopg.Error) -> str:
    """The cause in libpq's message, without its host preamble and hints."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0].rsplit(" failed: ", 1)[-1] if lines else "refused"


def init(conn: psycopg.Connection, primary: str, alias: str, mail_role: str) -> None:
    """Create or upgrade the schema, sync plans and domains, grant the views."""
    conn.execute(resource("schema.sql").read_text())

    conn.execute(
        "INSERT INTO schema_meta (key, value) VALUES ('version', %s) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        (SCHEMA_VERSION,),
    )
    _sync_plans(conn)
    _sync_domains(conn, primary, alias)
    grant_mail_role(conn, mail_role)


def _sync_plans(conn: psycopg.Connection) -> None:
    for plan in PLANS.values():
        conn.execute(
            """
            INSERT INTO plans (name, forward_required, submission, mailbox,
                               imap, pop3, quota_bytes)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (name) DO UPDATE SET
                forward_required = EXCLUDED.forward_required,
                submission = EXCLUDED.submission, mailbox = EXCLUDED.mailbox,
                imap = EXCLUDED.imap, pop3 = EXCLUDED.pop3,
                quota_bytes = EXCLUDED.quota_bytes
            """,
            (
                plan.name,
                plan.forward_required,
                plan.submission,
                plan.mailbox,
                plan.imap,
                plan.pop3,
                plan.quota_bytes,
            ),
        )


def _sync_domains(conn: psycopg.Connection, primary: str, alias: str) -> None:
    conn.execute("DELETE FROM domains")
    conn.execute(
        "INSERT INTO domains (name, kind) VALUES (%s, 'primary'), (%s, 'alias')",
        (primary, alias),
    )


def grant_mail_role(conn: psycopg.Connection, role: str) -> None:
    """The mail-server role may SELECT the mail_* views and nothing else."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    if exists.fetchone() is None:
        log.warning("mail-server role %s does not exist; no grants made", role)
        return
    ident = sql.Identifier(role)
    conn.execute(
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(ident)
    )
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
    views = sql.SQL(", ").join(sql.Identifier(v) for v in MAIL_VIEWS)
    conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(views, ident))


def role_of(dsn: str) -> str:
    return conninfo_to_dict(dsn).get("user", "")
