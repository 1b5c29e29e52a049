"""Render templates/ into a configuration tree, writing only what changed."""

import grp
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2

from ..errors import InvalidInput, ServerError
from ..resources import resource
from ..settings import Settings
from . import context, queries

log = logging.getLogger("exteri_mail.server")


@dataclass(frozen=True)
class Output:
    template: str
    path: str  # relative to the tree; also the target below the daemon's dir
    mode: int = 0o644
    group: str | None = None  # group that may read a secret-bearing file
    extra: tuple[tuple[str, str], ...] = ()


OUTPUTS: list[Output] = [
    Output("postfix/main.cf.j2", "postfix/main.cf"),
    Output("postfix/master.cf.j2", "postfix/master.cf"),
    *(
        Output(
            "postfix/pgsql/map.cf.j2",
            f"postfix/pgsql/{name}.cf",
            0o640,
            "postfix",
            (("map_name", name), ("query", query)),
        )
        for name, query in queries.POSTFIX_MAPS.items()
    ),
    Output("dovecot/dovecot.conf.j2", "dovecot/dovecot.conf"),
    Output("dovecot/sql.conf.ext.j2", "dovecot/sql.conf.ext", 0o640, "dovecot"),
    Output("dovecot/quota-warning.sh.j2", "dovecot/quota-warning.sh", 0o755),
]


def environment() -> jinja2.Environment:
    """The one way templates/ is loaded: strict, no autoescape, exact lines."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource("templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


# Which daemon each top folder of the tree configures, by Settings.runs.
PARTS = {"postfix": "mx", "dovecot": "imap"}


def parts(settings: Settings) -> list[str]:
    """The folders of the tree this host runs (both, on one host)."""
    return [part for part, service in PARTS.items() if service in settings.runs]


def render_all(settings: Settings) -> dict[str, tuple[str, Output]]:
    """Relative path -> (content, output) for this host's tree, in memory."""
    env, data = environment(), context.build(settings)
    wanted = parts(settings)
    return {
        out.path: (
            env.get_template(out.template).render(**data, **dict(out.extra)),
            out,
        )
        for out in OUTPUTS
        if out.path.partition("/")[0] in wanted
    }


def write_tree(rendered: dict[str, tuple[str, Output]], root: Path) -> list[Path]:
    """Write each file under ROOT whose content differs; return those written."""
    written = []
    for rel, (content, out) in rendered.items():
        target = root / rel
        if target.is_file() and target.read_text() == content:
            continue
        write_atomic(target, content, out.mode, out.group)
        written.append(target)
    return written


def write_atomic(target: Path, content: str, mode: int, group: str | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(fd, mode)
        if group is not None:
            os.fchown(fd, 0, _gid(group))
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _gid(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return 0


def render(settings: Settings, out_dir: Path) -> list[Path]:
    if not str(out_dir).strip() or str(out_dir) == ".":
        raise InvalidInput("--out needs a folder of its own for the config tree")
    try:
        written = write_tree(render_all(settings), out_dir)
    except OSError as exc:
        raise ServerError(f"cannot write into {out_dir}: {exc.strerror}") from None
    log.info("rendered %d changed file(s) into %s", len(written), out_dir)
    return written
