"""The local PostgreSQL cluster: started, and given a registry database.

Used by `server up` and the test suite. Role and database statements run
through psql as the postgres OS user, with values passed as psql variables
(never spliced into SQL text).
"""

import logging
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ServerError

log = logging.getLogger("exteri_mail.postgres")

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")

_BOOTSTRAP = r"""
SELECT format('CREATE ROLE %I LOGIN', :'admin_role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'admin_role') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'mail_role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'mail_role') \gexec
ALTER ROLE :"admin_role" PASSWORD :'admin_password';
ALTER ROLE :"mail_role" PASSWORD :'mail_password';
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0',
              :'target', :'admin_role', 'UTF8')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'target') \gexec
"""


@dataclass(frozen=True)
class Database:
    name: str
    admin_password: str
    mail_password: str
    host: str = "127.0.0.1"
    port: int = 5432

    @property
    def admin_role(self) -> str:
        return f"{self.name}_admin"

    @property
    def mail_role(self) -> str:
        return f"{self.name}_mail"

    def dsn(self, role: str, password: str) -> str:
        return (
            f"host={self.host} port={self.port} dbname={self.name} "
            f"user={role} password={password}"
        )

    @property
    def admin_dsn(self) -> str:
        return self.dsn(self.admin_role, self.admin_password)

    @property
    def mail_dsn(self) -> str:
        return self.dsn(self.mail_role, self.mail_password)


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def cluster_version() -> tuple[str, str, str]:
    """(version, name, status) of the first local cluster, creating one if none."""
    if shutil.which("pg_lsclusters") is None:
        raise ServerError("PostgreSQL is not installed (pg_lsclusters not found)")
    lines = _run(["pg_lsclusters", "--no-header"]).stdout.split()
    if not lines:
        versions = sorted(p.name for p in Path("/usr/lib/postgresql").iterdir())
        _run(["pg_createcluster", versions[-1], "main"], check=True)
        lines = _run(["pg_lsclusters", "--no-header"]).stdout.split()
    return lines[0], lines[1], lines[3]


def ensure_running(timeout: float = 30) -> None:
    version, name, status = cluster_version()
    if status != "online":
        log.info("starting PostgreSQL cluster %s/%s", version, name)
        result = _run(["pg_ctlcluster", version, name, "start"])
        if result.returncode != 0 and "already running" not in result.stderr:
            raise ServerError(
                f"pg_ctlcluster {version} {name} start failed: "
                f"{result.stderr.strip().splitlines()[-1:]}"
            )
    deadline = time.monotonic() + timeout
    while _run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode != 0:
        if time.monotonic() > deadline:
            raise ServerError(
                f"PostgreSQL did not accept connections within {timeout:.0f} s"
            )
        time.sleep(0.2)


def stop() -> None:
    version, name, status = cluster_version()
    if status == "online":
        _run(["pg_ctlcluster", version, name, "stop", "-m", "fast"], check=True)


def psql(sql: str, dbname: str = "postgres", **variables: str) -> str:
    args = [
        "runuser",
        "-u",
        "postgres",
        "--",
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        dbname,
    ]
    for key, value in variables.items():
        args += ["-v", f"{key}={value}"]
    result = _run(args, input=sql)
    if result.returncode != 0:
        raise ServerError(f"psql failed: {result.stderr.strip()}")
    return result.stdout


def ensure_database(db: Database) -> None:
    """Create the roles and database of DB if missing; (re)set role passwords."""
    if not _NAME.match(db.name):
        raise ServerError(
            f"database name {db.name!r} must be lower-case letters, digits, _"
        )
    ensure_running()
    psql(
        _BOOTSTRAP,
        admin_role=db.admin_role,
        mail_role=db.mail_role,
        admin_password=db.admin_password,
        mail_password=db.mail_password,
        target=db.name,
    )


def drop_database(name: str) -> None:
    """Drop a registry database and its two roles (tests, `server destroy`)."""
    ensure_running()
    psql(
        r"""
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'target') \gexec
SELECT format('DROP ROLE IF EXISTS %I', :'target' || '_admin') \gexec
SELECT format('DROP ROLE IF EXISTS %I', :'target' || '_mail') \gexec
""",
        target=name,
    )
