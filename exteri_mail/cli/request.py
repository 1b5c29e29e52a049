"""`exteri-mail request ...`: decide on account requests from the web form.

Also `exteri-mail account welcome`, attached to the account group by
cli._register, since it re-sends what approving a request sends.
"""

import click

from .. import requests
from ..plans import PLANS
from .output import emit, fields, json_option, table

PLAN_CHOICE = click.Choice(list(PLANS), case_sensitive=False)
SHOW_KEYS = (
    "id",
    "status",
    "address",
    "first_name",
    "last_name",
    "forward",
    "note",
    "language",
    "client",
    "created_at",
    "confirmed_at",
    "decided_at",
    "decided_by",
    "reason",
    "account",
)
LIST_COLUMNS = ["id", "status", "address", "forward", "created_at"]


@click.group("request")
def group() -> None:
    """Account requests made on the web form."""


@group.command("list")
@click.option(
    "--status",
    type=click.Choice(requests.STATUSES),
    help="Only requests in this state.",
)
@json_option
@click.pass_obj
def list_(app, status, as_json):
    """List requests, oldest first."""
    with app.registry() as reg:
        rows = requests.listing(reg, status)
    emit(rows, as_json, lambda r: table(r, LIST_COLUMNS))


@group.command("show")
@click.argument("request_id", type=int)
@json_option
@click.pass_obj
def show(app, request_id, as_json):
    """Show one request with the applicant's note."""
    with app.registry() as reg:
        found = requests.show(reg, request_id)
    emit(found, as_json, lambda r: fields(r, SHOW_KEYS))


@group.command("approve")
@click.argument("request_id", type=int)
@click.option("--plan", type=PLAN_CHOICE, default="easy", show_default=True)
@click.option("--first", help="First name(s) to use instead of those asked for.")
@click.option("--last", help="Last name to use instead of the one asked for.")
@json_option
@click.pass_obj
def approve(app, request_id, plan, first, last, as_json):
    """Create the account of a confirmed request and send the welcome message."""
    with app.registry() as reg:
        done = requests.approve(
            reg, app.settings, request_id, plan.lower(), first, last
        )
    emit(done, as_json, lambda r: _decided(r, f"approved: {r['account']} created"))


@group.command("reject")
@click.argument("request_id", type=int)
@click.option("--reason", help="One line for the applicant (optional).")
@json_option
@click.pass_obj
def reject(app, request_id, reason, as_json):
    """Refuse a confirmed request; the applicant gets a short courteous note."""
    with app.registry() as reg:
        done = requests.reject(reg, app.settings, request_id, reason)
    emit(done, as_json, lambda r: _decided(r, "rejected"))


def _decided(record: dict, summary: str) -> None:
    click.echo(f"request {record['id']} {summary}; message sent to {record['forward']}")


@click.command("welcome")
@click.argument("address")
@json_option
@click.pass_obj
def welcome(app, address, as_json):
    """Send a new setup-page link to the account's forward address."""
    with app.registry() as reg:
        account = requests.welcome(reg, app.settings, address)
    days = app.settings.web.setup_days
    emit(
        account,
        as_json,
        lambda a: click.echo(
            f"welcome sent to {a['forward']} for {a['address']}: the link is valid "
            f"for {days} days; earlier links no longer work"
        ),
    )
