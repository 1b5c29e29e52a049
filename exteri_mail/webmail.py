"""Roundcube webmail of an instance: nginx and php-fpm on loopback, no systemd.

Roundcube itself comes from Debian's packages (/usr/share/roundcube); each
instance gets its own Roundcube root under STATE_DIR/webmail: symlinks to
the packaged code, plus its config, the exteri_login plugin, an SQLite
database for Roundcube's state, temp and log folders. nginx serves it over
https with the instance's certificate and passes PHP to a php-fpm pool;
both daemons keep their pid files and logs in the same tree. The same
nginx serves the MTA-STS policy of both domains, as a file, on its own port.
"""

import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
import psycopg
from cryptography import x509
from psycopg.conninfo import conninfo_to_dict

from .dns import config as dns_config
from .dns import mta_sts
from .errors import InvalidInput, ServerError
from .server.daemons import run
from .server.render import environment, write_atomic
from .settings import Settings
from .values import WILDCARD_ADDRESSES

log = logging.getLogger("exteri_mail.webmail")

HEADER = (
    "managed by exteri-mail: edits are overwritten by `exteri-mail server up --webmail`"
)

ROUNDCUBE_HOME = Path("/usr/share/roundcube")
ROUNDCUBE_ETC = Path("/etc/roundcube")
PHP_FPM = "php-fpm8.2"
NGINX = "nginx"
WEB_USER = "www-data"
PLUGIN = "exteri_login"
UPLOAD_MAX = "50M"
DEBIAN_PACKAGES = "roundcube-core roundcube-sqlite3 php8.2-fpm php8.2-pgsql nginx-light"

# Roundcube code reached through symlinks from the instance's root.
_CODE_LINKS = {
    "index.php": ROUNDCUBE_HOME / "index.php",
    "program": ROUNDCUBE_HOME / "program",
    "SQL": ROUNDCUBE_HOME / "SQL",
    "skins": ROUNDCUBE_HOME / "skins",
    "config/defaults.inc.php": ROUNDCUBE_ETC / "defaults.inc.php",
    "config/mimetypes.php": ROUNDCUBE_ETC / "mimetypes.php",
    "public_html/plugins": Path("../plugins"),
    "public_html/skins": Path("../skins"),
    "public_html/program/js": Path("../../program/js"),
    "public_html/program/resources": Path("../../program/resources"),
}


@dataclass(frozen=True)
class Layout:
    """Where an instance's webmail files live, below one root folder."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> "Layout":
        return cls(settings.state_dir / "webmail")

    @property
    def roundcube(self) -> Path:
        return self.root / "roundcube"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def web_log_dir(self) -> Path:
        """Logs written by PHP workers, hence owned by the web user."""
        return self.log_dir / "roundcube"

    @property
    def db_dir(self) -> Path:
        return self.root / "db"

    @property
    def database(self) -> Path:
        return self.db_dir / "roundcube.sqlite"

    @property
    def nginx_conf(self) -> Path:
        return self.root / "nginx" / "nginx.conf"

    @property
    def fpm_conf(self) -> Path:
        return self.root / "php-fpm" / "php-fpm.conf"

    @property
    def mta_sts_policy(self) -> Path:
        return self.root / "mta-sts" / "mta-sts.txt"

    @property
    def fpm_socket(self) -> Path:
        return self.run_dir / "php-fpm.sock"

    def pid_file(self, daemon: str) -> Path:
        return self.run_dir / f"{daemon}.pid"


def url(settings: Settings) -> str:
    return f"https://{_host(settings.listen[0])}:{settings.ports.webmail}/"


def mta_sts_url(settings: Settings) -> str:
    port = dns_config.port(settings, "mta_sts_port")
    return f"https://{_host(settings.listen[0])}:{port}{mta_sts.PATH}"


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


# Rendering ----------------------------------------------------------------


def php_literal(value) -> str:
    """VALUE as a PHP literal, for the templates' `php` filter."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(php_literal(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{php_literal(k)} => {php_literal(v)}" for k, v in value.items())
        return "[" + ", ".join(pairs) + "]"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _environment() -> jinja2.Environment:
    env = environment()
    env.filters["php"] = php_literal
    return env


def _registry(mail_dsn: str) -> dict:
    """PDO's form of the mail role's DSN, for the login plugin."""
    try:
        info = conninfo_to_dict(mail_dsn)
    except psycopg.ProgrammingError as exc:
        raise InvalidInput(f"mail_dsn is not a valid PostgreSQL DSN: {exc}") from None
    parts = [
        f"{key}={info[key]}" for key in ("host", "port", "dbname") if info.get(key)
    ]
    if any(";" in part for part in parts):
        raise InvalidInput("mail_dsn: host, port and dbname may not contain ';'")
    return {
        "pdo_dsn": "pgsql:" + ";".join(parts),
        "user": info.get("user", ""),
        "password": info.get("password", ""),
    }


def _tls_options(settings: Settings, peer_name: str) -> dict:
    """How PHP checks Dovecot's and Postfix's certificate.

    The name checked is the mail host name, which every certificate made
    for us carries. A self-signed certificate (an instance's, or a server's
    before it has a real one) is its own trust anchor: pinned, not ignored.
    """
    ssl = {
        "verify_peer": True,
        "verify_peer_name": True,
        "peer_name": peer_name,
    }
    cert = settings.path("tls_cert")
    if _self_signed(cert, default=settings.instance):
        ssl["cafile"] = cert
    return {"ssl": ssl}


def _self_signed(cert: Path, default: bool) -> bool:
    """Whether CERT signed itself; DEFAULT while it does not exist yet."""
    try:
        parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    except FileNotFoundError:
        return default
    return parsed.issuer == parsed.subject


def _mail_host(settings: Settings) -> str:
    """Where Roundcube reaches Dovecot and Postfix: loopback when they
    listen everywhere, else their first address."""
    address = settings.listen[0]
    if address in WILDCARD_ADDRESSES:
        address = "127.0.0.1"
    return _host(address)


def _des_key(layout: Layout) -> str:
    """Roundcube's session encryption key: made once, kept with the state."""
    path = layout.root / "des_key"
    if not path.is_file():
        write_atomic(path, secrets.token_hex(12), 0o600, None)
    return path.read_text().strip()


def context(settings: Settings, layout: Layout) -> dict:
    if not settings.runs_mx:
        raise InvalidInput(
            "the webmail sends through this host's Postfix: serve it from an MX "
            "host (runs has no mx)"
        )
    registry = _registry(settings.mail_dsn)  # checked before anything is written
    host = _mail_host(settings)
    # Dovecot on another host (mailstore.host): Roundcube reads mail there.
    imap_host = _host(settings.mailstore.host) if settings.mailstore.host else host
    return {
        "header": HEADER,
        "hostname": settings.hostname,
        "primary_domain": settings.primary_domain,
        "alias_domain": settings.alias_domain,
        "product_name": f"Webmail {settings.primary_domain}",
        "server_name": f"webmail.{settings.primary_domain}",
        "listen": [_host(address) for address in settings.listen],
        "port": settings.ports.webmail,
        "tls_cert": settings.path("tls_cert"),
        "tls_key": settings.path("tls_key"),
        "web_user": WEB_USER,
        "upload_max": UPLOAD_MAX,
        "run_dir": layout.run_dir,
        "log_dir": layout.log_dir,
        "nginx_temp_dir": layout.root / "nginx" / "tmp",
        "document_root": layout.roundcube / "public_html",
        "roundcube_root": layout.roundcube,
        "fpm_socket": layout.fpm_socket,
        "mta_sts_port": dns_config.port(settings, "mta_sts_port"),
        "mta_sts_names": " ".join(mta_sts.host_names(settings)),
        "mta_sts_policy": layout.mta_sts_policy,
        "mta_sts_path": mta_sts.PATH,
        "db_dsnw": f"sqlite:///{layout.database}?mode=0640",
        "temp_dir": f"{layout.roundcube / 'temp'}/",
        "web_log_dir": f"{layout.web_log_dir}/",
        "des_key": _des_key(layout),
        "imap_host": f"ssl://{imap_host}:{settings.ports.imaps}",
        "smtp_host": f"tls://{host}:{settings.ports.submission}",
        "imap_tls_options": _tls_options(settings, settings.imap_hostname),
        "smtp_tls_options": _tls_options(settings, settings.hostname),
        "plugins": [PLUGIN],
        "registry": registry,
    }


@dataclass(frozen=True)
class Output:
    template: str
    path: str  # relative to the layout's root
    mode: int = 0o644
    group: str | None = None  # set for files holding a secret


_PLUGIN_DIR = f"roundcube/plugins/{PLUGIN}"
OUTPUTS = (
    Output("nginx/nginx.conf.j2", "nginx/nginx.conf"),
    Output("php-fpm/php-fpm.conf.j2", "php-fpm/php-fpm.conf"),
    Output(
        "roundcube/config.inc.php.j2",
        "roundcube/config/config.inc.php",
        0o640,
        WEB_USER,
    ),
    Output(f"roundcube/plugins/{PLUGIN}/{PLUGIN}.php", f"{_PLUGIN_DIR}/{PLUGIN}.php"),
    Output(
        f"roundcube/plugins/{PLUGIN}/config.inc.php.j2",
        f"{_PLUGIN_DIR}/config.inc.php",
        0o640,
        WEB_USER,
    ),
    Output(
        f"roundcube/plugins/{PLUGIN}/localization/it_IT.inc",
        f"{_PLUGIN_DIR}/localization/it_IT.inc",
    ),
    Output(
        f"roundcube/plugins/{PLUGIN}/localization/en_US.inc",
        f"{_PLUGIN_DIR}/localization/en_US.inc",
    ),
    Output("roundcube/public_html/index.php", "roundcube/public_html/index.php"),
)


def render(settings: Settings, out_dir: Path | None = None) -> list[Path]:
    """Write the webmail's config files into OUT_DIR (default STATE_DIR/webmail).

    Only files whose content changed are written; returns those. Links to
    the installed Roundcube and its writable folders come from prepare().
    """
    layout = Layout(out_dir) if out_dir is not None else Layout.of(settings)
    env, data = _environment(), context(settings, layout)

    files = [
        (
            layout.root / out.path,
            env.get_template(out.template).render(**data),
            out.mode,
            out.group,
        )
        for out in OUTPUTS
    ]
    # The policy format has no comments, hence no header: the file is the
    # very text whose hash `dns records` publishes as the policy id.
    files.append((layout.mta_sts_policy, mta_sts.policy(settings), 0o644, None))

    written = []
    for target, content, mode, group in files:
        if target.is_file() and target.read_text() == content:
            continue
        write_atomic(target, content, mode, group)
        written.append(target)

    log.info("rendered %d changed webmail file(s) into %s", len(written), layout.root)
    return written


def prepare(layout: Layout) -> None:
    """What the rendered files need on this machine to run: code, folders, DB."""
    _link_code(layout)
    _prepare_dirs(layout)
    init_database(layout)


def _link_code(layout: Layout) -> None:
    links = dict(_CODE_LINKS)
    for plugin in sorted((ROUNDCUBE_HOME / "plugins").iterdir()):
        links[f"plugins/{plugin.name}"] = plugin

    for rel, target in links.items():
        link = layout.roundcube / rel
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(target)


def _prepare_dirs(layout: Layout) -> None:
    """Folders the PHP workers write to belong to the web user."""
    web = pwd.getpwnam(WEB_USER)
    for folder in (layout.run_dir, layout.log_dir, layout.root / "nginx" / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    for folder in (layout.roundcube / "temp", layout.web_log_dir, layout.db_dir):
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, web.pw_uid, web.pw_gid)
        folder.chmod(0o750)


def init_database(layout: Layout) -> bool:
    """Create Roundcube's SQLite database from the packaged schema; True if new."""
    if layout.database.is_file():
        return False
    schema = (ROUNDCUBE_HOME / "SQL" / "sqlite.initial.sql").read_text()
    tmp = layout.database.with_suffix(".new")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        conn.executescript(schema)
    conn.close()

    web = pwd.getpwnam(WEB_USER)
    os.chown(tmp, web.pw_uid, web.pw_gid)
    tmp.chmod(0o640)
    tmp.replace(layout.database)
    log.info("created Roundcube database %s", layout.database)
    return True


# Daemons ------------------------------------------------------------------


def check_installed() -> None:
    missing = [p for p in (PHP_FPM, NGINX) if shutil.which(p) is None]
    if not (ROUNDCUBE_HOME / "index.php").is_file():
        missing.append(str(ROUNDCUBE_HOME))
    if missing:
        raise ServerError(
            f"webmail needs {', '.join(missing)}: install the Debian packages "
            f"{DEBIAN_PACKAGES} (scripts/setup does)"
        )


def check_reachable(settings: Settings, layout: Layout) -> None:
    """The PHP workers run as the web user: it must reach what they read."""
    needed = {
        "document root": layout.roundcube / "public_html" / "index.php",
        "Roundcube config": layout.roundcube / "config" / "config.inc.php",
        "TLS certificate": settings.path("tls_cert"),
        "MTA-STS policy": layout.mta_sts_policy,
    }
    failed = [
        f"{what} {path}"
        for what, path in needed.items()
        if run(
            ["runuser", "-u", WEB_USER, "--", "test", "-r", str(path)], check=False
        ).returncode
        != 0
    ]
    if failed:
        raise ServerError(
            f"webmail: user {WEB_USER} cannot read {'; '.join(failed)} "
            "(make the state directory's parents searchable: chmod o+x)"
        )


def _pid(layout: Layout, daemon: str) -> int | None:
    """The daemon's master pid, if its pid file names a live process."""
    try:
        pid = int(layout.pid_file(daemon).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if daemon.encode() in cmdline else None


def _fpm_args(layout: Layout) -> list[str]:
    return [PHP_FPM, "--fpm-config", str(layout.fpm_conf)]


def _nginx_args(layout: Layout) -> list[str]:
    return [NGINX, "-c", str(layout.nginx_conf), "-p", str(layout.root)]


def start(settings: Settings) -> str:
    """Render, validate and start (or reload) the webmail; return its URL."""
    check_installed()
    layout = Layout.of(settings)
    render(settings)
    prepare(layout)
    check_reachable(settings, layout)

    run([*_fpm_args(layout), "--test"])
    run([*_nginx_args(layout), "-t", "-q"])

    _start_or_reload(layout, "php-fpm", _fpm_args(layout), signal.SIGUSR2)
    _start_or_reload(layout, "nginx", _nginx_args(layout), signal.SIGHUP)
    _wait_listening(settings.listen[0], settings.ports.webmail)
    _wait_listening(settings.listen[0], dns_config.port(settings, "mta_sts_port"))
    log.info("webmail running at %s", url(settings))
    return url(settings)


def _start_or_reload(layout: Layout, daemon: str, args: list[str], reload) -> None:
    pid = _pid(layout, daemon)
    if pid is not None:
        os.kill(pid, reload)
        log.info("%s reloaded (pid %d)", daemon, pid)
        return

    run(args)
    _wait(
        lambda: _pid(layout, daemon) is not None,
        f"{daemon} did not start",
        layout.log_dir,
    )
    log.info("%s started", daemon)


def _wait_listening(host: str, port: int, timeout: float = 15) -> None:
    def accepting() -> bool:
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            return False
        return True

    _wait(accepting, f"nothing answers on {host}:{port}", None, timeout)


def _wait(condition, failure: str, log_dir: Path | None, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            hint = f" (see the logs in {log_dir})" if log_dir else ""
            raise ServerError(f"webmail: {failure} within {timeout:.0f} s{hint}")
        time.sleep(0.1)


def stop(settings: Settings) -> None:
    """Stop nginx, then php-fpm, letting requests in progress finish."""
    layout = Layout.of(settings)
    for daemon in ("nginx", "php-fpm"):
        pid = _pid(layout, daemon)
        if pid is None:
            continue
        os.kill(pid, signal.SIGQUIT)
        # A zombie awaiting its reaper has an empty command line: gone too.
        _wait(
            lambda: _pid(layout, daemon) is None,  # noqa: B023
            f"{daemon} did not stop",
            layout.log_dir,
        )
        layout.pid_file(daemon).unlink(missing_ok=True)
        log.info("%s stopped", daemon)


def status(settings: Settings) -> dict:
    """What `server status --json` lists under `webmail`."""
    layout = Layout.of(settings)
    pids = {daemon: _pid(layout, daemon) for daemon in ("nginx", "php-fpm")}
    return {
        "url": url(settings),
        "mta_sts": mta_sts_url(settings),
        "running": all(pid is not None for pid in pids.values()),
        "pids": pids,
        "logs": str(layout.log_dir),
    }
