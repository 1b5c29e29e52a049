"""`exteri-mail dns records|check|keygen|mta-sts-policy`."""

from pathlib import Path

import click

from ..errors import ExteriError
from .output import emit, json_option, table


class RecordsMissing(ExteriError):
    """Some expected records are absent or differ: exit 1 after the report."""


@click.group("dns")
def group() -> None:
    """DNS records to publish, their check, and the DKIM keys."""


@group.command("records")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["zone", "json"]),
    default="zone",
    show_default=True,
    help="Zone-file lines or a JSON list.",
)
@click.option("--domain", help="Only the records inside this domain's zone.")
@click.pass_obj
def records_(app, fmt, domain):
    """Print every record both domains need (MX, SPF, DKIM, DMARC, ...)."""
    from ..dns import records

    rows = records.expected(app.settings, domain)
    text = records.to_zone(rows) if fmt == "zone" else records.to_json(rows) + "\n"
    click.echo(text, nl=False)


@group.command("check")
@click.option(
    "--resolver",
    "address",
    metavar="IP[:PORT]",
    help="Ask this resolver (default: the system's).",
)
@click.option(
    "--mta-sts-server",
    "sts_server",
    metavar="IP[:PORT]",
    help="Fetch the MTA-STS policies from here (default: mta-sts.DOMAIN, "
    "port 443); the name is still sent and the certificate checked for it.",
)
@click.option(
    "--mta-sts-ca",
    "sts_ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trust this CA file for the policies' certificate (default: the "
    "system's CAs).",
)
@click.option("--domain", help="Only the records inside this domain's zone.")
@json_option
@click.pass_obj
def check_(app, address, sts_server, sts_ca, domain, as_json):
    """Resolve every expected record, fetch the MTA-STS policies, and
    report missing or wrong ones."""
    # dnspython's resolver is heavy to import: only this command needs it.
    from ..dns import check as dns_check
    from ..dns import mta_sts, policy_fetch, records

    s = app.settings
    res = dns_check.resolver(address)
    server = None
    if sts_server is not None:
        server = dns_check.split_address(
            sts_server, mta_sts.HTTPS_PORT, "MTA-STS server", "127.0.0.1:8443"
        )
    expected = records.expected(s, domain)
    domains = [domain] if domain else list(s.domains)

    results = dns_check.check(expected, res)
    results += policy_fetch.check(s, domains, res, server, sts_ca)

    emit([r.as_dict() for r in results], as_json, _print_results)
    bad = [r for r in results if r.status != "ok"]
    if bad:
        names = ", ".join(f"{r.name} {r.type}" for r in bad)
        raise RecordsMissing(
            f"{len(bad)} of {len(results)} DNS records and MTA-STS policies "
            f"missing or wrong: {names}"
        )


def _print_results(rows: list[dict]) -> None:
    # A policy spans several lines: shown on one here.
    flat = [{**row, "expected": _one_line(row["expected"])} for row in rows]
    table(flat, ["status", "name", "type", "expected"])
    for row in rows:
        found = " | ".join(_one_line(value) for value in row["found"])
        if row["status"] == "wrong":
            click.echo(f"{row['name']} {row['type']} is {found}")
        elif row["status"] == "missing" and found:  # why a fetch failed
            click.echo(f"{row['name']} {row['type']} missing: {found}")


def _one_line(text: str) -> str:
    return "; ".join(line for line in text.splitlines() if line)


@group.command("keygen")
@click.option(
    "--selector",
    help="Selector of the new key (default: the "
    "configured deliverability.dkim_selector).",
)
@click.pass_obj
def keygen(app, selector):
    """Generate a DKIM key and make it the one OpenDKIM signs with."""
    from ..dns import config, keys

    s = app.settings
    directory = config.dkim_dir(s)
    owner = None if s.instance else keys.default_owner()
    key = keys.generate(directory, selector or s.deliverability.dkim_selector, owner)
    click.echo(f"DKIM key {key.selector} written to {key.path} (mode 0600)")
    click.echo(
        "publish the records printed by `exteri-mail dns records`, "
        "then run `exteri-mail server apply`"
    )


@group.command("mta-sts-policy")
@click.pass_obj
def mta_sts_policy(app):
    """Print the MTA-STS policy to serve at mta-sts.DOMAIN."""
    from ..dns import mta_sts

    click.echo(mta_sts.policy(app.settings), nl=False)
