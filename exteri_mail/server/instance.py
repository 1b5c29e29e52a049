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
OUR_DAEMONS = ("watch", "fromcheck", "web")


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
    background.start(s, config, "fromcheck", port=s.ports.from_check)
    background.start(s, config, "watch")
    result = apply(s)
    # The request form and client autoconfiguration (after Postfix: it
    # sends the confirmation mail through it).
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
    postfix, dovecot = daemons(s)
    srs, dkim = deliverability.daemons(s)
    forwarder = Postfix(deliverability.forwarder_paths(s)["config_dir"])
    return {
        "postfix": postfix.running(),
        "dovecot": dovecot.running(),
        "postsrsd": srs.running(),
        "opendkim": dkim.running(),
        "forwarder": forwarder.running(),
        **{name: background.running_pid(s, name) is not None for name in OUR_DAEMONS},
    }


def status(s: Settings) -> dict:
    host = s.listen[0]
    url = lambda scheme, port: f"{scheme}://{host}:{port}"  # noqa: E731
    return {
        "state_dir": str(s.state_dir),
        "config": str(config_file(s.state_dir)),
        "registry": db.describe(s.dsn),
        "running": _running(s),
        "endpoints": {
            "smtp": url("smtp", s.ports.smtp),
            "submission": url("smtp+starttls", s.ports.submission),
            "submissions": url("smtps", s.ports.submissions),
            "imap": url("imap+starttls", s.ports.imap),
            "imaps": url("imaps", s.ports.imaps),
            "pop3": url("pop3+starttls", s.ports.pop3),
            "pop3s": url("pop3s", s.ports.pop3s),
        },
        "relay": s.relay,
        "web": f"http://{host}:{s.ports.web}/",
        "webmail": webmail.status(s),  # issue 5
    }
