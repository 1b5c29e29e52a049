"""`exteri-mail host ...`: the steps the Ansible roles run on a managed host."""

from pathlib import Path

import click

from ..host import PARTS


@click.group("host")
def group() -> None:
    """Steps the Ansible roles (roles/) run on a deployed host."""


@group.command("settings")
@click.pass_obj
def settings(app):
    """Load the settings file and the data the templates print; report errors."""
    from ..server.context import build

    build(app.settings)
    click.echo("settings ok")


@group.command("check")
@click.argument("tree", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--only",
    "part",
    type=click.Choice(PARTS),
    required=True,
    help="The daemon whose part of TREE is checked.",
)
def check(tree, part):
    """Check one daemon's part of a tree made by `server render`."""
    from ..host import check_part

    check_part(Path(tree), part)
    click.echo(f"{part} configuration ok")


@group.command("helpers")
@click.pass_obj
def helpers(app):
    """Start the helpers that Postfix asks (postsrsd, OpenDKIM, our milters)."""
    from ..host import helpers_up

    click.echo("started or reloaded" if helpers_up(app.settings, app.config) else "unchanged")


@group.command("webmail")
@click.pass_obj
def webmail(app):
    """Render Roundcube's files and start (or reload) nginx and php-fpm."""
    from ..host import webmail_up

    click.echo("started or reloaded" if webmail_up(app.settings) else "unchanged")
