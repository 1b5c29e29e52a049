"""The loopback helpers beside Postfix: postsrsd, OpenDKIM, the forwarder.

How forwarded mail gets its SRS sender (the main.cf/master.cf blocks that
print `postfix_data()`): Postfix picks the transport of a recipient outside
our domains by envelope sender. An outside sender there means the message
is being forwarded (our users must send as their own address), so it goes
to the `srsforward` transport, which hands it to the forwarder: a second,
small Postfix on loopback whose cleanup rewrites only the envelope sender
through postsrsd and which sends it out. Its bounces (a forward that
failed) are the only mail its body checks touch: they withhold the
private forward address. Deliveries into Plus mailboxes and mail from our
users never take that path.

A bounce the destination writes later comes back to the SRS address at
port 25; main.cf sends it through the `srsreturn` listener, whose milter
(bouncefilter.py) rebuilds it before it goes to the original sender.
"""

import logging
import os
import re
import secrets
import signal
import subprocess
import time
from pathlib import Path

from ..errors import ServerError
from ..server.daemons import alive
from ..settings import Settings
from . import config, keys

log = logging.getLogger("exteri_mail.deliverability")

HEADER = "managed by exteri-mail: edits are overwritten by `exteri-mail server apply`"
SRS_USER = "postsrsd"
OPENDKIM_FILES = ("opendkim.conf", "key.table", "signing.table")


def _templates():
    # Imported here: server.render reaches this module through its context.
    from ..server.render import environment

    return environment()


def own_domains(s: Settings) -> list[str]:
    """Sender domains that are ours: never rewritten, signed when submitted."""
    names = [s.primary_domain, s.alias_domain, s.hostname, config.srs_domain(s)]
    return list(dict.fromkeys(names))


def postfix_data(s: Settings) -> dict:
    """What the deliverability blocks of main.cf and master.cf print."""
    pattern = "|".join(re.escape(name) for name in own_domains(s))
    return {
        # `$$` because main.cf expands `$` itself.
        "own_sender_regexp": f"@({pattern})$$",
        "reinject_port": config.port(s, "reinject_port"),
        "srs_forward_port": config.port(s, "srs_forward_port"),
        "srs_reverse_port": config.port(s, "srs_reverse_port"),
        "dkim_port": config.port(s, "dkim_port"),
        "bounce_return_port": config.port(s, "bounce_return_port"),
        "bounce_filter_port": config.port(s, "bounce_filter_port"),
    }


FORWARDER_FILES = (
    "main.cf",
    "master.cf",
    "withhold-forward.regexp",
    "withhold-received.regexp",
)


def forwarder_paths(s: Settings) -> dict[str, Path]:
    """Config, queue and data folders of the forwarder Postfix."""
    if s.instance:
        base = s.state_dir
        return {
            "config_dir": base / "postfix-forwarder",
            "queue_dir": base / "spool" / "postfix-forwarder",
            "data_dir": base / "lib" / "postfix-forwarder",
        }
    return {
        "config_dir": Path("/etc/postfix-forwarder"),
        "queue_dir": Path("/var/spool/postfix-forwarder"),
        "data_dir": Path("/var/lib/postfix-forwarder"),
    }


def render_forwarder(s: Settings) -> dict[str, str]:
    """File name -> content of the forwarder's configuration."""
    from ..server.context import _relayhost

    log_dir = s.path("log_dir")
    data = {
        "header": HEADER,
        **forwarder_paths(s),
        "log_dir": log_dir,
        "log_file": log_dir / "postfix-forwarder.log",
        "hostname": s.hostname,
        "primary_domain": s.primary_domain,
        "relay": s.relay and _relayhost(s.relay),
        "port": config.port(s, "reinject_port"),
        "srs_forward_port": config.port(s, "srs_forward_port"),
        "srs_reverse_port": config.port(s, "srs_reverse_port"),
        "dkim_port": config.port(s, "dkim_port"),
        "message_size_limit": 50 * 1024 * 1024,
    }
    env = _templates()
    return {
        name: env.get_template(f"postfix-forwarder/{name}.j2").render(**data)
        for name in FORWARDER_FILES
    }


def opendkim_dir(s: Settings) -> Path:
    return s.state_dir / "opendkim" if s.instance else Path("/etc/opendkim")


def _signing(s: Settings) -> list[tuple[str, str]]:
    """SigningTable rows: each domain, and the host's own name under it."""
    rows = [(f"*@{domain}", domain) for domain in s.domains]
    parent = next((d for d in s.domains if s.hostname.endswith(f".{d}")), None)
    if parent is not None:
        rows.append((f"*@{s.hostname}", parent))
    return rows


def render_opendkim(s: Settings, key: keys.Key) -> dict[str, str]:
    """File name -> content of OpenDKIM's configuration."""
    directory = opendkim_dir(s)
    data = {
        "header": HEADER,
        "port": config.port(s, "dkim_port"),
        "pid_file": config.run_dir(s) / "opendkim.pid",
        "user": None if s.instance else keys.SIGNER_USER,
        "config_dir": directory,
        "internal_hosts": ["127.0.0.1", "::1"],
        "domains": s.domains,
        "selector": key.selector,
        "key_file": key.path,
        "signing": _signing(s),
    }
    env = _templates()
    return {
        name: env.get_template(f"opendkim/{name}.j2").render(**data)
        for name in OPENDKIM_FILES
    }


def render_postsrsd_default(s: Settings) -> str:
    """Debian's /etc/default/postsrsd for a deployed server (Ansible)."""
    return (
        _templates()
        .get_template("postsrsd/postsrsd.default.j2")
        .render(
            header=HEADER,
            domain=config.srs_domain(s),
            exclude=[n for n in own_domains(s) if n != config.srs_domain(s)],
            secret=config.srs_secret(s),
            forward_port=config.port(s, "srs_forward_port"),
            reverse_port=config.port(s, "srs_reverse_port"),
        )
    )


def ensure_srs_secret(path: Path) -> None:
    """A random secret, made once: changing it voids SRS addresses in flight."""
    if path.is_file():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_urlsafe(32) + "\n").encode())
    finally:
        os.close(fd)
    log.info("created SRS secret %s", path)


def check_safe_dir(directory: Path) -> None:
    """OpenDKIM silently refuses to sign with a key under a writable parent."""
    for parent in (directory.resolve(), *directory.resolve().parents):
        if parent.stat().st_mode & 0o022:
            raise ServerError(
                f"DKIM key directory {directory} is below {parent}, which others "
                "may write (OpenDKIM would not sign); set deliverability.dkim_dir "
                "to a path under /etc or /var/lib"
            )


class Daemon:
    """A helper that forks into the background and writes a pid file."""

    name = ""

    def __init__(self, pid_file: Path):
        self.pid_file = pid_file

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, argv: list[str]) -> None:
        if self.running():
            return
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            detail = (
                result.stderr or result.stdout
            ).strip() or f"exit {result.returncode}"
            raise ServerError(f"{self.name} did not start: {detail.splitlines()[-1]}")
        self._wait(self.running, "start")
        log.info("%s running (pid %s)", self.name, self.pid())

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        self._terminate(pid)
        self._wait(lambda: not alive(pid), "stop")
        self.pid_file.unlink(missing_ok=True)
        log.info("%s stopped", self.name)

    def _terminate(self, pid: int) -> None:
        os.kill(pid, signal.SIGTERM)

    def _wait(self, condition, what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise ServerError(f"{self.name} did not {what} within {timeout:.0f} s")
            time.sleep(0.05)


class Postsrsd(Daemon):
    name = "postsrsd"

    def _terminate(self, pid: int) -> None:
        # One child per Postfix connection keeps answering after the parent
        # is gone; they all share the session postsrsd made for itself.
        group = os.getpgid(pid)
        if group == os.getpgrp():
            os.kill(pid, signal.SIGTERM)
        else:
            os.killpg(group, signal.SIGTERM)

    def argv(self, s: Settings) -> list[str]:
        domain = config.srs_domain(s)
        excluded = ",".join(n for n in own_domains(s) if n != domain)
        argv = [
            "postsrsd",
            f"-s{config.srs_secret(s)}",
            f"-d{domain}",
            f"-X{excluded}",
            "-l127.0.0.1",
            f"-f{config.port(s, 'srs_forward_port')}",
            f"-r{config.port(s, 'srs_reverse_port')}",
            f"-p{self.pid_file}",
            "-D",
        ]
        if _user_exists(SRS_USER):
            argv.append(f"-u{SRS_USER}")
        return argv


class OpenDkim(Daemon):
    name = "opendkim"

    def reload(self) -> None:
        """SIGUSR1 makes OpenDKIM reread its configuration and tables."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGUSR1)
            log.info("opendkim reloaded")


def daemons(s: Settings) -> tuple[Postsrsd, OpenDkim]:
    run = config.run_dir(s)
    return Postsrsd(run / "postsrsd.pid"), OpenDkim(run / "opendkim.pid")


def up(s: Settings) -> bool:
    """Prepare and start the helpers (before Postfix, which asks them).

    Returns whether anything changed: a file written, a key made, a helper
    started or reloaded.
    """
    directory = config.dkim_dir(s)
    had_key = keys.active(directory) is not None
    key = keys.ensure(
        directory,
        s.deliverability.dkim_selector,
        None if s.instance else keys.default_owner(),
    )
    check_safe_dir(directory)
    had_secret = config.srs_secret(s).is_file()
    ensure_srs_secret(config.srs_secret(s))

    postsrsd, opendkim = daemons(s)
    was_running = postsrsd.running(), opendkim.running()
    written = _write_files(opendkim_dir(s), render_opendkim(s, key), 0o644)
    postsrsd.start(postsrsd.argv(s))
    if written and opendkim.running():
        opendkim.reload()
    opendkim.start(["opendkim", "-x", str(opendkim_dir(s) / "opendkim.conf")])

    forwarded = forwarder_up(s)
    started = was_running != (True, True)
    return bool(written) or forwarded or started or not (had_key and had_secret)


def _write_files(directory: Path, files: dict[str, str], mode: int) -> list[Path]:
    """Write each file whose content differs; return those written."""
    from ..server.render import write_atomic

    written = []
    for name, content in files.items():
        target = directory / name
        if not (target.is_file() and target.read_text() == content):
            write_atomic(target, content, mode, None)
            written.append(target)
    return written


def forwarder_up(s: Settings) -> bool:
    """Write the forwarder's files, check them, start or reload it."""
    from ..server.daemons import Postfix

    paths = forwarder_paths(s)
    written = _write_files(paths["config_dir"], render_forwarder(s), 0o644)
    _prepare_postfix_dirs(paths)

    postfix = Postfix(paths["config_dir"])
    if not written and postfix.running():
        return False
    postfix.prepare()
    postfix.start_or_reload()
    return True


def start_bouncefilter(s: Settings, config_file: Path) -> None:
    """`server bouncefilter` in the background, before Postfix hands it
    anything (see bouncefilter.py)."""
    from ..server import background

    port = config.port(s, "bounce_filter_port")
    background.start(s, config_file, "bouncefilter", port=port)


def down(s: Settings) -> None:
    from ..server.daemons import Postfix

    Postfix(forwarder_paths(s)["config_dir"]).stop()
    for daemon in daemons(s):
        daemon.stop()


def _prepare_postfix_dirs(paths: dict[str, Path]) -> None:
    """Postfix wants its data folder owned by its own user."""
    import pwd

    paths["queue_dir"].mkdir(parents=True, exist_ok=True)
    data = paths["data_dir"]
    data.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwnam("postfix")
    os.chown(data, user.pw_uid, user.pw_gid)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
