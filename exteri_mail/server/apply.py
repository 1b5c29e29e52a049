"""Render, check, swap in and reload; put the old files back on failure."""

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..dns import helpers as deliverability  # issue 6
from ..errors import ServerError
from ..settings import Settings
from .check import check_tree
from .daemons import Dovecot, Postfix
from .render import parts, render_all, write_atomic, write_tree

log = logging.getLogger("exteri_mail.server")

# First folder of a rendered path -> the Settings path it is installed into.
TARGETS = {"postfix": "postfix_dir", "dovecot": "dovecot_dir"}


@dataclass
class Applied:
    changed: list[Path] = field(default_factory=list)
    reloaded: bool = False


def live_path(settings: Settings, rel: str) -> Path:
    top, _, rest = rel.partition("/")
    return settings.path(TARGETS[top]) / rest


def daemons(settings: Settings) -> tuple[Postfix, Dovecot]:
    return (
        Postfix(settings.path("postfix_dir")),
        Dovecot(
            settings.path("dovecot_dir") / "dovecot.conf",
            settings.path("dovecot_run_dir"),
        ),
    )


def apply(settings: Settings, start: bool = True) -> Applied:
    rendered = render_all(settings)
    staging = Path(
        tempfile.mkdtemp(prefix=".staging-", dir=_ensure(settings.state_dir))
    )
    try:
        write_tree(rendered, staging)
        check_tree(staging, parts(settings))
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    previous: dict[Path, str | None] = {}
    for rel, (content, out) in rendered.items():
        target = live_path(settings, rel)
        old = target.read_text() if target.is_file() else None
        if old != content:
            previous[target] = old
            write_atomic(target, content, out.mode, out.group)
    result = Applied(changed=list(previous))

    # SRS and DKIM helpers (issue 6): Postfix asks them, so they start first.
    if settings.instance and start and settings.runs_mx:
        deliverability.up(settings)

    needs_start = start and not all(d.running() for d in running_here(settings))
    if previous or needs_start:
        try:
            _reload(settings)
        except ServerError as exc:
            if not any(old is not None for old in previous.values()):
                raise  # a first start: there is no previous configuration
            _restore(previous, rendered, settings)
            _reload(settings)
            raise ServerError(
                f"reload failed, previous configuration restored: {exc}"
            ) from None
        result.reloaded = True
    return result


def running_here(settings: Settings) -> list[Postfix | Dovecot]:
    """The daemons this host runs (Settings.runs)."""
    postfix, dovecot = daemons(settings)
    return [postfix] * settings.runs_mx + [dovecot] * settings.runs_imap


def _reload(settings: Settings) -> None:
    postfix, dovecot = daemons(settings)
    # Postfix's check makes the queue's private/ folder, where Dovecot puts
    # the auth and LMTP sockets that Postfix then connects to.
    if settings.runs_mx:
        postfix.prepare()
    if settings.runs_imap:
        dovecot.start_or_reload()
    if settings.runs_mx:
        postfix.start_or_reload()


def _restore(previous: dict[Path, str | None], rendered, settings: Settings) -> None:
    modes = {live_path(settings, rel): out for rel, (_, out) in rendered.items()}
    for target, old in previous.items():
        if old is None:
            target.unlink(missing_ok=True)
        else:
            write_atomic(target, old, modes[target].mode, modes[target].group)
    log.warning("restored %d file(s) after a failed reload", len(previous))


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
