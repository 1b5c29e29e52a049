"""`exteri-mail domain list`."""

import click

from .output import emit, json_option, table


@click.group("domain")
def group() -> None:
    """The mail domains of the registry."""


@group.command("list")
@json_option
@click.pass_obj
def list_(app, as_json):
    """List the primary and alias domains."""
    with app.registry() as reg:
        rows = reg.conn.execute(
            "SELECT name, kind FROM domains ORDER BY kind DESC"
        ).fetchall()
    emit(rows, as_json, lambda r: table(r, ["name", "kind"]))
