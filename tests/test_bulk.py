"""`account import` / `account export`: round trips, refusals, interruption."""

import csv
import io
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from passlib.hash import sha512_crypt

FIRST = [
    "Mario",
    "Anna",
    "Giuseppe",
    "Lucia",
    "Nicolò",
    "Chiara",
    "Francesco",
    "Giulia",
    "Pietro",
    "Maria Grazia",
    "Salvatore",
    "Elena",
]
LAST = [
    "Rossi",
    "Neri",
    "Bianchi",
    "D'Amico",
    "Esposito",
    "Romano",
    "De Luca",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
]
HASH = sha512_crypt.using(rounds=1000).hash("Perché-2025!")
HEADER = [
    "address",
    "first",
    "last",
    "plan",
    "status",
    "forward",
    "alias",
    "quota",
    "former_addresses",
    "password_hash",
]


def people(count: int) -> list[dict]:
    """COUNT distinct invented people on all plans, as export writes them."""
    rows = []
    for i, (last, first) in enumerate(itertools.product(LAST, FIRST)):
        if i == count:
            break
        plan = ("easy", "outbox", "plus")[i % 3]
        local = _local(first, last)
        rows.append(
            {
                "address": f"{local}@esteri.org",
                "first": first,
                "last": last,
                "plan": plan,
                "status": "suspended" if i % 7 == 0 else "active",
                "forward": f"{local.replace('.', '_')}@ext.test"
                if plan != "plus" or i % 2
                else "",
                "alias": "true" if i % 4 == 0 else "false",
                "quota": "2097152" if plan == "plus" and i % 5 == 0 else "",
                "former_addresses": f"{local}x@esteri.org" if i % 11 == 0 else "",
                "password_hash": f"{{SHA512-CRYPT}}{HASH}" if plan != "easy" else "",
            }
        )
    return rows


def _local(first: str, last: str) -> str:
    from exteri_mail.names import local_part

    return local_part(first, last)


def write_csv(path: Path, rows: list[dict], header=HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def counts(registry) -> tuple:
    return registry.query(
        "SELECT (SELECT count(*) FROM accounts), "
        "(SELECT count(*) FROM addresses), "
        "(SELECT count(*) FROM audit_log)"
    )[0]


def test_round_trip_csv_gives_the_same_registry(cli, registry, tmp_path):
    rows = people(120)
    source = write_csv(tmp_path / "people.csv", rows)

    result = cli("account", "import", str(source))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        "imported 120 accounts (easy 40, outbox 40, plus 40)"
    )

    exported = cli("account", "export", "--with-hashes")
    assert exported.exit_code == 0
    back = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [{k: r[k] for k in HEADER} for r in back] == sorted(
        rows, key=lambda r: r["address"]
    )


def test_round_trip_json_into_an_emptied_registry(cli, registry, tmp_path):
    source = write_csv(tmp_path / "people.csv", people(60))
    assert cli("account", "import", str(source)).exit_code == 0
    dump = tmp_path / "dump.jsonl"
    assert (
        cli(
            "account", "export", "--format", "json", "--with-hashes", "-o", str(dump)
        ).exit_code
        == 0
    )
    first = [_without_dates(json.loads(line)) for line in dump.read_text().splitlines()]

    with psycopg.connect(registry.admin_dsn) as conn:
        conn.execute("TRUNCATE addresses, accounts CASCADE")
    assert cli("account", "import", str(dump)).exit_code == 0
    again = cli("account", "export", "--format", "json", "--with-hashes")
    assert [_without_dates(json.loads(x)) for x in again.stdout.splitlines()] == first


def _without_dates(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "created_at"}


def test_export_leaves_hashes_out_unless_asked(cli, tmp_path):
    source = write_csv(tmp_path / "people.csv", people(6))
    assert cli("account", "import", str(source)).exit_code == 0

    plain = cli("account", "export")
    assert "password_hash" not in plain.stdout and "SHA512" not in plain.stdout
    json_plain = cli("account", "export", "--format", "json")
    assert "password_hash" not in json_plain.stdout
    assert "{SHA512-CRYPT}" in cli("account", "export", "--with-hashes").stdout


def test_bad_rows_refuse_the_whole_file(cli, registry, tmp_path):
    assert (
        cli(
            "account",
            "create",
            "--first",
            "Anna",
            "--last",
            "Neri",
            "--forward",
            "anna@ext.test",
        ).exit_code
        == 0
    )
    before = counts(registry)
    good = {
        "first": "Mario",
        "last": "Rossi",
        "plan": "easy",
        "forward": "mario@ext.test",
    }
    rows = [
        good,
        {**good, "first": "Mari0"},
        {**good, "first": "Lucia", "plan": "gold"},
        {**good, "first": "Pietro", "forward": ""},
        {**good, "first": "Elena", "forward": "elena@exteri.it"},
        good,
        {**good, "first": "Anna", "last": "Neri"},
        {**good, "first": "Chiara", "plan": "plus", "password_hash": "{plain}x"},
        {
            **good,
            "first": "Chiara",
            "last": "Bruno",
            "plan": "plus",
            "password_hash": "{PLAIN}secret",
        },
    ]
    source = write_csv(
        tmp_path / "bad.csv",
        rows,
        ["first", "last", "plan", "forward", "password_hash"],
    )

    result = cli("account", "import", str(source))

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "line 3: first: first name contains '0' (U+0030 DIGIT ZERO): only letters, "
        "spaces, apostrophes and hyphens are allowed",
        "line 4: plan: unknown plan: 'gold' (choose one of easy, outbox, plus)",
        "line 5: forward: plan easy forwards mail and needs a forward address",
        "line 6: forward: forward address 'elena@exteri.it' points into our own "
        "domains: forwarding into esteri.org or exteri.it (or their hosts) makes a loop",
        "line 7: address: mario.rossi@esteri.org is also on line 2",
        "line 8: address: anna.neri@esteri.org is already taken",
        "line 9: password_hash: not a Dovecot password hash (expected a scheme "
        "prefix such as {ARGON2ID} or {SHA512-CRYPT})",
        "line 10: password_hash: scheme {PLAIN} stores the password itself; "
        "give a hashed scheme",
        f"exteri-mail: {source}: 8 of 9 rows are invalid; nothing was imported "
        "(fix them, or use --skip-invalid to import the others)",
    ]
    assert "secret" not in result.stderr
    assert counts(registry) == before


def test_skip_invalid_imports_the_rest_and_keeps_the_rejects(cli, registry, tmp_path):
    rows = [
        {"first": "Mario", "last": "Rossi", "forward": "mario@ext.test"},
        {"first": "Anna", "last": "Neri"},
        {"first": "Lucia", "last": "Bianchi", "plan": "plus"},
    ]
    source = write_csv(
        tmp_path / "mixed.csv", rows, ["first", "last", "forward", "plan"]
    )

    result = cli("account", "import", "--skip-invalid", str(source))

    assert result.exit_code == 0, result.stderr
    rejects = tmp_path / "mixed.rejects.csv"
    assert result.stdout.splitlines() == [
        result.stdout.splitlines()[0],
        f"rejected 1 rows, written with their reasons to {rejects}",
        "note: 1 accounts on plans with a login have no password yet; set each "
        "with `exteri-mail account password ADDRESS`",
    ]
    assert list(csv.DictReader(io.StringIO(rejects.read_text()))) == [
        {
            "first": "Anna",
            "last": "Neri",
            "forward": "",
            "plan": "",
            "line": "3",
            "reason": "forward: plan easy forwards mail and needs a forward address",
        }
    ]
    assert registry.query("SELECT local_part FROM addresses ORDER BY 1") == [
        ("lucia.bianchi",),
        ("mario.rossi",),
    ]
    # A Plus account without a hash has no login until `account password`.
    assert registry.query("SELECT count(*) FROM mail_logins")[0][0] == 0

    fixed = rejects.read_text().replace("Neri,,,3", "Neri,anna@ext.test,,3")
    rejects.write_text(fixed)
    assert cli("account", "import", str(rejects)).exit_code == 0
    audit = registry.query(
        "SELECT action, after->>'accounts' FROM audit_log "
        "WHERE action = 'account.import' ORDER BY id"
    )
    assert audit == [("account.import", "2"), ("account.import", "1")]


def test_json_lines_report_the_line_of_each_bad_record(cli, registry, tmp_path):
    source = tmp_path / "people.jsonl"
    source.write_text(
        '{"first": "Mario", "last": "Rossi", "forward": "m@ext.test"}\n'
        "\n"
        '{"first": "Anna", "last": "Neri", "alias": "maybe",\n'
        '["not", "an", "object"]\n'
    )

    result = cli("account", "import", str(source))

    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        "line 3: row: not valid JSON: "
        "Expecting property name enclosed in double quotes",
        "line 4: row: is not a JSON object",
    ]
    assert counts(registry)[0] == 0


def test_an_unknown_column_is_refused_before_any_row(cli, registry, tmp_path):
    source = write_csv(
        tmp_path / "typo.csv",
        [{"first": "Mario", "last": "Rossi"}],
        ["first", "last", "frward"],
    )
    result = cli("account", "import", str(source))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"exteri-mail: {source}: unknown column(s) 'frward' (columns are first, last,"
    )


def test_a_killed_import_leaves_nothing_half_written(registry, tmp_path):
    source = write_csv(tmp_path / "people.csv", people(150))
    exe = shutil.which("exteri-mail", path=str(Path(sys.executable).parent))
    env = {**os.environ, **registry.env()}
    # Holding the audit log makes the import stop after both COPYs, inside
    # its transaction: the worst moment to lose the process.
    with psycopg.connect(registry.admin_dsn) as blocker:
        blocker.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen(
            [exe, "account", "import", str(source)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_for_blocked_insert(registry, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stderr.close()
    assert counts(registry) == (0, 0, 0)

    again = subprocess.run(
        [exe, "account", "import", str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert counts(registry)[:2] == (
        150,
        150 + len([p for p in people(150) if p["former_addresses"]]),
    )


def _wait_for_blocked_insert(registry, proc, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = registry.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO audit_log%%'",
            (registry.name,),
        )[0][0]
        if waiting:
            return
        if proc.poll() is not None:
            pytest.fail(f"import ended early: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    pytest.fail("the import never reached its audit entry")


def test_chunks_checked_in_workers_give_the_same_report(
    cli, registry, tmp_path, monkeypatch
):
    from exteri_mail import bulk

    monkeypatch.setattr(bulk, "CHUNK_ROWS", 25)
    monkeypatch.setattr(bulk, "PARALLEL_MIN_ROWS", 50)
    rows = people(120)
    rows.append(dict(rows[3]))
    source = write_csv(tmp_path / "people.csv", rows)

    refused = cli("account", "import", str(source))
    assert refused.stderr.splitlines()[0] == (
        f"line 122: address: {rows[3]['address']} is also on line 5"
    )
    assert counts(registry)[:2] == (0, 0)

    result = cli("account", "import", "--skip-invalid", str(source))
    assert result.exit_code == 0, result.stderr
    assert counts(registry)[0] == 120
