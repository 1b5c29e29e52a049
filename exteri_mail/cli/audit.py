"""`exteri-mail audit`: who did what to which account."""

import json

import click

from .. import accounts, audit
from .output import emit, json_option


@click.command("audit")
@click.option("--address", help="Only entries about this account.")
@click.option("--limit", default=1000, show_default=True)
@json_option
@click.pass_obj
def group(app, address, limit, as_json):
    """Show the audit log of operator actions."""
    with app.registry() as reg:
        local = accounts.find(reg, address)["local_part"] if address else None
        rows = audit.entries(reg.conn, local, limit)
    emit(rows, as_json, _print)


def _print(rows):
    for row in rows:
        change = {"before": row["before"], "after": row["after"]}
        click.echo(
            f"{row['at']:%Y-%m-%d %H:%M:%S}  {row['operator']}  {row['action']}  "
            f"{row['target'] or '-'}  {json.dumps(change, ensure_ascii=False)}"
        )
