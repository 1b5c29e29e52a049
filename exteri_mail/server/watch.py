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
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from ..settings import Settings
from .daemons import Dovecot, Postfix, run

log = logging.getLogger("exteri_mail.watch")


def registry_reachable(mail_dsn: str) -> bool:
    """Can the mail-server role read its views right now?"""
    try:
        with psycopg.connect(mail_dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1 FROM mail_domains LIMIT 1")
        return True
    except psycopg.Error:
        return False


def recover(s: Settings) -> None:
    postfix = Postfix(s.path("postfix_dir"))
    dovecot = Dovecot(s.path("dovecot_dir") / "dovecot.conf", s.path("dovecot_run_dir"))
    if dovecot.running():
        run(["doveadm", "-c", str(dovecot.config_file), "reload"], check=False)
    if postfix.running():
        run(["postfix", "-c", str(postfix.config_dir), "reload"], check=False)
        postfix.flush()


def watch(s: Settings, interval: float = 1.0) -> None:
    healthy = True
    while True:
        ok = registry_reachable(s.mail_dsn)
        if ok and not healthy:
            log.warning(
                "registry reachable again: reloading postfix and dovecot, "
                "flushing the queue"
            )
            recover(s)
        elif not ok and healthy:
            log.warning(
                "registry unreachable: mail is deferred with 4xx until it is back"
            )
        healthy = ok
        time.sleep(interval)


def pid_file(s: Settings) -> Path:
    return s.path("dovecot_run_dir").parent / "watch.pid"


def running_pid(s: Settings) -> int | None:
    try:
        pid = int(pid_file(s).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start(s: Settings, config: Path) -> None:
    """Run `exteri-mail server watch` in the background, once."""
    if running_pid(s) is not None:
        return
    log_path = s.path("log_dir") / "watch.log"
    with open(log_path, "a") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exteri_mail.cli",
                "--config",
                str(config),
                "server",
                "watch",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    pid_file(s).write_text(str(proc.pid))


def stop(s: Settings) -> None:
    pid = running_pid(s)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
    pid_file(s).unlink(missing_ok=True)
