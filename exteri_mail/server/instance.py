"""A self-contained instance on loopback: PostgreSQL, Postfix, Dovecot.

Everything lives under one state directory (config trees, queue, logs,
Maildirs, TLS pair, the instance's exteri-mail.toml), so several can run
side by side on other ports and the whole thing is removed with one rm.
"""

import logging
import os
import pwd
import secrets
import subprocess
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict
from pydantic import ValidationError

from .. import (
    db,
    postgres,
    webmail,  # issue 5
)
from .. import settings as settings_mod
from ..dns import helpers as deliverability  # issue 6
from ..dns import mta_sts
from ..errors import InvalidInput
from ..settings import Settings
from . import background
from .apply import Applied, apply, daemons
from .daemons import Postfix
from .tls import ensure_self_signed

log = logging.getLogger("exteri_mail.server")

CONFIG_NAME = "exteri-mail.toml"
# Started after Postfix and Dovecot: the registry watcher and the From check.
OUR_DAEMONS = ("watch", "fromcheck", "web", "bouncefilter")


def config_file(state_dir: Path) -> Path:
    return state_dir / CONFIG_NAME


def _new_settings(state_dir: Path, db_name: str) -> Settings:
    database = postgres.Database(db_name, secrets.token_hex(16), secrets.token_hex(16))
    return Settings(state_dir=state_dir, dsn=database.admin_dsn,
                    mail_dsn=database.mail_dsn, test_domains=True, instance=True)


def _database(s: Settings) -> postgres.Database:
    admin, mail = conninfo_to_dict(s.dsn), conninfo_to_dict(s.mail_dsn)
    return postgres.Database(admin["dbname"], admin["password"], mail["password"],
                             host=admin.get("host", "127.0.0.1"),
                             port=int(admin.get("port", 5432)))


def load_or_create(state_dir: Path, db_name: str, **changes) -> Settings:
    path = config_file(state_dir)
    s = settings_mod.load(path) if path.is_file() else _new_settings(state_dir, db_name)
    updates = {k: v for k, v in changes.items() if v is not None}
    if path.is_file() and "ports" in updates and updates["ports"] != s.ports:
        raise InvalidInput(
            f"the instance in {state_dir} already has its ports; --port-offset "
            "applies to a new instance (give another --state-dir)"
        )
    if updates:
        try:
            s = Settings(**{**s.model_dump(), **updates})
        except ValidationError as exc:
            raise InvalidInput(settings_mod.first_error(exc)) from None
    settings_mod.dump(s, path)
    return s


def ensure_vmail_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/nonexistent",
                        "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
        log.info("created system user %s", name)


def _prepare_dirs(s: Settings) -> None:
    vmail = pwd.getpwnam(s.vmail_user)
    for name in ("log_dir", "dovecot_run_dir", "dovecot_state_dir", "postfix_data_dir"):
        s.path(name).mkdir(parents=True, exist_ok=True)
    s.path("postfix_queue_dir").mkdir(parents=True, exist_ok=True)
    postfix = pwd.getpwnam("postfix")
    os.chown(s.path("postfix_data_dir"), postfix.pw_uid, postfix.pw_gid)
    vmail_dir = s.path("vmail_dir")
    vmail_dir.mkdir(parents=True, exist_ok=True)
    os.chown(vmail_dir, vmail.pw_uid, vmail.pw_gid)
    vmail_dir.chmod(0o700)
    s.state_dir.chmod(0o755)


def up(state_dir: Path, db_name: str = "exterimail", **changes) -> tuple[Settings, Applied]:
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    s = load_or_create(state_dir, db_name, **changes)

    database = _database(s)
    postgres.ensure_database(database)
    with db.transaction(s.dsn) as conn:
        db.init(conn, s.primary_domain, s.alias_domain, database.mail_role)

    ensure_vmail_user(s.vmail_user)
    _prepare_dirs(s)
    ensure_self_signed(s.path("tls_cert"), s.path("tls_key"), s.hostname,
                       mta_sts.host_names(s))
    # Both before Postfix takes mail: submission asks the From check, and
    # the watcher covers the first outage too.
    config = config_file(state_dir)
    if s.runs_mx:
        background.start(s, config, "fromcheck", port=s.ports.from_check)
        deliverability.start_bouncefilter(s, config)  # issue 6
    background.start(s, config, "watch")
    result = apply(s)
    # The request form and client autoconfiguration (after Postfix: it
    # sends the confirmation mail through it).
    if s.runs_mx:
        background.start(s, config, "web", port=s.ports.web, args=("web",))
    return s, result


def down(s: Settings) -> None:
    for helper in OUR_DAEMONS:
        background.stop(s, helper)
    postfix, dovecot = daemons(s)
    postfix.stop()
    dovecot.stop()
    deliverability.down(s)  # SRS and DKIM helpers (issue 6)
    webmail.stop(s)  # Roundcube's nginx and php-fpm, when running (issue 5)


def _running(s: Settings) -> dict[str, bool]:
    """Every daemon this host runs (Settings.runs) and whether it does."""
    postfix, dovecot = daemons(s)
    running = {"watch": background.running_pid(s, "watch") is not None}
    if s.runs_mx:
        srs, dkim = deliverability.daemons(s)
        forwarder = Postfix(deliverability.forwarder_paths(s)["config_dir"])
        running |= {
            "postfix": postfix.running(),
            "postsrsd": srs.running(),
            "opendkim": dkim.running(),
            "forwarder": forwarder.running(),
            "fromcheck": background.running_pid(s, "fromcheck") is not None,
            "web": background.running_pid(s, "web") is not None,
            "bouncefilter": background.running_pid(s, "bouncefilter") is not None,
        }
    if s.runs_imap:
        running["dovecot"] = dovecot.running()
    return running


def _endpoints(s: Settings) -> dict[str, str]:
    host = s.listen[0]
    endpoints = {}
    if s.runs_mx:
        endpoints |= {
            "smtp": f"smtp://{host}:{s.ports.smtp}",
            "submission": f"smtp+starttls://{host}:{s.ports.submission}",
            "submissions": f"smtps://{host}:{s.ports.submissions}",
        }
    if s.runs_imap:
        endpoints |= {
            "imap": f"imap+starttls://{host}:{s.ports.imap}",
            "imaps": f"imaps://{host}:{s.ports.imaps}",
            "pop3": f"pop3+starttls://{host}:{s.ports.pop3}",
            "pop3s": f"pop3s://{host}:{s.ports.pop3s}",
        }
    return endpoints


def status(s: Settings) -> dict:
    host = s.listen[0]
    return {
        "state_dir": str(s.state_dir),
        "config": str(config_file(s.state_dir)),
        "registry": db.describe(s.dsn),
        "runs": s.runs,
        "running": _running(s),
        "endpoints": _endpoints(s),
        "relay": s.relay,
        "web": f"http://{host}:{s.ports.web}/" if s.runs_mx else None,
        "webmail": webmail.status(s),  # issue 5
    }
