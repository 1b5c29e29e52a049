"""`exteri-mail deploy`: apply site.yml to the hosts of an inventory."""

import click

from .output import emit, json_option


def _progress(result) -> None:
    click.echo(result.line(), err=True)
    if result.diff:
        click.echo(result.diff.rstrip("\n"), err=True)


def _summary(outcome) -> None:
    columns = ("ok", "changed", "failed", "unreachable", "skipped")
    width = max([len(h) for h in outcome.stats] + [4])
    click.echo(f"{'HOST':<{width}}  " + "  ".join(c.upper() for c in columns))
    for host, counts in outcome.stats.items():
        cells = "  ".join(str(counts[c]).rjust(len(c)) for c in columns)
        click.echo(f"{host:<{width}}  {cells}")


def _as_data(outcome) -> dict:
    return {
        "status": outcome.runner_status,
        "hosts": outcome.stats,
        "changed": [{"host": r.host, "task": r.task} for r in outcome.changed],
        "failed": [
            {"host": r.host, "task": r.task, "status": r.status, "message": r.message}
            for r in outcome.failures
        ],
    }


@click.command("deploy")
@click.option(
    "-i",
    "--inventory",
    required=True,
    help="Inventory file, or hosts separated by commas ('mail.example.org,').",
)
@click.option("-l", "--limit", help="Only these hosts or groups (Ansible pattern).")
@click.option("--check", is_flag=True, help="Report what would change; change nothing.")
@click.option("--diff", is_flag=True, help="Show the changes made to files.")
@click.option(
    "-e",
    "--extra-vars",
    "extra_vars",
    multiple=True,
    help="KEY=VALUE or @FILE, as ansible-playbook takes them (repeatable).",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress lines, only the summary."
)
@json_option
def group(inventory, limit, check, diff, extra_vars, quiet, as_json):
    """Install or update the mail stack on the inventory's hosts (site.yml)."""
    from ..deploy import DeployFailed, failure_text, run

    outcome = run(
        inventory,
        limit=limit,
        check=check,
        diff=diff,
        extra_vars=tuple(extra_vars),
        on_result=None if quiet else _progress,
    )
    emit(_as_data(outcome), as_json, lambda _: _summary(outcome))
    if not outcome.ok:
        raise DeployFailed(failure_text(outcome))
