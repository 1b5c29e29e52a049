"""Shared fixtures: a real PostgreSQL registry per test, and the CLI.

The session makes one template registry (schema applied); each test gets
its own database copied from it, so tests never see each other's rows.
"""

import itertools
import os
import secrets
from dataclasses import dataclass

import psycopg
import pytest
from click.testing import CliRunner

from exteri_mail import db, postgres
from exteri_mail.cli import cli as cli_group

TEMPLATE = "exteri_test"
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
    postgres.psql('ALTER ROLE :"role" CREATEDB;', role=template.admin_role)
    with db.transaction(template.admin_dsn) as conn:
        db.init(conn, "esteri.org", "exteri.it", template.mail_role)
    yield template
    postgres.drop_database(TEMPLATE)


@pytest.fixture
def registry(pg_template) -> Registry:
    name = f"{TEMPLATE}_{os.getpid()}_{next(_counter)}"
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
