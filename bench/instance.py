"""The benchmark's own exteri-mail instance on loopback, and its registry."""

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import people
import psycopg

from exteri_mail import settings as settings_mod

EXE = Path(sys.executable).parent / "exteri-mail"
# What a command prints when PostgreSQL went away under it (another test
# suite on the machine may restart it): the step is then repeated.
_GONE = (
    "terminating connection",
    "cannot reach the registry",
    "server closed the connection",
    "Connection refused",
)


class RegistryGone(RuntimeError):
    """PostgreSQL stopped or restarted during a step."""


def wait_for_postgres(timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL did not come back within {timeout:.0f} s")
        time.sleep(1)


@dataclass
class Instance:
    state_dir: Path
    config: Path
    settings: settings_mod.Settings
    running: bool

    def cli(
        self, *args: str, check: bool = True, **kwargs
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(EXE), "--config", str(self.config), "--operator", "bench", *args],
            capture_output=True,
            text=True,
            check=check,
            **kwargs,
        )

    def connect(self, mail_role: bool = False, **kwargs) -> psycopg.Connection:
        dsn = self.settings.mail_dsn if mail_role else self.settings.dsn
        return psycopg.connect(dsn, **kwargs)

    @property
    def postfix_dir(self) -> Path:
        return self.settings.path("postfix_dir")

    @property
    def smtp_port(self) -> int:
        return self.settings.ports.smtp

    def reset(self) -> None:
        """An empty registry (the audit log is append-only and stays)."""
        with self.connect(autocommit=True) as conn:
            conn.execute("TRUNCATE addresses, accounts CASCADE")

    def load(self, count: int, skip: int, hashes: list[str], work: Path) -> float:
        """Import COUNT generated people after the first SKIP; wall seconds."""
        path = work / f"people-{skip}-{count}.csv"
        if not path.exists():
            people.write_csv(
                path, people.generate(count, skip=skip, password_hashes=hashes)
            )
        started = time.perf_counter()
        result = self.cli("account", "import", str(path), check=False)
        elapsed = time.perf_counter() - started
        if result.returncode != 0 and any(m in result.stderr for m in _GONE):
            raise RegistryGone(f"import of {path}: {result.stderr.strip()[-300:]}")
        if result.returncode != 0:
            raise RuntimeError(f"import of {path} failed: {result.stderr[-2000:]}")
        # New rows get their hint bits and statistics now, not during the
        # first timed lookups.
        with self.connect(autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) accounts, addresses")
        return elapsed


def up(
    state_dir: Path, db_name: str, relay_port: int, port_offset: int
) -> tuple[Instance, str]:
    """`server up`; without daemons the registry alone is still measured."""
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "exteri-mail.toml"
    args = [str(EXE), "server", "up", "--state-dir", str(state_dir)]
    args += ["--db-name", db_name, "--relay", f"127.0.0.1:{relay_port}"]
    args += ["--port-offset", str(port_offset), "--json"]
    for _ in range(3):
        result = subprocess.run(args, capture_output=True, text=True)
        running = result.returncode == 0
        if running or not any(m in result.stderr for m in _GONE):
            break
        # PostgreSQL restarted under `server up`: once it is back, again.
        wait_for_postgres()
        time.sleep(5)
    if not running and not config.exists():
        raise RuntimeError(f"server up failed and made no registry: {result.stderr}")
    if running:
        running = all(json.loads(result.stdout)["running"].values())
    s = settings_mod.load(config)
    return Instance(state_dir, config, s, running), result.stderr.strip()


def down(instance: Instance) -> None:
    instance.cli("server", "down", check=False)


def remove(instance: Instance, db_name: str) -> None:
    """Drop a throwaway run's database and folder (the daemons are down)."""
    from exteri_mail import postgres

    postgres.drop_database(db_name)
    shutil.rmtree(instance.state_dir, ignore_errors=True)
