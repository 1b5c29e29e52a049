"""`exteri-mail account import` and `account export`: whole user bases."""

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from .output import emit, json_option

FORMAT_CHOICE = click.Choice(["csv", "json"])


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=FORMAT_CHOICE,
    help="csv (with a header) or json (one object a line); "
    "default: from the file name.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the good rows; write the others to the rejects file.",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where --skip-invalid writes refused rows "
    "(default: FILE's name with .rejects).",
)
@json_option
@click.pass_obj
def import_(app, file, fmt, skip_invalid, rejects, as_json):
    """Create many accounts from FILE, all or nothing.

    Columns: first, last (required); forward, plan, alias, status, quota,
    former_addresses, password_hash, address (checked against the names).
    Every row is checked with the rules of `account create` first; any bad
    row refuses the whole file, listing each one (line, column, reason).

    Passwords are not generated: an account on a plan with a login keeps
    the Dovecot hash of its password_hash column ({ARGON2ID}, {SHA512-CRYPT},
    ...), or has none until `exteri-mail account password ADDRESS` sets one.
    """
    from .. import bulk

    try:
        with app.registry() as reg, _progress() as (progress, on_total):
            report = bulk.import_file(
                reg, file, fmt, skip_invalid, rejects, progress, on_total
            )
    except bulk.ImportRefused as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise
    emit(_summary(report), as_json, _print_summary)


@contextmanager
def _progress():
    """A progress bar on stderr when it is a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        yield None, None
        return
    state: dict = {}

    def on_total(total: int) -> None:
        state["bar"] = click.progressbar(
            length=total, label="checking rows", file=sys.stderr
        )
        state["bar"].__enter__()

    try:
        yield (lambda n: state["bar"].update(n)), on_total
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)


def _summary(report) -> dict:
    return {
        "imported": report.imported,
        "plans": report.plans,
        "rejected": report.rejected,
        "rejects_file": str(report.rejects_path) if report.rejects_path else None,
        "without_password": report.without_password,
        "seconds": round(report.seconds, 2),
    }


def _print_summary(data: dict) -> None:
    plans = ", ".join(f"{name} {n}" for name, n in sorted(data["plans"].items()))
    click.echo(
        f"imported {data['imported']} accounts ({plans or 'none'}) "
        f"in {data['seconds']} s"
    )
    if data["rejected"]:
        click.echo(
            f"rejected {data['rejected']} rows, written with their reasons "
            f"to {data['rejects_file']}"
        )
    if data["without_password"]:
        click.echo(
            f"note: {data['without_password']} accounts on plans with a login "
            "have no password yet; set each with "
            "`exteri-mail account password ADDRESS`"
        )


@click.command("export")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="csv", show_default=True)
@click.option(
    "--with-hashes",
    is_flag=True,
    help="Include password hashes (the file is then created mode 0600).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.pass_obj
def export(app, fmt, with_hashes, output):
    """Write every account in the format `account import` reads."""
    from .. import bulk

    with app.registry() as reg:
        records = bulk.export_rows(reg, with_hashes)
        if output is None:
            bulk.write_export(records, fmt, sys.stdout, with_hashes)
            return
        count = _write_file(output, records, fmt, with_hashes)
    click.echo(f"exported {count} accounts to {output}", err=True)


def _write_file(output: Path, records, fmt: str, with_hashes: bool) -> int:
    """Written beside OUTPUT and renamed: a failed export leaves no half file."""
    from .. import bulk

    tmp = output.with_name(f".{output.name}.tmp")
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if with_hashes else 0o644
    )
    try:
        with open(fd, "w", encoding="utf-8", newline="") as out:
            count = bulk.write_export(records, fmt, out, with_hashes)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(output)
    return count


commands = (import_, export)
