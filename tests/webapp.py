"""Fixtures and helpers of the web app's tests (issue 7).

Test modules import the fixtures they use from here. Mail the app sends
goes straight to an aiosmtpd sink through the app's SMTP setting.
"""

import re
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from exteri_mail.cli import cli as cli_group
from exteri_mail.settings import Settings, Web
from exteri_mail.web import create_app
from tests.mailstack import Sink, free_port

FORWARD = "mario.rossi@ext.test"
LINK_RE = re.compile(r"https?://\S+")


@pytest.fixture
def sink():
    received = Sink(free_port())
    controller = received.start()
    yield received
    controller.stop()


def make_settings(registry, sink, **web) -> Settings:
    options = {
        "smtp_port": sink.port,
        "secret_key": "test secret, not for production",
        "public_url": "http://app.test",
        **web,
    }
    return Settings(
        dsn=registry.admin_dsn,
        mail_dsn=registry.mail_dsn,
        test_domains=True,
        web=Web(**options),
    )


@pytest.fixture
def public_url() -> str:
    """Where links in messages point; the browser test serves a real one."""
    return "http://app.test"


@pytest.fixture
def settings(registry, sink, public_url) -> Settings:
    return make_settings(registry, sink, public_url=public_url)


@pytest.fixture
def client(settings):
    return create_app(settings).test_client()


@pytest.fixture
def run(registry, sink, public_url):
    """`exteri-mail ARGS...` in-process, its mail going to the sink."""
    runner = CliRunner()
    env = {
        **registry.env(),
        "EXTERI_MAIL_WEB__SMTP_PORT": str(sink.port),
        "EXTERI_MAIL_WEB__PUBLIC_URL": public_url,
    }

    def invoke(*args: str):
        return runner.invoke(
            cli_group, ["--operator", "tester", *args], env=env, catch_exceptions=False
        )

    return invoke


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and "name" in attributes:
            self.values[attributes["name"]] = attributes.get("value") or ""


def inputs(html: bytes | str) -> dict[str, str]:
    parser = _Inputs()
    parser.feed(html if isinstance(html, str) else html.decode())
    return parser.values


def csrf(client, path: str = "/") -> str:
    return inputs(client.get(path).data)["csrf_token"]


def form(client, **fields) -> dict:
    """A filled-in request form, as a browser would post it."""
    data = {
        "csrf_token": csrf(client),
        "first_name": "Mario",
        "last_name": "Rossi",
        "forward": FORWARD,
        "note": "Lavoro all'ambasciata di Berna.",
        "privacy": "yes",
        "website": "",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def link(message, path: str) -> str:
    """The link to PATH in a message's body, as the user would click it."""
    body = message.message.get_content()
    found = [url for url in LINK_RE.findall(body) if path in url]
    assert len(found) == 1, body
    return found[0]


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def count(registry, table: str) -> int:
    return registry.query(f"SELECT count(*) FROM {table}")[0][0]


def submit_confirmed(client, sink, registry, **fields) -> int:
    """A request made on the form and confirmed by its link; returns its id."""
    response = client.post("/", data=form(client, **fields))
    assert response.status_code == 302, response.data.decode()
    forward = fields.get("forward", FORWARD)
    path = link(sink.wait_for(forward), "/confirm/").removeprefix("http://app.test")
    token = inputs(client.get(path).data)["csrf_token"]
    assert client.post(path, data={"csrf_token": token}).status_code == 200
    sink.received.clear()
    return registry.query("SELECT max(id) FROM account_requests")[0][0]
