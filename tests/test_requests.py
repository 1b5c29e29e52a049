"""Deciding on account requests from the CLI, and re-sending welcomes (issue 7)."""

# Fixtures are imported from tests.webapp and then named as parameters.
# ruff: noqa: F811

import json

import psycopg
import pytest

from tests.webapp import (  # noqa: F401 (fixtures)
    FORWARD,
    client,
    count,
    link,
    public_url,
    run,
    settings,
    sink,
    submit_confirmed,
    token_of,
)


@pytest.fixture
def pending(client, sink, registry) -> int:
    return submit_confirmed(client, sink, registry)


def audit_actions(registry) -> list[str]:
    return [
        row[0] for row in registry.query("SELECT action FROM audit_log ORDER BY id")
    ]


def test_list_and_show(run, pending):
    listed = run("request", "list", "--status", "pending", "--json")
    assert listed.exit_code == 0
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["address"], row["forward"]) == (
        pending,
        "mario.rossi@esteri.org",
        FORWARD,
    )

    shown = run("request", "show", str(pending))
    assert shown.exit_code == 0
    assert "Lavoro all'ambasciata di Berna." in shown.stdout
    assert run("request", "list", "--status", "approved").stdout.strip() == "(none)"


def test_approve_creates_account_audits_and_welcomes(run, sink, registry, pending):
    result = run("request", "approve", str(pending), "--plan", "outbox")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        f"request {pending} approved: mario.rossi@esteri.org created; "
        f"message sent to {FORWARD}"
    )
    account = json.loads(
        run("account", "show", "mario.rossi@esteri.org", "--json").stdout
    )
    assert (account["plan"], account["forward"]) == ("outbox", FORWARD)
    assert audit_actions(registry)[-2:] == ["account.create", "request.approve"]
    shown = json.loads(run("request", "show", str(pending), "--json").stdout)
    assert (shown["status"], shown["account"], shown["decided_by"]) == (
        "approved",
        "mario.rossi@esteri.org",
        "tester",
    )

    welcome = sink.wait_for(FORWARD)
    assert (
        welcome.message["Subject"] == "Il tuo indirizzo mario.rossi@esteri.org è attivo"
    )
    assert "http://app.test/setup/" in welcome.message.get_content()


def test_approve_unconfirmed_request_is_refused(client, sink, registry, run):
    from tests.webapp import form

    client.post("/", data=form(client))
    sink.received.clear()
    request_id = registry.query("SELECT id FROM account_requests")[0][0]

    result = run("request", "approve", str(request_id))

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"exteri-mail: request {request_id} is unconfirmed: the applicant has not "
        "yet followed the link sent to the forward address"
    )
    assert count(registry, "accounts") == 0
    assert sink.received == []


def test_approve_twice_is_refused(run, pending):
    assert run("request", "approve", str(pending)).exit_code == 0
    again = run("request", "approve", str(pending))
    assert again.exit_code == 1
    assert again.stderr.strip() == f"exteri-mail: request {pending} is already approved"


def test_unknown_request(run):
    result = run("request", "show", "999")
    assert result.exit_code == 1
    assert result.stderr.strip() == "exteri-mail: no request has the id 999"


def test_taken_address_keeps_request_pending_until_names_differ(
    run, sink, registry, pending
):
    assert (
        run(
            "account",
            "create",
            "--first",
            "Mario",
            "--last",
            "Rossi",
            "--forward",
            "altro@ext.test",
        ).exit_code
        == 0
    )
    accounts_before = count(registry, "accounts")

    refused = run("request", "approve", str(pending))

    assert refused.exit_code == 1
    assert "address mario.rossi@esteri.org is already taken" in refused.stderr
    assert count(registry, "accounts") == accounts_before
    assert registry.query("SELECT status FROM account_requests") == [("pending",)]
    assert sink.received == []

    done = run("request", "approve", str(pending), "--first", "Mario Luigi")
    assert done.exit_code == 0, done.stderr
    assert "marioluigi.rossi@esteri.org created" in done.stdout


def test_approve_when_mail_cannot_be_sent_changes_nothing(sink, registry, pending):
    from click.testing import CliRunner

    from exteri_mail.cli import cli as cli_group
    from tests.mailstack import free_port

    env = {**registry.env(), "EXTERI_MAIL_WEB__SMTP_PORT": str(free_port())}
    result = CliRunner().invoke(
        cli_group, ["request", "approve", str(pending)], env=env
    )

    assert result.exit_code == 1
    assert "cannot send mail to mario.rossi@ext.test via 127.0.0.1:" in result.stderr
    assert count(registry, "accounts") == 0
    assert registry.query("SELECT status FROM account_requests") == [("pending",)]


def test_reject_sends_a_courteous_note(run, sink, registry, pending):
    result = run(
        "request",
        "reject",
        str(pending),
        "--reason",
        "l'indirizzo è riservato al personale",
    )

    assert result.exit_code == 0, result.stderr
    message = sink.wait_for(FORWARD).message
    assert message["Subject"] == "La tua richiesta di un indirizzo esteri.org"
    body = message.get_content()
    assert "Motivo: l'indirizzo è riservato al personale" in body
    assert "Cordiali saluti" in body
    assert registry.query("SELECT status, reason FROM account_requests") == [
        ("rejected", "l'indirizzo è riservato al personale")
    ]
    assert audit_actions(registry)[-1] == "request.reject"
    assert count(registry, "accounts") == 0


def test_reject_with_multiline_reason_is_refused(run, sink, registry, pending):
    result = run("request", "reject", str(pending), "--reason", "no\nBcc: x@ext.test")
    assert result.exit_code == 1
    assert (
        result.stderr.strip() == "exteri-mail: reason contains control character U+000A"
    )
    assert registry.query("SELECT status FROM account_requests") == [("pending",)]
    assert sink.received == []


def test_welcome_reissue_replaces_the_old_link(run, client, sink, registry):
    assert (
        run(
            "account",
            "create",
            "--first",
            "Anna",
            "--last",
            "Neri",
            "--forward",
            "anna@ext.test",
            "--plan",
            "plus",
        ).exit_code
        == 0
    )

    first = run("account", "welcome", "anna.neri@exteri.it")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.strip() == (
        "welcome sent to anna@ext.test for anna.neri@esteri.org: the link is valid "
        "for 14 days; earlier links no longer work"
    )
    old = token_of(link(sink.wait_for("anna@ext.test"), "/setup/"))
    sink.received.clear()
    assert run("account", "welcome", "anna.neri@esteri.org").exit_code == 0
    new = token_of(link(sink.wait_for("anna@ext.test"), "/setup/"))

    assert client.get(f"/setup/{old}").status_code == 410
    assert client.get(f"/setup/{new}").status_code == 200
    assert audit_actions(registry)[-1] == "account.welcome"


def test_welcome_needs_a_forward_address(run, sink):
    assert (
        run(
            "account", "create", "--first", "Anna", "--last", "Neri", "--plan", "plus"
        ).exit_code
        == 0
    )
    result = run("account", "welcome", "anna.neri@esteri.org")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "exteri-mail: account anna.neri@esteri.org has no forward address to send "
        "the welcome message to; set one with `exteri-mail account forward`"
    )
    assert sink.received == []


def test_mail_server_role_cannot_read_requests_or_tokens(registry, pending):
    for table in ("account_requests", "web_tokens"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            registry.query(f"SELECT * FROM {table}", dsn=registry.mail_dsn)


def test_schema_section_applies_twice(registry):
    from exteri_mail import db

    with db.transaction(registry.admin_dsn) as conn:
        db.init(conn, "esteri.org", "exteri.it", db.role_of(registry.mail_dsn))
    assert count(registry, "account_requests") == 0
