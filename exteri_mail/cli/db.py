"""`exteri-mail db init`."""

import click

from .. import audit, db


@click.group("db")
def group() -> None:
    """The registry database."""


@group.command("init")
@click.pass_obj
def init(app):
    """Create or upgrade the schema (safe to run again)."""
    s = app.settings
    with db.transaction(s.dsn) as conn:
        db.init(conn, s.primary_domain, s.alias_domain, db.role_of(s.mail_dsn))
        audit.record(
            conn,
            audit.current_operator(app.operator),
            "db.init",
            None,
            None,
            {"primary": s.primary_domain, "alias": s.alias_domain},
        )
    click.echo(
        f"registry ready at {db.describe(s.dsn)} "
        f"(domains {s.primary_domain}, {s.alias_domain})"
    )
