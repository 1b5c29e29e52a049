"""`exteri-mail deploy` applies site.yml to this machine, for real.

The deployed server uses the system's Postfix and Dovecot (/etc/postfix,
/etc/dovecot, /var/spool/postfix), a database of its own and ports moved
out of the way of the instances other tests run; its settings, TLS pair,
logs and mailboxes live under one folder that is removed afterwards, and
the daemons it started are stopped.
"""

import fcntl
import imaplib
import json
import shutil
import smtplib
import ssl
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

from exteri_mail import deploy, postgres
from exteri_mail import settings as settings_mod
from exteri_mail.dns.config import STANDARD_PORTS
from exteri_mail.dns.helpers import OPENDKIM_FILES
from exteri_mail.server.render import OUTPUTS
from exteri_mail.settings import Ports
from tests.mailstack import EXTERI_MAIL, port_is_free

pytestmark = pytest.mark.daemons

ROOT = Path(__file__).resolve().parent.parent
BASE = Path("/var/lib/exteri-mail-test/deploy")
# The deployed server owns system-wide paths (/etc/postfix, /run/dovecot):
# two test runs on one machine take turns.
LOCK = Path("/var/lib/exteri-mail-test/deploy.lock")
DATABASE = "exteri_deploy"
# The files the deployed server writes into the system's folders, put back
# as they were when the module ends.
SYSTEM_FILES = [
    *(Path("/etc") / out.path for out in OUTPUTS),  # postfix/..., dovecot/...
    *(Path("/etc/opendkim") / name for name in OPENDKIM_FILES),
]


def _free_offset() -> int:
    """Ports above those of the test instances (offsets 20000-30000)."""
    ports = [*Ports().model_dump().values(), *STANDARD_PORTS.values()]
    for offset in range(41000, 55000, 500):
        if all(port_is_free(p + offset) for p in ports):
            return offset
    raise RuntimeError("no free port range for the deployed server")


def _inventory(offset: int) -> dict:
    ports = {name: port + offset for name, port in Ports().model_dump().items()}
    return {
        "all": {
            "hosts": {
                "localhost": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": "/usr/bin/python3",
                }
            },
            "vars": {
                "exteri_mail_source": str(ROOT),
                "exteri_mail_command_link": "",
                "exteri_mail_hostname": "mail.esteri.org",
                "exteri_mail_operators": "operatori@ext.test",
                "exteri_mail_test_domains": True,
                "exteri_mail_db_name": DATABASE,
                "exteri_mail_db_admin_password": "Rossi-admin-0",
                "exteri_mail_db_mail_password": "Neri 'mail' 1",
                "exteri_mail_config_dir": str(BASE / "etc"),
                "exteri_mail_state_dir": str(BASE / "state"),
                "exteri_mail_log_dir": str(BASE / "log"),
                "exteri_mail_vmail_dir": str(BASE / "vmail"),
                "exteri_mail_ports": ports,
            },
        }
    }


class Deployed:
    def __init__(self, inventory: Path, offset: int):
        self.inventory = inventory
        self.offset = offset
        self.config = BASE / "etc" / "exteri-mail.toml"

    def port(self, name: str) -> int:
        return getattr(Ports(), name) + self.offset

    def deploy(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [EXTERI_MAIL, "deploy", "--inventory", str(self.inventory), *args],
            capture_output=True,
            check=False,
            text=True,
            timeout=900,
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [EXTERI_MAIL, "--config", str(self.config), "--operator", "tester", *args],
            capture_output=True,
            check=False,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result

    def tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(BASE / "etc/tls/cert.pem"))
        context.check_hostname = False
        return context

    def send(self, to: str, subject: str) -> None:
        message = EmailMessage()
        message["From"] = "anna.neri@ext.test"
        message["To"] = to
        message["Subject"] = subject
        message.set_content("Ciao Mario, prova di consegna.")
        with smtplib.SMTP("127.0.0.1", self.port("smtp"), timeout=30) as client:
            client.send_message(message)

    def subjects(self, user: str, password: str) -> list[str]:
        client = imaplib.IMAP4("127.0.0.1", self.port("imap"), timeout=30)
        try:
            client.starttls(self.tls())
            client.login(user, password)
            client.select("INBOX", readonly=True)
            _, data = client.search(None, "ALL")
            subjects = []
            for number in data[0].split():
                _, parts = client.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                subjects.append(parts[0][1].decode().split(":", 1)[1].strip())
            return subjects
        finally:
            client.logout()

    def wait_for(self, user: str, password: str, subject: str) -> None:
        deadline = time.monotonic() + 30
        while subject not in self.subjects(user, password):
            assert time.monotonic() < deadline, f"{subject!r} never reached {user}"
            time.sleep(0.3)


def _snapshot() -> dict[Path, bytes | None]:
    return {
        path: path.read_bytes() if path.is_file() else None for path in SYSTEM_FILES
    }


def _restore(saved: dict[Path, bytes | None]) -> None:
    for path, content in saved.items():
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(content)


def _stop(config: Path) -> None:
    """Stop what the deployed server started: Postfix, Dovecot, every helper."""
    if not config.is_file():
        return
    from exteri_mail.server import instance

    instance.down(settings_mod.load(config))


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield from _deployed(tmp_path_factory)


def _deployed(tmp_path_factory):
    saved = _snapshot()
    _stop(BASE / "etc" / "exteri-mail.toml")
    shutil.rmtree(BASE, ignore_errors=True)
    postgres.drop_database(DATABASE)

    offset = _free_offset()
    inventory = tmp_path_factory.mktemp("deploy") / "inventory.yml"
    inventory.write_text(yaml.safe_dump(_inventory(offset)))
    server = Deployed(inventory, offset)
    server.first = server.deploy("--json")
    yield server

    _stop(server.config)
    _restore(saved)
    postgres.drop_database(DATABASE)
    shutil.rmtree(BASE, ignore_errors=True)


def _log_tails() -> str:
    tails = []
    for log in sorted((BASE / "log").glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-5:]
        tails.append(f"--- {log}\n" + "\n".join(lines))
    return "\n".join(tails)


@pytest.fixture(scope="module")
def mario(deployed):
    first = deployed.first
    assert first.returncode == 0, first.stderr[-3000:] + _log_tails()
    account = json.loads(
        deployed.cli(
            "account",
            "create",
            "--first",
            "Mario",
            "--last",
            "Rossi",
            "--plan",
            "plus",
            "--json",
        ).stdout
    )
    return account["address"], account["password"]


def test_first_apply_brings_up_a_mail_server(deployed, mario):
    summary = json.loads(deployed.first.stdout)
    assert summary["status"] == "successful"
    assert summary["hosts"]["localhost"]["failed"] == 0
    assert summary["hosts"]["localhost"]["changed"] > 0

    # The daemons run with the rendered system configuration.
    subprocess.run(["postfix", "-c", "/etc/postfix", "status"], check=True)
    interfaces = subprocess.run(
        ["postconf", "-c", "/etc/postfix", "-h", "inet_interfaces"],
        capture_output=True,
        check=False,
        text=True,
    ).stdout.strip()
    assert interfaces == "127.0.0.1"
    assert "managed by exteri-mail" in Path("/etc/dovecot/dovecot.conf").read_text()
    assert Path("/run/dovecot/master.pid").is_file()
    subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=True)

    address, password = mario
    deployed.send(address, "Benvenuto sul server")
    deployed.wait_for(address, password, "Benvenuto sul server")


def test_second_apply_changes_nothing(deployed, mario):
    outcome = deploy.run(str(deployed.inventory))

    assert outcome.ok, deploy.failure_text(outcome)
    assert [(r.host, r.task) for r in outcome.changed] == []
    assert outcome.stats["localhost"]["changed"] == 0


def test_check_mode_on_the_deployed_host_reports_no_change(deployed, mario):
    result = deployed.deploy("--check", "--json")

    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["changed"] == []
    assert summary["hosts"]["localhost"]["changed"] == 0


def test_broken_tls_path_fails_at_validation_and_mail_still_flows(deployed, mario):
    before = Path("/etc/postfix/main.cf").read_text()

    result = deployed.deploy(
        "-e",
        "exteri_mail_tls_cert=/nonexistent/cert.pem",
        "-e",
        "exteri_mail_tls_self_signed=false",
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "  localhost: task 'Check the TLS certificate' (ansible.builtin.assert): "
        "exteri_mail_tls_cert /nonexistent/cert.pem is not a readable certificate "
        "(Could not open file or uri for loading certificate from "
        "/nonexistent/cert.pem)"
    )
    assert Path("/etc/postfix/main.cf").read_text() == before
    address, password = mario
    deployed.send(address, "Ancora in servizio")
    deployed.wait_for(address, password, "Ancora in servizio")
