"""Steps the Ansible roles run on a managed host, through `exteri-mail host`.

The roles hold no copy of the daemons' configuration: they ask the package
to render and check it (`server render`, `host check`) and to start what
`server up` starts for a local instance (`host helpers`, `host webmail`).
Each step says whether it changed anything, so a second run of the
playbook reports no change.
"""

import logging
from pathlib import Path

from .errors import ServerError
from .settings import Settings

log = logging.getLogger("exteri_mail.host")

PARTS = ("postfix", "dovecot")


def check_part(tree: Path, part: str) -> None:
    """Check one daemon's part of a rendered TREE with that daemon's tools.

    A host of a split setup runs only one of the daemons, so it has only
    that daemon's tools.
    """
    from .server.check import check_tree

    if part not in PARTS:
        raise ServerError(f"unknown part {part!r}: choose one of {', '.join(PARTS)}")
    check_tree(tree, [part])


def _helper_state(s: Settings) -> tuple:
    from .dns import helpers as deliverability

    conf_dir = deliverability.opendkim_dir(s)
    files = tuple(
        (conf_dir / name).read_text() if (conf_dir / name).is_file() else None
        for name in deliverability.OPENDKIM_FILES
    )
    from .server import background
    from .server.instance import OUR_DAEMONS

    running = tuple(daemon.running() for daemon in deliverability.daemons(s))
    ours = tuple(background.running_pid(s, name) is not None for name in OUR_DAEMONS)
    return running, ours, files


def helpers_up(s: Settings, config_path: str | None = None) -> bool:
    """Start what this host's daemons lean on: on an MX host postsrsd,
    OpenDKIM (or reload it), the From check and the bounce filter;
    everywhere the registry watcher. True if anything changed."""
    from .dns import helpers as deliverability
    from .server import background
    from .settings import find_config

    config = find_config(config_path)
    if config is None:
        raise ServerError("host helpers needs the settings file (--config)")
    before = _helper_state(s)
    if s.runs_mx:
        deliverability.up(s)
        # The From check that submission asks.
        background.start(s, config, "fromcheck", port=s.ports.from_check)
        deliverability.start_bouncefilter(s, config)
    # The registry watcher recovers whichever of Postfix and Dovecot run here.
    background.start(s, config, "watch")
    return _helper_state(s) != before


def webmail_up(s: Settings) -> bool:
    """Render Roundcube's tree and start nginx and php-fpm; True if changed.

    Nothing is reloaded when no file changed and both daemons run.
    """
    # Imported here, like every heavy library of one command: each
    # `exteri-mail` run (e.g. `account show`) loads this module.
    from . import webmail

    webmail.check_installed()
    written = webmail.render(s)
    new_database = not webmail.Layout.of(s).database.is_file()
    if not written and not new_database and webmail.status(s)["running"]:
        return False
    webmail.start(s)
    return True
