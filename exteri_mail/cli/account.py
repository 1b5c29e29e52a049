"""`exteri-mail account ...`: profile management, never message content."""

import sys

import click

from .. import accounts
from ..errors import InvalidInput
from ..plans import PLANS
from .output import emit, fields, json_option, table

PLAN_CHOICE = click.Choice(list(PLANS), case_sensitive=False)
SHOW_KEYS = (
    "address",
    "first_name",
    "last_name",
    "plan",
    "status",
    "forward",
    "alias",
    "quota_bytes",
    "services",
    "former_addresses",
    "created_at",
)


@click.group("account")
def group() -> None:
    """Create and manage accounts (profiles only)."""


def _report(outcome: accounts.Outcome, as_json: bool) -> None:
    data = dict(outcome.account)
    if outcome.password is not None:
        data["password"] = outcome.password
    if outcome.notes:
        data["notes"] = list(outcome.notes)

    def human(_):
        fields(outcome.account, SHOW_KEYS)
        if outcome.password is not None:
            click.echo(f"password    {outcome.password}")
            click.echo(
                "(shown once: give it to the user now; it is stored only as a hash)"
            )
        for note in outcome.notes:
            click.echo(f"note: {note}")

    emit(data, as_json, human)


@group.command("create")
@click.option("--first", required=True, help="First name(s) as the person writes them.")
@click.option("--last", required=True, help="Last name (maiden or married).")
@click.option("--forward", help="The person's own mailbox elsewhere.")
@click.option("--plan", type=PLAN_CHOICE, default="easy", show_default=True)
@click.option("--alias", is_flag=True, help="Also answer at the alias domain.")
@json_option
@click.pass_obj
def create(app, first, last, forward, plan, alias, as_json):
    """Create an account; the address is derived from the names."""
    with app.registry() as reg:
        outcome = accounts.create(reg, first, last, forward, plan.lower(), alias)
    _report(outcome, as_json)


@group.command("list")
@click.option("--plan", type=PLAN_CHOICE)
@click.option("--status", type=click.Choice(accounts.STATUSES))
@json_option
@click.pass_obj
def list_(app, plan, status, as_json):
    """List accounts, optionally of one plan or status."""
    with app.registry() as reg:
        rows = accounts.listing(reg, plan, status)
    emit(
        rows,
        as_json,
        lambda r: table(r, ["address", "plan", "status", "forward", "alias"]),
    )


@group.command("show")
@click.argument("address")
@json_option
@click.pass_obj
def show(app, address, as_json):
    """Show one account (ADDRESS in either domain, any case)."""
    with app.registry() as reg:
        account = accounts.show(reg, address)
    emit(account, as_json, lambda a: fields(a, SHOW_KEYS))


@group.command("plan")
@click.argument("address")
@click.argument("plan", type=PLAN_CHOICE)
@json_option
@click.pass_obj
def plan_(app, address, plan, as_json):
    """Move an account to another plan (either way)."""
    with app.registry() as reg:
        outcome = accounts.change_plan(reg, address, plan.lower())
    _report(outcome, as_json)


@group.command("forward")
@click.argument("address")
@click.argument("new_address")
@json_option
@click.pass_obj
def forward(app, address, new_address, as_json):
    """Change where the account's mail is forwarded."""
    with app.registry() as reg:
        outcome = accounts.change_forward(reg, address, new_address)
    _report(outcome, as_json)


@group.command("alias")
@click.argument("address")
@click.argument("state", type=click.Choice(["on", "off"]))
@json_option
@click.pass_obj
def alias(app, address, state, as_json):
    """Turn the alias-domain address on or off."""
    with app.registry() as reg:
        outcome = accounts.change_alias(reg, address, state == "on")
    _report(outcome, as_json)


def _read_password() -> str:
    try:
        return sys.stdin.read().rstrip("\r\n")
    except UnicodeDecodeError:
        raise InvalidInput("the password on standard input is not valid UTF-8") from None


@group.command("password")
@click.argument("address")
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Read the new password from standard input instead of generating one.",
)
@json_option
@click.pass_obj
def password(app, address, from_stdin, as_json):
    """Set a new password (generated and shown once, unless --stdin)."""
    given = _read_password() if from_stdin else None
    with app.registry() as reg:
        outcome = accounts.reset_password(reg, address, given)
    _report(outcome, as_json)


def _status_command(action: str, help_text: str) -> None:
    @group.command(action, help=help_text)
    @click.argument("address")
    @json_option
    @click.pass_obj
    def command(app, address, as_json):
        with app.registry() as reg:
            outcome = accounts.change_status(reg, address, action)
        _report(outcome, as_json)


_status_command("suspend", "Stop mail and logins for an account, keeping everything.")
_status_command("resume", "Undo a suspension.")
_status_command("close", "Close an account; its addresses stay retired for life.")
_status_command("reopen", "Reopen a closed account (the same person only).")


@group.command("rename")
@click.argument("address")
@click.option("--first", required=True)
@click.option("--last", required=True)
@json_option
@click.pass_obj
def rename(app, address, first, last, as_json):
    """Change names (e.g. after marriage); the old address keeps working."""
    with app.registry() as reg:
        outcome = accounts.rename(reg, address, first, last)
    _report(outcome, as_json)


@group.command("quota")
@click.argument("address")
@click.argument("size")
@json_option
@click.pass_obj
def quota(app, address, size, as_json):
    """Set a mailbox quota such as 100K or 2G; `default` restores the plan's."""
    with app.registry() as reg:
        outcome = accounts.set_quota(reg, address, size)
    _report(outcome, as_json)
