"""The benchmark's own exteri-mail instance on loopback, and its registry."""

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

import people
from exteri_mail import settings as settings_mod

EXE = Path(sys.executable).parent / "exteri-mail"


@dataclass
class Instance:
    state_dir: Path
    config: Path
    settings: settings_mod.Settings
    running: bool

    def cli(self, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(EXE), "--config", str(self.config),
                               "--operator", "bench", *args],
                              capture_output=True, text=True, check=check, **kwargs)

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
            people.write_csv(path, people.generate(count, skip=skip,
                                                   password_hashes=hashes))
        started = time.perf_counter()
        result = self.cli("account", "import", str(path), check=False)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"import of {path} failed: {result.stderr[-2000:]}")
        with self.connect(autocommit=True) as conn:
            conn.execute("ANALYZE accounts")
            conn.execute("ANALYZE addresses")
        return elapsed


def up(state_dir: Path, db_name: str, relay_port: int,
       port_offset: int) -> tuple[Instance, str]:
    """`server up`; without daemons the registry alone is still measured."""
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "exteri-mail.toml"
    result = subprocess.run(
        [str(EXE), "server", "up", "--state-dir", str(state_dir), "--db-name", db_name,
         "--relay", f"127.0.0.1:{relay_port}", "--port-offset", str(port_offset),
         "--json"], capture_output=True, text=True)
    running = result.returncode == 0
    if not running and not config.exists():
        raise RuntimeError(f"server up failed and made no registry: {result.stderr}")
    if running:
        running = all(json.loads(result.stdout)["running"].values())
    s = settings_mod.load(config)
    return Instance(state_dir, config, s, running), result.stderr.strip()


def down(instance: Instance) -> None:
    instance.cli("server", "down", check=False)
