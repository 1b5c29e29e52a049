"""The `exteri-mail` command: parse, call one use case, print."""

import logging
import os
import sys

import click

from ..errors import ExteriError
from .context import AppContext


class ExteriGroup(click.Group):
    """Maps the domain's exceptions to one stderr line and an exit status."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ExteriError as exc:
            click.echo(f"exteri-mail: {exc}", err=True)
            ctx.exit(exc.exit_code)

    def main(self, *args, **kwargs):
        # Click's own usage errors print four lines; ours print one.
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            where = f" (see {exc.ctx.command_path} --help)" if exc.ctx else ""
            click.echo(f"exteri-mail: {exc.format_message()}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"exteri-mail: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("exteri-mail: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=ExteriGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), envvar="EXTERI_MAIL_CONFIG",
              help="Settings file (TOML).")
@click.option("--dsn", envvar="EXTERI_MAIL_DSN", help="Registry DSN of the admin role.")
@click.option("--operator", help="Name recorded in the audit log (default: OS user).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, config, dsn, operator, verbose) -> None:
    """Manage exteri-mail accounts and the mail servers that serve them."""
    # The folders made here are read by the daemons' own users, whatever the
    # operator's umask (077 on hardened hosts); secrets get explicit modes.
    os.umask(0o022)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = AppContext(config=config, dsn=dsn, operator=operator)


def _register() -> None:
    from . import account, audit, db, domain, server

    for module in (account, audit, db, domain, server):
        cli.add_command(module.group)

    # Account requests and the web app (issue 7).
    from . import request, web

    cli.add_command(request.group)
    cli.add_command(web.group)
    account.group.add_command(request.welcome)

    # DNS records, their check and DKIM keys (issue 6).
    from . import dns

    cli.add_command(dns.group)

    from . import bulk

    for command in bulk.commands:
        account.group.add_command(command)

    # Ansible roles and `exteri-mail deploy` (issue 4).
    from . import deploy, host

    cli.add_command(deploy.group)
    cli.add_command(host.group)


_register()


def main() -> None:
    cli(prog_name="exteri-mail")
