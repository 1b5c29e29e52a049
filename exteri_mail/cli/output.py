"""Printing for people (aligned text) and for programs (--json)."""

import json
from collections.abc import Callable, Iterable

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def emit(data, as_json: bool, human: Callable[[object], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        human(data)


def fields(record: dict, keys: Iterable[str] | None = None) -> None:
    keys = list(keys or record)
    width = max(len(k) for k in keys)
    for key in keys:
        value = record[key]
        if isinstance(value, list):
            value = ", ".join(map(str, value)) or "-"
        click.echo(
            f"{key.replace('_', ' '):<{width}}  {'-' if value is None else value}"
        )


def table(rows: list[dict], columns: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    cells = [[("-" if r[c] is None else str(r[c])) for c in columns] for r in rows]
    widths = [
        max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)
    ]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
