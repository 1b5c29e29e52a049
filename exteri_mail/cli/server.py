"""`exteri-mail server ...`: render, check, apply, and a local instance."""

from pathlib import Path

import click
from pydantic import ValidationError

from ..errors import InvalidInput
from .output import emit, fields, json_option


@click.group("server")
def group() -> None:
    """Postfix and Dovecot configuration, and a local instance."""


@group.command("render")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the config tree (postfix/, dovecot/).")
@click.pass_obj
def render(app, out_dir):
    """Write the full config tree into OUT; writes nothing else."""
    from ..server.render import render as do_render

    written = do_render(app.settings, Path(out_dir))
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("unchanged")


@group.command("check")
@click.argument("tree", required=False, type=click.Path(file_okay=False, exists=True))
@click.pass_obj
def check(app, tree):
    """Check a rendered TREE (default: the live config) with the daemons' tools."""
    from ..server.check import check_configs, check_tree
    from ..server.render import parts

    s = app.settings
    if tree:
        check_tree(Path(tree), parts(s))
    else:
        check_configs(
            s.path("postfix_dir") if s.runs_mx else None,
            s.path("dovecot_dir") / "dovecot.conf" if s.runs_imap else None,
        )
    click.echo("configuration ok")


@group.command("apply")
@click.pass_obj
def apply(app):
    """Render, check, swap in atomically and reload; roll back on failure."""
    from ..server.apply import apply as do_apply

    result = do_apply(app.settings)
    for path in result.changed:
        click.echo(f"updated {path}")
    click.echo("reloaded" if result.reloaded else "unchanged, nothing reloaded")


@group.command("up")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="Where the instance lives (default /var/lib/exteri-mail).")
@click.option("--relay", help="HOST:PORT that receives all mail for outside domains.")
@click.option("--db-name", default="exterimail", show_default=True,
              help="Registry database (and role prefix) of a new instance.")
@click.option("--port-offset", type=int, default=None,
              help="Add this to every standard port (run beside another instance).")
@click.option("--webmail", "with_webmail", is_flag=True,
              help="Also start Roundcube (nginx + php-fpm) on https.")
@json_option
@click.pass_obj
def up(app, state_dir, relay, db_name, port_offset, with_webmail, as_json):
    """Bring up PostgreSQL, Postfix and Dovecot on loopback."""
    from ..server import instance
    from ..settings import DEFAULT_STATE_DIR, Ports, first_error

    ports = None
    if port_offset is not None:
        base = Ports()
        moved = {k: v + port_offset for k, v in base.model_dump().items()}
        try:
            ports = Ports(**moved)
        except ValidationError as exc:
            why = first_error(exc)
            raise InvalidInput(f"--port-offset {port_offset}: {why}") from None
    s, result = instance.up(Path(state_dir) if state_dir else DEFAULT_STATE_DIR,
                            db_name, relay=relay, ports=ports)
    if with_webmail:  # issue 5
        from .. import webmail

        webmail.start(s)
    info = instance.status(s)
    emit(info, as_json, lambda i: _print_status(i, result))


@group.command("down")
@click.pass_obj
def down(app):
    """Stop the instance's daemons (PostgreSQL keeps running)."""
    from ..server import instance

    instance.down(app.settings)
    click.echo("stopped the instance's daemons (PostgreSQL keeps running)")


@group.command("watch")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between probes.")
@click.pass_obj
def watch(app, interval):
    """Stay in the foreground; recover Postfix and Dovecot after a database outage."""
    from ..server.watch import watch as do_watch

    _log_with_time()
    do_watch(app.settings, interval)


@group.command("fromcheck")
@click.pass_obj
def fromcheck(app):
    """Stay in the foreground: the milter that checks From on submission."""
    from ..server.fromcheck import serve

    _log_with_time()
    serve(app.settings)


@group.command("bouncefilter")
@click.pass_obj
def bouncefilter(app):
    """Stay in the foreground: the milter that rebuilds bounces to SRS addresses."""
    from ..dns.bouncefilter import serve

    _log_with_time()
    serve(app.settings)


@group.command("status")
@json_option
@click.pass_obj
def status(app, as_json):
    """What runs, and where to reach it; exit status 3 when a daemon is stopped."""
    from ..server import instance

    info = instance.status(app.settings)
    emit(info, as_json, lambda i: _print_status(i, None))
    # As an init script's status would: monitoring reads the exit status.
    if not all(info["running"].values()):
        click.get_current_context().exit(3)


def _log_with_time() -> None:
    """Our background daemons write their own log file: stamp each line."""
    import logging

    stamped = logging.Formatter("%(asctime)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setFormatter(stamped)
    logging.getLogger("exteri_mail").setLevel(logging.INFO)


def _print_status(info: dict, result) -> None:
    if result is not None:
        click.echo(f"instance in {info['state_dir']} "
                   f"({len(result.changed)} config file(s) updated)")
    for name, running in info["running"].items():
        click.echo(f"{name:<12} {'running' if running else 'stopped'}")
    fields(info["endpoints"])
    if info["webmail"]["running"]:  # issue 5
        click.echo(f"webmail     {info['webmail']['url']}")
    click.echo(f"registry    {info['registry']}")
    click.echo(f"settings    {info['config']}")
