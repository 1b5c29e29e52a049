"""Validate a rendered tree with the daemons' own tools before it goes live.

Every problem found is reported together, one per line.
"""

import re
import subprocess
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ..errors import ServerError

PROBE = "probe.check@exteri-mail.invalid"
_DOVECOT_VARS = {
    "%n": "probe.check",
    "%d": "exteri-mail.invalid",
    "%s": "imap",
    "%u": PROBE,
}


def _tool(args: list[str], ok_codes: tuple[int, ...] = (0,)) -> str | None:
    """Run a checker; its complaint (warnings count) or None when clean."""
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    complaints = [
        line
        for line in result.stderr.splitlines()
        if "warning:" in line or "fatal:" in line or "Error:" in line
    ]
    if result.returncode not in ok_codes and not complaints:
        complaints = [result.stderr.strip() or f"exit status {result.returncode}"]
    return "; ".join(complaints) or None


def check_postfix(config_dir: Path) -> list[str]:
    problems = []
    for args, what in (
        (["postconf", "-c", str(config_dir), "-n"], "main.cf"),
        (["postconf", "-c", str(config_dir), "-M"], "master.cf"),
    ):
        complaint = _tool(args)
        if complaint:
            problems.append(f"{config_dir / what}: {complaint}")

    # A lookup that fails (not merely "not found") prints fatal: and is a
    # broken map: a typo in a query, a wrong password, a missing view.
    for table in sorted((config_dir / "pgsql").glob("*.cf")):
        # postmap -q exits 1 for "not found", which is what the probe expects.
        complaint = _tool(
            ["postmap", "-c", str(config_dir), "-q", PROBE, f"pgsql:{table}"],
            ok_codes=(0, 1),
        )
        if complaint:
            problems.append(f"{table}: {complaint}")
    return problems


def check_dovecot(config_file: Path) -> list[str]:
    problems = []
    complaint = _tool(["doveconf", "-c", str(config_file), "-n"])
    if complaint:
        problems.append(f"{config_file}: {complaint}")
    sql_conf = config_file.parent / "sql.conf.ext"
    if sql_conf.exists():
        problems += _check_dovecot_sql(sql_conf)
    return problems


def _check_dovecot_sql(sql_conf: Path) -> list[str]:
    """Run the passdb/userdb queries of SQL_CONF once, as Dovecot would."""
    settings = dict(
        line.split("=", 1)
        for line in sql_conf.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    settings = {k.strip(): v.strip() for k, v in settings.items()}
    try:
        conninfo_to_dict(settings.get("connect", ""))
        conn = psycopg.connect(settings.get("connect", ""), connect_timeout=5)
    except psycopg.Error as exc:
        return [f"{sql_conf}: cannot connect: {str(exc).strip().splitlines()[-1]}"]
    problems = []
    with conn:
        for key in ("password_query", "user_query", "iterate_query"):
            query = settings.get(key)
            if not query:
                problems.append(f"{sql_conf}: {key} is missing")
                continue
            query = re.sub(r"%[ndsu]", lambda m: _DOVECOT_VARS[m.group()], query)
            try:
                with conn.transaction():
                    conn.execute(query.replace("%", "%%")).fetchall()
            except psycopg.Error as exc:
                problems.append(
                    f"{sql_conf}: {key} fails: {str(exc).strip().splitlines()[0]}"
                )
    return problems


def check_tree(root: Path, parts: list[str]) -> None:
    """Check the PARTS ("postfix", "dovecot") of the tree at ROOT."""
    check_configs(
        root / "postfix" if "postfix" in parts else None,
        root / "dovecot" / "dovecot.conf" if "dovecot" in parts else None,
    )


def check_configs(postfix_dir: Path | None, dovecot_conf: Path | None) -> None:
    """Check the given configurations; raise with every problem found."""
    problems = []
    if postfix_dir is not None:
        problems += check_postfix(postfix_dir)
    if dovecot_conf is not None:
        problems += check_dovecot(dovecot_conf)
    if problems:
        raise ServerError("configuration check failed:\n  " + "\n  ".join(problems))
