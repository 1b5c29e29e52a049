"""Submission: the From header must be an address of the logged-in user.

Postfix's reject_sender_login_mismatch judges only the envelope sender, so
a user could still put another user's address (or anyone's) in From, and
the DKIM signer would sign it for our domain. This milter sits on the
submission ports, before the signer, and refuses such a message with 553;
when the registry cannot answer it asks the client to retry (4xx).
"""

import logging
from email.utils import getaddresses

import Milter
import psycopg
from psycopg_pool import ConnectionPool

from ..settings import Settings

log = logging.getLogger("exteri_mail.fromcheck")

_OWNED = (
    "SELECT 1 FROM mail_sender_logins "
    "WHERE local_part = %s AND domain = %s AND login = %s"
)


def judge(conn: psycopg.Connection, login: str, from_headers: list[str]) -> str | None:
    """Why the message may not go out as LOGIN, or None when it may."""
    if len(from_headers) != 1:
        return f"a message needs exactly one From header, not {len(from_headers)}"
    addresses = [address for _, address in getaddresses(from_headers)]
    if not addresses or not all(addresses):
        return "the From header holds no address"
    for address in addresses:
        local, _, domain = address.lower().rpartition("@")
        key = (local.split("+", 1)[0], domain, login)
        if conn.execute(_OWNED, key).fetchone() is None:
            return f"From <{address}> is not an address of {login}"
    return None


class FromCheck(Milter.Base):
    pool: ConnectionPool | None = None

    def __init__(self) -> None:
        self.login: str | None = None
        self.from_headers: list[str] = []

    def envfrom(self, mailfrom, *params):
        login = self.getsymval("{auth_authen}")
        self.login = login.lower() if login else None
        self.from_headers = []
        return Milter.CONTINUE

    def header(self, name, value):
        if name.lower() == "from":
            self.from_headers.append(value)
        return Milter.CONTINUE

    def eom(self):
        if self.login is None:  # not on a submission port: nothing to judge
            return Milter.ACCEPT
        try:
            with self.pool.connection() as conn:
                reason = judge(conn, self.login, self.from_headers)
        except psycopg.Error as exc:
            log.warning("registry unavailable, deferring: %s", exc)
            self.setreply("451", "4.3.0", "cannot check the From header now, retry")
            return Milter.TEMPFAIL
        if reason is None:
            return Milter.ACCEPT
        log.info("refused for %s: %s", self.login, reason)
        self.setreply("553", "5.7.1", reason)
        return Milter.REJECT


def serve(s: Settings) -> None:
    # Connections are checked on checkout: after a database restart a
    # pooled one is dead, and the message would be deferred for nothing.
    FromCheck.pool = ConnectionPool(
        s.mail_dsn,
        min_size=0,
        max_size=4,
        check=ConnectionPool.check_connection,
        open=True,
    )
    Milter.factory = FromCheck
    log.info("from check listening on 127.0.0.1:%d", s.ports.from_check)
    Milter.runmilter("exteri-fromcheck", f"inet:{s.ports.from_check}@127.0.0.1", 30)
