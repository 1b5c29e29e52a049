"""What the database itself guarantees, and what the mail daemons see."""

import json
import os
import subprocess
import sys

import psycopg
import pytest

from exteri_mail import passwords


@pytest.fixture
def people(cli):
    cli(
        "account",
        "create",
        "--first",
        "Mario",
        "--last",
        "Rossi",
        "--forward",
        "m@ext.test",
    )
    cli(
        "account",
        "create",
        "--first",
        "Sara",
        "--last",
        "Colombo",
        "--plan",
        "outbox",
        "--forward",
        "s@ext.test",
        "--alias",
    )
    cli("account", "create", "--first", "Anna", "--last", "Neri", "--plan", "plus")
    cli(
        "account",
        "create",
        "--first",
        "Carla",
        "--last",
        "Gialli",
        "--forward",
        "c@ext.test",
    )
    cli("account", "suspend", "carla.gialli@esteri.org")


def test_views_give_each_plan_its_capabilities(registry, people):
    aliases = registry.query(
        "SELECT local_part, domain, destination FROM mail_aliases ORDER BY 1, 2",
        dsn=registry.mail_dsn,
    )
    assert aliases == [
        ("mario.rossi", "esteri.org", "m@ext.test"),
        ("sara.colombo", "esteri.org", "s@ext.test"),
        ("sara.colombo", "exteri.it", "sara.colombo@esteri.org"),
    ]
    mailboxes = registry.query(
        "SELECT local_part, domain FROM mail_mailboxes", dsn=registry.mail_dsn
    )
    assert mailboxes == [("anna.neri", "esteri.org")]
    senders = registry.query(
        "SELECT local_part, domain, login FROM mail_sender_logins ORDER BY 1, 2",
        dsn=registry.mail_dsn,
    )
    assert senders == [
        ("anna.neri", "esteri.org", "anna.neri@esteri.org"),
        ("sara.colombo", "esteri.org", "sara.colombo@esteri.org"),
        ("sara.colombo", "exteri.it", "sara.colombo@esteri.org"),
    ]
    logins = registry.query(
        "SELECT local_part, domain, service FROM mail_logins ORDER BY 1, 2, 3",
        dsn=registry.mail_dsn,
    )
    assert logins == [
        ("anna.neri", "esteri.org", "imap"),
        ("anna.neri", "esteri.org", "pop3"),
        ("anna.neri", "esteri.org", "smtp"),
        ("sara.colombo", "esteri.org", "smtp"),
        ("sara.colombo", "exteri.it", "smtp"),
    ]
    users = registry.query(
        "SELECT username, quota_bytes FROM mail_users", dsn=registry.mail_dsn
    )
    assert users == [("anna.neri@esteri.org", 1024**3)]
    domains = registry.query(
        "SELECT domain FROM mail_domains ORDER BY 1", dsn=registry.mail_dsn
    )
    assert domains == [("esteri.org",), ("exteri.it",)]


def test_plus_with_forward_keeps_a_copy(registry, cli):
    cli(
        "account",
        "create",
        "--first",
        "Anna",
        "--last",
        "Neri",
        "--plan",
        "plus",
        "--forward",
        "anna@ext.test",
    )

    rows = registry.query(
        "SELECT destination FROM mail_aliases WHERE local_part = 'anna.neri'",
        dsn=registry.mail_dsn,
    )
    assert rows == [("anna.neri@esteri.org,anna@ext.test",)]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM accounts",
        "SELECT * FROM audit_log",
        "SELECT * FROM addresses",
        "UPDATE accounts SET plan = 'plus'",
        "INSERT INTO audit_log (operator, action) VALUES ('x', 'y')",
        "DELETE FROM domains",
        "CREATE TABLE intruder (x int)",
    ],
)
def test_mail_role_reads_views_only(registry, people, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        registry.query(statement, dsn=registry.mail_dsn)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET operator = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
def test_audit_log_is_append_only(registry, people, statement):
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        registry.query(statement)


def test_addresses_are_permanent(registry, people):
    with pytest.raises(psycopg.errors.RaiseException, match="permanent"):
        registry.query("DELETE FROM addresses WHERE local_part = 'mario.rossi'")
    with pytest.raises(psycopg.errors.RaiseException, match="for life"):
        registry.query(
            "UPDATE addresses SET account_id = account_id + 1 "
            "WHERE local_part = 'mario.rossi'"
        )


def test_addresses_are_unique_whatever_the_case(registry, people):
    with pytest.raises(psycopg.errors.CheckViolation):
        registry.query(
            "INSERT INTO addresses (local_part, account_id, is_current) "
            "SELECT 'Mario.Rossi', id, false FROM accounts LIMIT 1"
        )


def test_concurrent_creation_of_one_address_has_one_winner(registry):
    code = (
        "from exteri_mail.cli import main; import sys; "
        "sys.argv = ['exteri-mail', 'account', 'create', '--first', 'Luca', "
        "'--last', 'Ferrari', '--forward', sys.argv[1]]; main()"
    )
    env = {**os.environ, **registry.env()}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, f"luca{n}@ext.test"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(4)
    ]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()

    assert sorted(code for code, _ in results) == [0, 1, 1, 1]
    for code, err in results:
        if code:
            assert err.strip().startswith(
                "exteri-mail: address luca.ferrari@esteri.org is already taken"
            )
    assert registry.query("SELECT count(*) FROM accounts WHERE status = 'active'") == [
        (1,)
    ]


@pytest.mark.parametrize("password", ["Perché-2025!", "con spazi in mezzo", "p" * 80])
def test_K11_hashes_carry_a_scheme_dovecot_verifies(password):
    hashed = passwords.hash_password(password)

    assert passwords.is_dovecot_hash(hashed)
    result = subprocess.run(
        ["doveadm", "pw", "-t", hashed, "-p", password], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout
    wrong = subprocess.run(
        ["doveadm", "pw", "-t", hashed, "-p", password + "x"],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0


def test_generated_passwords_are_random_and_long():
    generated = {passwords.generate() for _ in range(50)}
    assert len(generated) == 50
    assert all(len(p) >= 20 for p in generated)


def test_show_json_for_every_plan(cli, people):
    for address, plan in (
        ("mario.rossi@esteri.org", "easy"),
        ("SARA.COLOMBO@exteri.it", "outbox"),
        ("anna.neri@esteri.org", "plus"),
    ):
        data = json.loads(cli("account", "show", address, "--json").stdout)
        assert data["plan"] == plan
