"""Shared fixtures: a real PostgreSQL registry per test, and the CLI.

The session makes one template registry (schema applied); each test gets
its own database copied from it, so tests never see each other's rows.
"""

import itertools
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from exteri_mail import db, postgres
from exteri_mail.cli import cli as cli_group

# Names carry the pid so that two test runs on one machine never collide.
TEMPLATE = f"exteri_test_{os.getpid()}"
_counter = itertools.count()


@dataclass
class Registry:
    """Connection strings of one throwaway registry database."""

    name: str
    admin_dsn: str
    mail_dsn: str

    def env(self) -> dict[str, str]:
        return {
            "EXTERI_MAIL_DSN": self.admin_dsn,
            "EXTERI_MAIL_MAIL_DSN": self.mail_dsn,
            "EXTERI_MAIL_TEST_DOMAINS": "true",
            "EXTERI_MAIL_CONFIG": "",
        }

    def query(self, sql: str, params=(), dsn: str | None = None) -> list[tuple]:
        with psycopg.connect(dsn or self.admin_dsn) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="session")
def pg_template() -> postgres.Database:
    template = postgres.Database(TEMPLATE, secrets.token_hex(12), secrets.token_hex(12))
    postgres.drop_database(TEMPLATE)
    postgres.ensure_database(template)
    # Test-only powers: copy the template per test, and drop a copy even
    # while a just-closed mail-role session is still winding down.
    postgres.psql('ALTER ROLE :"role" CREATEDB; GRANT pg_signal_backend TO :"role";',
                  role=template.admin_role)
    with db.transaction(template.admin_dsn) as conn:
        db.init(conn, "esteri.org", "exteri.it", template.mail_role)
    yield template
    postgres.drop_database(TEMPLATE)


@pytest.fixture
def registry(pg_template) -> Registry:
    name = f"{TEMPLATE}_{next(_counter)}"
    maint = pg_template.admin_dsn.replace(f"dbname={TEMPLATE}", "dbname=postgres")
    with psycopg.connect(maint, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(TEMPLATE)))
    swap = lambda dsn: dsn.replace(f"dbname={TEMPLATE}", f"dbname={name}")  # noqa: E731
    yield Registry(name, swap(pg_template.admin_dsn), swap(pg_template.mail_dsn))
    with psycopg.connect(maint, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
            psycopg.sql.Identifier(name)))


@pytest.fixture
def cli(registry):
    """Run `exteri-mail ARGS...` in-process against the test registry."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None, operator: str = "tester"):
        return runner.invoke(cli_group, ["--operator", operator, *args],
                             env=registry.env(), input=input, catch_exceptions=False)

    return run


# --- A running mail stack (issue 3) ----------------------------------------

STACK_DIR = Path(f"/var/lib/exteri-mail-test/stack-{os.getpid()}")
STACK_DB = f"exteri_e2e_{os.getpid()}"


def _free_offset() -> int:
    """The first port offset at which every port of an instance is free."""
    from exteri_mail.dns.config import STANDARD_PORTS
    from exteri_mail.settings import Ports
    from tests.mailstack import port_is_free

    ports = [*Ports().model_dump().values(), *STANDARD_PORTS.values()]
    for offset in range(20000, 30000, 700):
        if all(port_is_free(p + offset) for p in ports):
            return offset
    raise RuntimeError("no free port range for the test instance")


@pytest.fixture(scope="session")
def stack():
    """`exteri-mail server up` on offset ports, relaying outside mail to a sink."""
    from tests.mailstack import EXTERI_MAIL, Sink, Stack, free_port

    sink = Sink(free_port())
    controller = sink.start()
    if STACK_DIR.exists():
        subprocess.run([EXTERI_MAIL, "--config", str(STACK_DIR / "exteri-mail.toml"),
                        "server", "down"], capture_output=True)
        shutil.rmtree(STACK_DIR)
    postgres.drop_database(STACK_DB)
    result = subprocess.run(
        [EXTERI_MAIL, "server", "up", "--state-dir", str(STACK_DIR), "--db-name", STACK_DB,
         "--port-offset", str(_free_offset()), "--relay", f"127.0.0.1:{sink.port}", "--json"],
        capture_output=True, text=True, env={**os.environ, "EXTERI_MAIL_CONFIG": ""})
    assert result.returncode == 0, result.stderr
    running = Stack(STACK_DIR, sink, json.loads(result.stdout))
    yield running
    running.cli("server", "down", check=False)
    controller.stop()
    postgres.drop_database(STACK_DB)
    shutil.rmtree(STACK_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def k12_account(stack) -> tuple[str, str]:
    """K12's person, "Nicolò" "D'Amico", on plan plus: (address, password)."""
    account = stack.create("Nicolò", "D'Amico", plan="plus")
    assert account["address"] == "nicolo.damico@esteri.org"
    return account["address"], account["password"]


@pytest.fixture(scope="module")
def stack_webmail(stack) -> dict:
    """`server up --webmail` on the running stack (Roundcube, and the MTA-STS
    policy nginx serves beside it): its `server status` entry. Stopped when
    the module is done; the stack's settings stay as they are."""
    from exteri_mail import settings as settings_mod
    from exteri_mail import webmail

    up = stack.cli(
        "server", "up", "--state-dir", str(stack.state_dir), "--webmail", "--json"
    )
    yield json.loads(up.stdout)["webmail"]
    webmail.stop(settings_mod.load(stack.state_dir / "exteri-mail.toml"))
