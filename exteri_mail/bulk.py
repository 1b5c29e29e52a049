"""Bulk import and export of accounts (CSV with a header, or JSON lines).

An import checks every row with the rules of `account create` and commits
nothing unless all of them pass (or --skip-invalid leaves the bad ones
out). Checking runs in worker processes; meanwhile the main process COPYs
each checked chunk into the caller's one transaction, which is rolled
back as a whole when the file is refused, so PostgreSQL's share of the
work overlaps the checking instead of following it.

Accounts on plans with a login keep the Dovecot hash the file brings;
without one they get no password (hashing one per row would take hours at
100,000 rows), so they cannot log in until an operator runs `account
password`. Mail to them is forwarded or delivered meanwhile.
"""

import csv
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg

from . import audit, names
from .accounts import STATUSES, Registry, check_forward, local_part_of, parse_size
from .errors import Conflict, InvalidInput
from .passwords import is_dovecot_hash
from .plans import DEFAULT_PLAN, PLANS, get_plan

log = logging.getLogger("exteri_mail.bulk")

FORMATS = ("csv", "json")
REQUIRED = ("first", "last")
OPTIONAL = (
    "address",
    "forward",
    "plan",
    "alias",
    "status",
    "quota",
    "former_addresses",
    "password_hash",
)
# Written by `account export` or into a rejects file; an import skips them.
INFORMATIVE = ("created_at", "line", "reason")
EXPORT_COLUMNS = (
    "address",
    "first",
    "last",
    "plan",
    "status",
    "forward",
    "alias",
    "quota",
    "former_addresses",
    "created_at",
)

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}
# The registry's CHECK on password_hash; schemes that store the password
# itself are refused, an import must never plant a readable password.
_HASH_RE = re.compile(r"^\{([A-Z0-9.-]+)\}\S+$")
_PLAIN_SCHEMES = {"PLAIN", "CLEAR", "CLEARTEXT", "PLAIN-TRUNC", "PLAIN-MD5"}
# Below this many rows, starting worker processes costs more than it saves.
PARALLEL_MIN_ROWS = 5000
CHUNK_ROWS = 2000


@dataclass(frozen=True)
class Problem:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass
class Row:
    """One account of the file, checked and in the registry's form."""

    line: int
    local_part: str
    first_name: str
    last_name: str
    plan: str
    status: str
    forward: str | None
    password_hash: str | None
    quota_bytes: int | None
    alias_enabled: bool
    former: tuple[str, ...] = ()


@dataclass
class ImportReport:
    imported: int
    rejected: int
    plans: dict[str, int]
    without_password: int
    rejects_path: Path | None
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0


class ImportRefused(InvalidInput):
    """Some rows are invalid and the import is all-or-nothing."""

    def __init__(self, path: Path, problems: list[Problem], total: int):
        self.problems = problems
        bad = len({p.line for p in problems})
        super().__init__(
            f"{path}: {bad} of {total} rows are invalid; nothing was imported "
            "(fix them, or use --skip-invalid to import the others)"
        )


# --- reading ---------------------------------------------------------------


def guess_format(path: Path, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "json"
    raise InvalidInput(
        f"cannot tell the format of {path} from its name; "
        "give --format csv or --format json"
    )


def read_records(path: Path, fmt: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """The file's columns and its records as (line number, {column: value})."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            if fmt == "csv":
                return _read_csv(path, handle)
            return _read_json(path, handle)
    except FileNotFoundError:
        raise InvalidInput(f"import file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path} is not UTF-8 text (bad byte at offset {exc.start} of a block)"
        ) from None


def _read_csv(path: Path, handle) -> tuple[list[str], list[tuple[int, dict]]]:
    reader = csv.reader(handle, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise InvalidInput(f"{path} is empty (expected a header line)") from None
    _check_header(path, header)

    records, start = [], reader.line_num + 1
    try:
        for values in reader:
            if any(v.strip() for v in values):
                records.append((start, _zip_row(start, header, values)))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidInput(
            f"{path} line {reader.line_num}: not valid CSV: {exc}"
        ) from None
    return header, records


def _zip_row(line: int, header: list[str], values: list[str]) -> dict:
    if len(values) != len(header):
        return {
            "": Problem(
                line, "row", f"has {len(values)} fields, the header has {len(header)}"
            )
        }
    return dict(zip(header, values))


def _read_json(path: Path, handle) -> tuple[list[str], list[tuple[int, dict]]]:
    records, columns = [], set()
    for number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            record = {"": Problem(number, "row", f"not valid JSON: {exc.msg}")}
        if not isinstance(record, dict):
            record = {"": Problem(number, "row", "is not a JSON object")}
        columns.update(k for k in record if k)
        records.append((number, record))
    header = sorted(columns)
    _check_header(path, header, need_all=bool(records))
    return header, records


def _check_header(path: Path, header: list[str], need_all: bool = True) -> None:
    known = set(REQUIRED) | set(OPTIONAL) | set(INFORMATIVE)
    unknown = [name for name in header if name not in known]
    missing = [name for name in REQUIRED if name not in header] if need_all else []
    if unknown or missing:
        parts = (
            [f"unknown column(s) {', '.join(map(repr, unknown))}"] if unknown else []
        ) + ([f"missing column(s) {', '.join(missing)}"] if missing else [])
        raise InvalidInput(
            f"{path}: {'; '.join(parts)} (columns are {', '.join(REQUIRED + OPTIONAL)})"
        )


# --- checking one row ------------------------------------------------------


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return str(value).lower()
    if not isinstance(value, str):
        raise InvalidInput(f"expected text, got {type(value).__name__}")
    return value.strip()


def _flag(value) -> bool:
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInput(f"{text!r} is not a yes/no value (use true or false)")


def _password_hash(value, plan, status: str) -> str | None:
    text = _text(value)
    if not text:
        return None
    if not plan.needs_password:
        raise InvalidInput(f"plan {plan.name} has no login; leave the hash empty")
    if status == "closed":
        raise InvalidInput("a closed account has no password; leave the hash empty")
    match = _HASH_RE.match(text)
    if not is_dovecot_hash(text) or match is None:
        raise InvalidInput(
            "not a Dovecot password hash (expected a scheme prefix "
            "such as {ARGON2ID} or {SHA512-CRYPT})"
        )
    if match.group(1) in _PLAIN_SCHEMES:
        raise InvalidInput(
            f"scheme {{{match.group(1)}}} stores the password "
            "itself; give a hashed scheme"
        )
    return text


def _former(reg: Registry, value) -> tuple[str, ...]:
    items = value if isinstance(value, list) else _text(value).split(";")
    former = []
    for item in filter(None, (_text(i) for i in items)):
        local = local_part_of(reg, item)
        if not names.LOCAL_PART_RE.match(local) or len(local) > names.LOCAL_PART_MAX:
            raise InvalidInput(f"{item!r} is not a nome.cognome address")
        former.append(local)
    return tuple(former)


def _quota(value, plan) -> int | None:
    text = _text(value)
    if not text or text == "default":
        return None
    if not plan.mailbox:
        raise InvalidInput(f"plan {plan.name} has no mailbox, so no quota")
    return parse_size(text)


class _RowChecker:
    """Collects every problem of one record, field by field."""

    def __init__(self, reg: Registry, line: int, record: dict):
        self.reg, self.line, self.record = reg, line, record
        self.problems: list[Problem] = []

    def get(self, name: str, check: Callable, *args, default=None):
        try:
            return check(self.record.get(name), *args)
        except InvalidInput as exc:
            self.problems.append(Problem(self.line, name, str(exc)))
            return default

    def names(self) -> tuple[str, str, str] | None:
        first = self.get("first", lambda v: names.clean_name("first name", _text(v)))
        last = self.get("last", lambda v: names.clean_name("last name", _text(v)))
        if first is None or last is None:
            return None
        local = self.get("address", lambda _: names.local_part(first, last))
        given = self.get("address", _text)
        if local and given:
            self.get("address", _same_address, self.reg, local)
        return (first, last, local) if local else None


def _same_address(value, reg: Registry, local: str) -> None:
    if local_part_of(reg, _text(value)) != local:
        raise InvalidInput(
            f"{_text(value)!r} does not match the names, which give "
            f"{reg.address(local)}"
        )


def check_record(reg: Registry, line: int, record: dict) -> Row | list[Problem]:
    """The record as a Row, or every problem found in it."""
    if "" in record:
        return [record[""]]
    row = _RowChecker(reg, line, record)
    named = row.names()
    plan = row.get("plan", lambda v: get_plan(_text(v) or DEFAULT_PLAN))
    status = row.get("status", _status)
    forward = row.get("forward", _forward, reg, named[2] if named else None)
    if plan is not None and plan.forward_required and not forward:
        if "forward" not in {p.field for p in row.problems}:
            row.problems.append(
                Problem(
                    line,
                    "forward",
                    f"plan {plan.name} forwards mail and needs a forward address",
                )
            )
    alias = row.get("alias", _flag)
    former = row.get("former_addresses", lambda v: _former(reg, v), default=())
    if plan is None or status is None:
        return row.problems
    quota = row.get("quota", _quota, plan)
    pw_hash = row.get("password_hash", _password_hash, plan, status)
    if row.problems:
        return row.problems

    first, last, local = named
    former = tuple(dict.fromkeys(f for f in former if f != local))
    return Row(
        line,
        local,
        first,
        last,
        plan.name,
        status,
        forward,
        pw_hash,
        quota,
        alias,
        former,
    )


def _status(value) -> str:
    text = _text(value).lower() or "active"
    if text not in STATUSES:
        raise InvalidInput(
            f"unknown status {text!r} (choose one of {', '.join(STATUSES)})"
        )
    return text


def _forward(value, reg: Registry, local: str | None) -> str | None:
    text = _text(value)
    return check_forward(reg, text, local) if text else None


def _check_chunk(reg: Registry, chunk: list[tuple[int, dict]]) -> list:
    return [check_record(reg, line, record) for line, record in chunk]


def checked_chunks(reg: Registry, records: list[tuple[int, dict]]) -> Iterator[list]:
    """check_record for every record, chunk by chunk, in file order; in worker
    processes when there are many."""
    chunks = [records[i : i + CHUNK_ROWS] for i in range(0, len(records), CHUNK_ROWS)]
    workers = min(os.cpu_count() or 1, len(chunks))
    plain = replace(reg, conn=None)
    if len(records) < PARALLEL_MIN_ROWS or workers < 2:
        yield from (_check_chunk(plain, chunk) for chunk in chunks)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(_check_chunk, [plain] * len(chunks), chunks)


# --- checking the whole file -----------------------------------------------


def _in_file_duplicates(
    reg: Registry, rows: list[Row], seen: dict[str, int]
) -> list[Problem]:
    """Every address may appear once in a file: the first row keeps it."""
    problems = []
    for row in rows:
        for local, column in _addresses(row):
            if local in seen and seen[local] != row.line:
                problems.append(
                    Problem(
                        row.line,
                        column,
                        f"{reg.address(local)} is also on line {seen[local]}",
                    )
                )
            else:
                seen.setdefault(local, row.line)
    return problems


def _addresses(row: Row) -> Iterator[tuple[str, str]]:
    yield row.local_part, "address"
    for local in row.former:
        yield local, "former_addresses"


def _taken(reg: Registry, rows: list[Row]) -> list[Problem]:
    """Addresses of the file that the registry already gives to someone."""
    wanted = {
        local: (row.line, column) for row in rows for local, column in _addresses(row)
    }
    found = reg.conn.execute(
        "SELECT ad.local_part, ac.status FROM addresses ad "
        "JOIN accounts ac ON ac.id = ad.account_id WHERE ad.local_part = ANY(%s)",
        (list(wanted),),
    )
    problems = []
    for hit in found:
        line, column = wanted[hit["local_part"]]
        state = (
            "retired (its account is closed)" if hit["status"] == "closed" else "taken"
        )
        problems.append(
            Problem(
                line, column, f"{reg.address(hit['local_part'])} is already {state}"
            )
        )
    return problems


# --- writing ---------------------------------------------------------------


def _copy(reg: Registry, rows: list[Row]) -> None:
    conn = reg.conn
    # In key order the primary-key indexes are filled page by page.
    rows = sorted(rows, key=lambda row: row.local_part)
    ids = [
        r["id"]
        for r in conn.execute(
            "SELECT nextval(pg_get_serial_sequence('accounts', 'id')) AS id "
            "FROM generate_series(1, %s)",
            (len(rows),),
        )
    ]

    with conn.cursor().copy(
        "COPY accounts (id, first_name, last_name, plan, status, forward, "
        "password_hash, quota_bytes, alias_enabled) FROM STDIN"
    ) as copy:
        for account_id, row in zip(ids, rows):
            copy.write_row(
                (
                    account_id,
                    row.first_name,
                    row.last_name,
                    row.plan,
                    row.status,
                    row.forward,
                    row.password_hash,
                    row.quota_bytes,
                    row.alias_enabled,
                )
            )

    with conn.cursor().copy(
        "COPY addresses (local_part, account_id, is_current) FROM STDIN"
    ) as copy:
        for account_id, row in zip(ids, rows):
            copy.write_row((row.local_part, account_id, True))
            for local in row.former:
                copy.write_row((local, account_id, False))


def _write_rejects(
    path: Path,
    fmt: str,
    header: list[str],
    records: list[tuple[int, dict]],
    problems: list[Problem],
) -> None:
    """The refused rows as they were, plus line and reason: fix, import again."""
    reasons: dict[int, list[str]] = {}
    for problem in problems:
        reasons.setdefault(problem.line, []).append(
            f"{problem.field}: {problem.reason}"
        )
    bad = [(line, record) for line, record in records if line in reasons]

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8", newline="") as out:
        if fmt == "csv":
            columns = [c for c in header if c not in ("line", "reason")] + [
                "line",
                "reason",
            ]
            writer = csv.DictWriter(out, columns, extrasaction="ignore")
            writer.writeheader()
            for line, record in bad:
                writer.writerow(
                    {**_plain(record), "line": line, "reason": "; ".join(reasons[line])}
                )
        else:
            for line, record in bad:
                data = {
                    **_plain(record),
                    "line": line,
                    "reason": "; ".join(reasons[line]),
                }
                out.write(json.dumps(data, ensure_ascii=False) + "\n")


def _plain(record: dict) -> dict:
    return {k: v for k, v in record.items() if k}


class _Import:
    """The running state of one import: problems so far, rows written."""

    def __init__(self, reg: Registry, skip_invalid: bool):
        self.reg, self.skip_invalid = reg, skip_invalid
        self.seen: dict[str, int] = {}
        self.problems: list[Problem] = []
        self.plans: Counter = Counter()
        self.without_password = 0

    def add(self, checked: list) -> None:
        """Check one chunk against the file and the registry; write its good
        rows unless the file is already refused."""
        rows = [r for r in checked if isinstance(r, Row)]
        found = [p for r in checked if not isinstance(r, Row) for p in r]
        found += _in_file_duplicates(self.reg, rows, self.seen)
        # Earlier chunks are in the registry now: only first occurrences ask it.
        first = [
            r for r in rows if all(self.seen[a] == r.line for a, _ in _addresses(r))
        ]
        found += _taken(self.reg, first)
        self.problems += found
        if self.problems and not self.skip_invalid:
            return
        bad = {p.line for p in found}
        good = [row for row in rows if row.line not in bad]
        _copy(self.reg, good)
        self.plans.update(row.plan for row in good)
        self.without_password += sum(
            1
            for r in good
            if PLANS[r.plan].needs_password
            and not r.password_hash
            and r.status != "closed"
        )


def import_file(
    reg: Registry,
    path: Path,
    fmt: str | None = None,
    skip_invalid: bool = False,
    rejects: Path | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ImportReport:
    """Check every record of PATH and write the good ones (see module doc)."""
    started = time.monotonic()
    fmt = guess_format(path, fmt)
    header, records = read_records(path, fmt)
    if on_total:
        on_total(len(records))

    # Creates wait for the seconds of the import, so that no address can be
    # taken between a chunk's check against the registry and its COPY.
    reg.conn.execute("LOCK TABLE addresses IN SHARE ROW EXCLUSIVE MODE")
    state = _Import(reg, skip_invalid)
    try:
        for checked in checked_chunks(reg, records):
            state.add(checked)
            if progress:
                progress(len(checked))
    except psycopg.errors.UniqueViolation:
        raise Conflict(
            "an address of the file was taken while importing; "
            "nothing was imported, run the import again"
        ) from None
    problems = sorted(state.problems, key=lambda p: p.line)
    if problems and not skip_invalid:
        # The caller's transaction is rolled back: the chunks written go too.
        raise ImportRefused(path, problems, len(records))

    rejects_path = None
    if problems:
        rejects_path = rejects or default_rejects_path(path)
        _write_rejects(rejects_path, fmt, header, records, problems)
    return _finish(reg, path, state, problems, rejects_path, started)


def _finish(reg, path, state: _Import, problems, rejects_path, started) -> ImportReport:
    imported = sum(state.plans.values())
    rejected = len({p.line for p in problems})
    summary = {
        "file": path.name,
        "accounts": imported,
        "plans": dict(state.plans),
        "rejected": rejected,
        "without_password": state.without_password,
    }
    audit.record(reg.conn, reg.operator, "account.import", None, None, summary)
    log.info(
        "import of %s by %s: %d accounts, %d rows rejected",
        path.name,
        reg.operator,
        imported,
        rejected,
    )
    return ImportReport(
        imported,
        rejected,
        dict(state.plans),
        state.without_password,
        rejects_path,
        problems,
        time.monotonic() - started,
    )


def default_rejects_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejects{path.suffix or '.csv'}")


# --- exporting -------------------------------------------------------------

_EXPORT_SQL = """
SELECT ad.local_part, ac.first_name, ac.last_name, ac.plan, ac.status,
       ac.forward, ac.alias_enabled, ac.quota_bytes, ac.created_at, {hash},
       (SELECT string_agg(o.local_part, ' ' ORDER BY o.local_part)
          FROM addresses o WHERE o.account_id = ac.id AND NOT o.is_current) AS former
  FROM accounts ac JOIN addresses ad ON ad.account_id = ac.id AND ad.is_current
 ORDER BY ad.local_part
"""


def export_rows(reg: Registry, with_hashes: bool = False) -> Iterator[dict]:
    """Every account as an import record; hashes only when asked for."""
    column = "ac.password_hash" if with_hashes else "NULL::text AS password_hash"
    if with_hashes:
        audit.record(
            reg.conn, reg.operator, "account.export", None, None, {"with_hashes": True}
        )
        log.warning("export with password hashes by %s", reg.operator)
    with reg.conn.cursor(name="exteri_export") as cur:
        cur.itersize = 5000
        cur.execute(_EXPORT_SQL.format(hash=column))
        for row in cur:
            yield _export_record(reg, row, with_hashes)


def _export_record(reg: Registry, row: dict, with_hashes: bool) -> dict:
    record = {
        "address": reg.address(row["local_part"]),
        "first": row["first_name"],
        "last": row["last_name"],
        "plan": row["plan"],
        "status": row["status"],
        "forward": row["forward"],
        "alias": row["alias_enabled"],
        "quota": row["quota_bytes"],
        "former_addresses": [reg.address(f) for f in (row["former"] or "").split()],
        "created_at": row["created_at"].isoformat(),
    }
    if with_hashes:
        record["password_hash"] = row["password_hash"]
    return record


def write_export(records: Iterable[dict], fmt: str, out, with_hashes: bool) -> int:
    count = 0
    if fmt == "csv":
        columns = list(EXPORT_COLUMNS) + (["password_hash"] if with_hashes else [])
        writer = csv.DictWriter(out, columns, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow(_csv_cells(record))
            count += 1
        return count
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def _csv_cells(record: dict) -> dict:
    cells = dict(record)
    cells["alias"] = "true" if record["alias"] else "false"
    cells["former_addresses"] = ";".join(record["former_addresses"])
    return {k: "" if v is None else v for k, v in cells.items()}
