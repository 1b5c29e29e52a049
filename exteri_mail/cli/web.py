"""`exteri-mail web`: serve the request form and setup pages."""

import click

from ..errors import InvalidInput


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"--listen {text!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host.strip("[]"), int(port)


@click.command("web")
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Address to serve on (default: first listen address, port web).",
)
@click.pass_obj
def group(app, listen):
    """Serve the request form, setup pages and client autoconfiguration."""
    s = app.settings
    host, port = parse_listen(listen or f"{s.listen[0]}:{s.ports.web}")
    from ..web import serve

    click.echo(f"exteri-mail web on http://{host}:{port}/ (Ctrl-C stops)", err=True)
    serve(s, host, port)
