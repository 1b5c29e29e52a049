"""Prompt recovery after a PostgreSQL outage.

Postfix's pgsql client marks a database host that failed as dead for 60
seconds, separately in every process that tried it (proxymap, smtpd,
cleanup...); after the database is back those processes keep answering
451 until their mark expires, and each client retry can land on another
stale process. Dovecot's pooled connections likewise take ~20 s to retry.
The watcher notices the registry coming back and restarts those
processes at once (`postfix reload`, `doveadm reload`), then flushes the
queue so mail deferred during the outage goes out now.
"""

import logging
import time
from datetime import datetime

import psycopg

from ..settings import Settings
from .daemons import Dovecot, Postfix, run

log = logging.getLogger("exteri_mail.watch")


def registry_started_at(mail_dsn: str) -> datetime | None:
    """When the registry's server started, as the mail role sees it; None
    when it cannot read its views right now."""
    try:
        with psycopg.connect(mail_dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1 FROM mail_domains LIMIT 1")
            return conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    except psycopg.Error:
        return None


def recover(s: Settings) -> None:
    postfix = Postfix(s.path("postfix_dir"))
    dovecot = Dovecot(s.path("dovecot_dir") / "dovecot.conf", s.path("dovecot_run_dir"))
    if dovecot.running():
        run(["doveadm", "-c", str(dovecot.config_file), "reload"], check=False)
    if postfix.running():
        run(["postfix", "-c", str(postfix.config_dir), "reload"], check=False)
        postfix.flush()


def watch(s: Settings, interval: float = 1.0) -> None:
    # A restart quicker than one probe still breaks the daemons' pooled
    # connections: a new start time counts as an outage that has ended.
    last = registry_started_at(s.mail_dsn)
    while True:
        time.sleep(interval)
        now = registry_started_at(s.mail_dsn)
        if now is None and last is not None:
            log.warning(
                "registry unreachable: mail is deferred with 4xx until it is back"
            )
        elif now is not None and now != last:
            log.warning(
                "registry back (started %s): reloading postfix and dovecot, "
                "flushing the queue",
                now,
            )
            recover(s)
        last = now
