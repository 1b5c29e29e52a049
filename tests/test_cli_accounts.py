"""The operator CLI on a real registry: output, exit codes, no partial writes."""

import json

import pytest
from click.testing import CliRunner

from exteri_mail.cli import cli as cli_group

PLUS_FIELDS = {
    "address",
    "first_name",
    "last_name",
    "plan",
    "status",
    "forward",
    "alias",
    "quota_bytes",
    "created_at",
}


def create(cli, first="Mario", last="Rossi", *extra):
    return cli("account", "create", "--first", first, "--last", last, *extra, "--json")


def counts(registry) -> tuple:
    return registry.query(
        "SELECT (SELECT count(*) FROM accounts), "
        "(SELECT count(*) FROM addresses), (SELECT count(*) FROM audit_log)"
    )[0]


def test_create_easy_prints_the_account_and_no_password(cli):
    result = create(cli, "Mario", "Rossi", "--forward", "mario@ext.test")

    assert result.exit_code == 0, result.stderr
    account = json.loads(result.stdout)
    assert PLUS_FIELDS <= set(account)
    assert account["address"] == "mario.rossi@esteri.org"
    assert account["plan"] == "easy" and account["status"] == "active"
    assert account["alias"] is None and account["quota_bytes"] is None
    assert "password" not in account


def test_create_plus_with_alias_shows_password_once(cli, registry):
    result = create(cli, "Niccolò", "Frescobaldi", "--plan", "plus", "--alias")

    account = json.loads(result.stdout)
    assert account["address"] == "niccolo.frescobaldi@esteri.org"
    assert account["alias"] == "niccolo.frescobaldi@exteri.it"
    assert account["quota_bytes"] == 1024**3
    assert len(account["password"]) >= 16
    stored = registry.query("SELECT password_hash FROM accounts")[0][0]
    assert stored.startswith("{ARGON2ID}$argon2id$")
    assert account["password"] not in stored


def test_human_output_of_show(cli):
    create(cli, "Anna", "D'Angelo", "--forward", "anna@ext.test")

    result = cli("account", "show", "ANNA.DANGELO@ESTERI.ORG")

    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split() == [
        "address",
        "anna.dangelo@esteri.org",
    ]
    assert "last name         D'Angelo" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--first", "", "--last", "Rossi", "--forward", "m@ext.test"],
            "first name is empty",
        ),
        (
            ["--first", "M" * 200, "--last", "Rossi", "--forward", "m@ext.test"],
            "limit is 64",
        ),
        (
            [
                "--first",
                "Mario'; DROP TABLE accounts;--",
                "--last",
                "Rossi",
                "--forward",
                "m@ext.test",
            ],
            "first name contains ';'",
        ),
        (
            [
                "--first",
                "Mario",
                "--last",
                "Rossi\r\nBcc: x@ext.test",
                "--forward",
                "m@ext.test",
            ],
            "last name contains U+000D",
        ),
        (
            ["--first", "Mario", "--last", "Rossi", "--forward", "not-an-address"],
            "forward address 'not-an-address' is not valid",
        ),
        (
            [
                "--first",
                "Mario",
                "--last",
                "Rossi",
                "--forward",
                "m@ext.test\r\nBcc: y@ext.test",
            ],
            "is not valid",
        ),
        (
            [
                "--first",
                "Mario",
                "--last",
                "Rossi",
                "--forward",
                "mario.rossi@esteri.org",
            ],
            "makes a loop",
        ),
        (
            ["--first", "Mario", "--last", "Rossi", "--forward", "chiunque@EXTERI.IT"],
            "makes a loop",
        ),
        (["--first", "Mario", "--last", "Rossi"], "needs a forward address"),
        (
            ["--first", "Mario", "--last", "Rossi", "--plan", "outbox"],
            "needs a forward address",
        ),
    ],
)
def test_bad_input_is_one_line_exit_1_and_changes_nothing(cli, registry, args, message):
    before = counts(registry)

    result = cli("account", "create", *args)

    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stderr.startswith("exteri-mail: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert counts(registry) == before


def test_unknown_plan_is_a_usage_error(cli, registry):
    result = cli(
        "account", "create", "--first", "Mario", "--last", "Rossi", "--plan", "gold"
    )

    assert result.exit_code == 2
    assert "gold" in result.stderr
    assert counts(registry) == (0, 0, 0)


@pytest.mark.parametrize(
    "command",
    [
        ["show"],
        ["suspend"],
        ["plan", "X", "plus"],
        ["forward", "X", "a@ext.test"],
        ["close"],
    ],
)
def test_unknown_address(cli, command):
    args = [part if part != "X" else "nessuno.qui@esteri.org" for part in command]
    if "nessuno.qui@esteri.org" not in args:
        args.append("nessuno.qui@esteri.org")

    result = cli("account", *args)

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "exteri-mail: no account has the address 'nessuno.qui@esteri.org'"
    )


def test_address_outside_our_domains_is_refused(cli):
    result = cli("account", "show", "mario.rossi@gmail.test")

    assert result.exit_code == 1
    assert "is not in esteri.org or exteri.it" in result.stderr


def test_duplicate_person_suggests_a_further_given_name(cli, registry):
    create(cli, "Mario", "Rossi", "--forward", "a@ext.test")
    before = counts(registry)

    result = create(cli, "MARIO", "rossi", "--forward", "b@ext.test")

    assert result.exit_code == 1
    assert "address mario.rossi@esteri.org is already taken" in result.stderr
    assert "add a further given name" in result.stderr
    assert "numbers are never added" in result.stderr
    assert counts(registry) == before


def test_plan_changes_go_both_ways_and_leaving_plus_keeps_the_mailbox(cli):
    create(cli, "Anna", "Neri", "--plan", "plus")

    to_easy = cli("account", "plan", "anna.neri@esteri.org", "easy")
    assert to_easy.exit_code == 1
    assert "needs a forward address" in to_easy.stderr

    cli("account", "forward", "anna.neri@esteri.org", "anna@ext.test")
    to_easy = cli("account", "plan", "anna.neri@esteri.org", "easy", "--json")
    data = json.loads(to_easy.stdout)
    assert data["plan"] == "easy" and "password" not in data
    assert any("mailbox and its mail are kept" in note for note in data["notes"])

    to_outbox = json.loads(
        cli("account", "plan", "anna.neri@exteri.it", "outbox", "--json").stdout
    )
    assert to_outbox["services"] == ["smtp"] and to_outbox["password"]
    back = json.loads(
        cli("account", "plan", "anna.neri@esteri.org", "plus", "--json").stdout
    )
    assert back["services"] == ["smtp", "imap", "pop3"] and "password" not in back


def test_alias_forward_and_password_commands(cli, registry):
    create(cli, "Sara", "Colombo", "--forward", "sara@ext.test")

    on = json.loads(
        cli("account", "alias", "sara.colombo@esteri.org", "on", "--json").stdout
    )
    assert on["alias"] == "sara.colombo@exteri.it"
    moved = json.loads(
        cli(
            "account",
            "forward",
            "sara.colombo@exteri.it",
            "Sara.Nuova@Ext.Test",
            "--json",
        ).stdout
    )
    assert moved["forward"] == "Sara.Nuova@ext.test"

    easy_pw = cli("account", "password", "sara.colombo@esteri.org")
    assert easy_pw.exit_code == 1
    assert "plan easy has no login" in easy_pw.stderr

    cli("account", "plan", "sara.colombo@esteri.org", "outbox")
    old = registry.query("SELECT password_hash FROM accounts")[0][0]
    fresh = json.loads(
        cli("account", "password", "sara.colombo@esteri.org", "--json").stdout
    )
    assert (
        fresh["password"]
        and registry.query("SELECT password_hash FROM accounts")[0][0] != old
    )


def test_suspend_resume_close_reopen_and_retirement(cli, registry):
    create(cli, "Carla", "Gialli", "--forward", "carla@ext.test")

    assert (
        json.loads(
            cli("account", "suspend", "carla.gialli@esteri.org", "--json").stdout
        )["status"]
        == "suspended"
    )
    assert (
        "it is suspended" in cli("account", "suspend", "carla.gialli@esteri.org").stderr
    )
    cli("account", "resume", "carla.gialli@esteri.org")
    cli("account", "close", "carla.gialli@esteri.org")

    again = create(cli, "Carla", "Gialli", "--forward", "altra@ext.test")
    assert again.exit_code == 1
    assert (
        "is retired (its account is closed) and is never given to anyone else"
        in again.stderr
    )

    reopened = json.loads(
        cli("account", "reopen", "carla.gialli@esteri.org", "--json").stdout
    )
    assert reopened["status"] == "active" and reopened["forward"] == "carla@ext.test"


def test_rename_keeps_the_old_address_for_the_same_person(cli, registry):
    create(cli, "Giulia", "Conti", "--forward", "giulia@ext.test")

    renamed = json.loads(
        cli(
            "account",
            "rename",
            "giulia.conti@esteri.org",
            "--first",
            "Giulia",
            "--last",
            "Ferri",
            "--json",
        ).stdout
    )

    assert renamed["address"] == "giulia.ferri@esteri.org"
    assert renamed["former_addresses"] == ["giulia.conti@esteri.org"]
    assert (
        json.loads(cli("account", "show", "giulia.conti@esteri.org", "--json").stdout)[
            "address"
        ]
        == "giulia.ferri@esteri.org"
    )
    taken = create(cli, "Giulia", "Conti", "--forward", "altra@ext.test")
    assert taken.exit_code == 1 and "already taken" in taken.stderr
    aliases = registry.query(
        "SELECT local_part, destination FROM mail_aliases ORDER BY 1",
        dsn=registry.mail_dsn,
    )
    assert ("giulia.conti", "giulia.ferri@esteri.org") in aliases


def test_quota_command(cli):
    create(cli, "Dario", "Greco", "--plan", "plus")

    small = json.loads(
        cli("account", "quota", "dario.greco@esteri.org", "100K", "--json").stdout
    )
    assert small["quota_bytes"] == 102400
    back = json.loads(
        cli("account", "quota", "dario.greco@esteri.org", "default", "--json").stdout
    )
    assert back["quota_bytes"] == 1024**3
    bad = cli("account", "quota", "dario.greco@esteri.org", "lots")
    assert bad.exit_code == 1 and "size 'lots' is not valid" in bad.stderr


def test_list_filters_and_json(cli):
    create(cli, "Mario", "Rossi", "--forward", "m@ext.test")
    create(cli, "Anna", "Neri", "--plan", "plus")

    everyone = cli("account", "list")
    plus = json.loads(cli("account", "list", "--plan", "plus", "--json").stdout)

    assert everyone.stdout.splitlines()[0].split()[:3] == ["ADDRESS", "PLAN", "STATUS"]
    assert [a["address"] for a in plus] == ["anna.neri@esteri.org"]
    assert (
        json.loads(cli("account", "list", "--status", "closed", "--json").stdout) == []
    )


def test_domain_list_and_db_init_twice(cli):
    assert cli("db", "init").exit_code == 0
    assert cli("db", "init").exit_code == 0
    domains = json.loads(cli("domain", "list", "--json").stdout)
    assert domains == [
        {"name": "esteri.org", "kind": "primary"},
        {"name": "exteri.it", "kind": "alias"},
    ]


def test_audit_log_records_who_did_what_without_secrets(cli, registry):
    create(cli, "Anna", "Neri", "--plan", "plus")
    cli(
        "account",
        "forward",
        "anna.neri@esteri.org",
        "anna@ext.test",
        operator="giovanni",
    )
    cli("account", "password", "anna.neri@esteri.org")

    entries = json.loads(
        cli("audit", "--address", "anna.neri@exteri.it", "--json").stdout
    )

    assert [e["action"] for e in entries] == [
        "account.create",
        "account.forward",
        "account.password",
    ]
    assert entries[1]["operator"] == "giovanni"
    assert entries[1]["before"]["forward"] is None
    assert entries[1]["after"]["forward"] == "anna@ext.test"
    dump = json.dumps(entries)
    assert "ARGON2" not in dump and "password_hash" not in dump


def test_a_change_to_the_same_value_is_not_audited_as_a_change(cli, registry):
    create(cli, "Anna", "Neri", "--forward", "anna@ext.test", "--alias")
    before = counts(registry)

    alias = cli("account", "alias", "anna.neri@esteri.org", "on")
    forward = cli("account", "forward", "anna.neri@esteri.org", " anna@ext.test")

    assert alias.exit_code == 0 and forward.exit_code == 0, forward.stderr
    assert "already on; nothing changed" in alias.stdout
    assert "already anna@ext.test; nothing changed" in forward.stdout
    assert counts(registry) == before


def test_help_everywhere(cli):
    for args in (
        ["--help"],
        ["account", "--help"],
        ["account", "create", "--help"],
        ["server", "up", "--help"],
        ["audit", "--help"],
    ):
        result = cli(*args)
        assert result.exit_code == 0 and "Usage:" in result.stdout


def test_password_from_stdin_is_stored_hashed_and_not_echoed(cli, registry):
    create(cli, "Rita", "Bassi", "--plan", "outbox", "--forward", "rita@ext.test")

    result = cli("account", "password", "rita.bassi@esteri.org", "--stdin",
                 input="Perché-2025!\n")

    assert result.exit_code == 0, result.stderr
    assert "Perché" not in result.stdout and "password " not in result.stdout
    stored = registry.query("SELECT password_hash FROM accounts")[0][0]
    assert stored.startswith("{ARGON2ID}")


@pytest.mark.parametrize("command", [["forward", "X", "nuova@ext.test"],
                                     ["alias", "X", "on"],
                                     ["rename", "X", "--first", "Ilaria", "--last", "Rossi"],
                                     ["plan", "X", "outbox"]])
def test_closed_account_refuses_changes(cli, registry, command):
    create(cli, "Ilaria", "Conti", "--forward", "ilaria@ext.test")
    cli("account", "close", "ilaria.conti@esteri.org")
    before = counts(registry)

    args = ["ilaria.conti@esteri.org" if part == "X" else part for part in command]
    result = cli("account", *args)

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "exteri-mail: account ilaria.conti@esteri.org is closed; reopen it first")
    assert counts(registry) == before


@pytest.mark.parametrize("forward", ["x@mail.esteri.org", "x@sub.exteri.it",
                                     "x@ESTERI.ORG."])
def test_forward_into_our_hosts_is_a_loop(cli, forward):
    result = create(cli, "Mario", "Rossi", "--forward", forward)

    assert result.exit_code == 1
    assert "makes a loop" in result.stderr or "is not valid" in result.stderr


def test_usage_and_dsn_errors_are_one_line(cli, registry):
    usage = cli("account", "list", "--status", "deleted")
    assert usage.exit_code == 2
    assert len(usage.stderr.strip().splitlines()) == 1
    assert "'deleted'" in usage.stderr and "--help" in usage.stderr

    bad = CliRunner().invoke(cli_group, ["--dsn", "garbage dsn", "account", "list"],
                             env={"EXTERI_MAIL_CONFIG": ""})
    assert bad.exit_code == 1
    assert bad.stderr.strip().startswith("exteri-mail: the registry DSN is not valid")


def test_quota_too_large_and_operator_name_checked(cli):
    create(cli, "Dario", "Greco", "--plan", "plus")

    huge = cli("account", "quota", "dario.greco@esteri.org", "99999999999999999999G")
    assert huge.exit_code == 1 and "larger than" in huge.stderr
    odd = cli("account", "list", operator="evil\nline")
    assert odd.exit_code == 1 and "operator name must be printable" in odd.stderr
