"""`exteri-mail deploy` with a split inventory: registry, MX and IMAP hosts.

The three hosts are this machine three times over (local connection), each
with its own settings, state and log folders, as inventory/split lays them
out: the MX host runs Postfix only and reaches Dovecot on the IMAP host
over TCP (mailstore.host), the IMAP host runs Dovecot only and opens LMTP,
auth and quota-status for it (mailstore.listen). Only the addresses are
loopback ones.
"""

import fcntl
import imaplib
import json
import os
import shutil
import smtplib
import ssl
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

from exteri_mail import postgres
from exteri_mail.settings import Ports
from tests.mailstack import EXTERI_MAIL
from tests.test_deploy import LOCK, ROOT, _free_offset, _restore, _snapshot, _stop

pytestmark = pytest.mark.daemons

BASE = Path("/var/lib/exteri-mail-test/deploy-split")
DATABASE = "exteri_deploy_split"
HOSTS = {"db.lab": "exteri_db", "mx.lab": "exteri_mx", "imap.lab": "exteri_imap"}


def _host_vars(name: str) -> dict:
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": "/usr/bin/python3",
        "exteri_mail_config_dir": str(BASE / name / "etc"),
        "exteri_mail_state_dir": str(BASE / name / "state"),
        "exteri_mail_log_dir": str(BASE / name / "log"),
        "exteri_mail_vmail_dir": str(BASE / name / "vmail"),
    }


def _inventory(offset: int) -> dict:
    groups = {
        group: {"hosts": {name: _host_vars(name)}} for name, group in HOSTS.items()
    }
    # The variables of inventory/split/group_vars, on loopback.
    groups["exteri_mx"]["vars"] = {"exteri_mail_mailstore_host": "127.0.0.1"}
    groups["exteri_imap"]["vars"] = {"exteri_mail_mailstore_listen": ["127.0.0.1"]}
    return {
        "all": {
            "children": groups,
            "vars": {
                "exteri_mail_source": str(ROOT),
                "exteri_mail_command_link": "",
                "exteri_mail_hostname": "mail.esteri.org",
                "exteri_mail_operators": "operatori@ext.test",
                "exteri_mail_test_domains": True,
                "exteri_mail_db_name": DATABASE,
                "exteri_mail_db_admin_password": "Rossi-admin-2",
                "exteri_mail_db_mail_password": "Neri-mail-3",
                "exteri_mail_ports": {
                    name: port + offset for name, port in Ports().model_dump().items()
                },
            },
        }
    }


def _config(name: str) -> Path:
    return BASE / name / "etc" / "exteri-mail.toml"


def _deploy(inventory: Path) -> subprocess.CompletedProcess:
    # The three hosts share this machine's apt lock and the package's
    # virtual environment: one host at a time, as they never would.
    return subprocess.run(
        [EXTERI_MAIL, "deploy", "--inventory", str(inventory), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "ANSIBLE_FORKS": "1"},
    )


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = _snapshot()
        for name in HOSTS:
            _stop(_config(name))
        shutil.rmtree(BASE, ignore_errors=True)
        postgres.drop_database(DATABASE)
        offset = _free_offset()
        inventory = tmp_path_factory.mktemp("split") / "inventory.yml"
        inventory.write_text(yaml.safe_dump(_inventory(offset)))
        try:
            yield inventory, offset, _deploy(inventory)
        finally:
            for name in HOSTS:
                _stop(_config(name))
            _restore(saved)
            postgres.drop_database(DATABASE)
            shutil.rmtree(BASE, ignore_errors=True)


def _cli(*args: str) -> dict:
    result = subprocess.run(
        [
            EXTERI_MAIL,
            "--config",
            str(_config("mx.lab")),
            "--operator",
            "tester",
            *args,
            "--json",
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _subjects(port: int, user: str, password: str) -> list[str]:
    context = ssl.create_default_context(
        cafile=str(BASE / "imap.lab" / "etc" / "tls" / "cert.pem")
    )
    context.check_hostname = False
    client = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        client.starttls(context)
        client.login(user, password)
        client.select("INBOX", readonly=True)
        _, data = client.search(None, "ALL")
        found = []
        for number in data[0].split():
            _, parts = client.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            found.append(parts[0][1].decode().split(":", 1)[1].strip())
        return found
    finally:
        client.logout()


def test_split_inventory_brings_up_each_host_with_its_part(split):
    _, offset, first = split
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout)
    assert {host: summary["hosts"][host]["failed"] for host in HOSTS} == dict.fromkeys(
        HOSTS, 0
    )

    # Each host's settings say what it runs; Postfix is configured from the
    # MX host's, Dovecot from the IMAP host's.
    assert 'runs = ["mx"]' in _config("mx.lab").read_text()
    assert 'runs = ["imap"]' in _config("imap.lab").read_text()
    assert "runs = []" in _config("db.lab").read_text()
    transport = subprocess.run(
        ["postconf", "-c", "/etc/postfix", "-h", "virtual_transport"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert transport == f"lmtp:inet:[127.0.0.1]:{24 + offset}"

    account = _cli(
        "account", "create", "--first", "Elena", "--last", "Marchi", "--plan", "plus"
    )
    message = EmailMessage()
    message["From"], message["To"] = "anna.neri@ext.test", account["address"]
    message["Subject"] = "Da un host all'altro"
    message.set_content("Ciao Elena.")
    with smtplib.SMTP("127.0.0.1", 25 + offset, timeout=30) as client:
        client.send_message(message)

    deadline = time.monotonic() + 30
    imap_port = 143 + offset
    while "Da un host all'altro" not in _subjects(
        imap_port, account["address"], account["password"]
    ):
        assert time.monotonic() < deadline, "the mail never reached the IMAP host"
        time.sleep(0.3)


def test_second_split_apply_changes_nothing(split):
    inventory, _, first = split
    assert first.returncode == 0, first.stderr[-3000:]

    again = _deploy(inventory)

    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout)
    assert summary["changed"] == []
    assert {host: summary["hosts"][host]["changed"] for host in HOSTS} == dict.fromkeys(
        HOSTS, 0
    )
