"""Mail through the running instance: forwarding, LMTP delivery, new accounts."""

import json
import smtplib
import subprocess
import threading
import time
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

from people import GIVEN

SENDER = "mittente@ext.test"
# The maps `server up` points at the registry, and the view each one reads.
MAPS = {
    "virtual_mailbox_domains": ("domains", "SELECT domain, domain FROM mail_domains"),
    "virtual_alias_maps": (
        "aliases",
        "SELECT local_part || '@' || domain, destination FROM mail_aliases",
    ),
    "virtual_mailbox_maps": (
        "mailboxes",
        "SELECT local_part || '@' || domain, mailbox FROM mail_mailboxes",
    ),
    "smtpd_sender_login_maps": (
        "sender_logins",
        "SELECT local_part || '@' || domain, login FROM mail_sender_logins",
    ),
    # Port 25's refusal of our submission users' addresses as senders.
    "smtpd_sender_restrictions": (
        "sender_owned",
        "SELECT DISTINCT local_part || '@' || domain, '553 5.7.1 Sender address "
        "belongs to a user of ours' FROM mail_sender_logins",
    ),
}


def message(recipient: str, number: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = recipient
    msg["Subject"] = f"bench {number}"
    msg["Message-ID"] = f"<bench-{number}-{time.monotonic_ns()}@ext.test>"
    msg.set_content("Prova di inoltro.\n" * 40)
    return msg.as_bytes()


def recipients(instance, plan: str, count: int) -> list[str]:
    with instance.connect() as conn:
        rows = conn.execute(
            "SELECT ad.local_part FROM addresses ad "
            "JOIN accounts ac ON ac.id = ad.account_id "
            "WHERE ad.is_current AND ac.status = 'active' AND ac.plan = %s "
            "AND (ac.forward IS NOT NULL) = %s ORDER BY md5(ad.local_part) LIMIT %s",
            (plan, plan != "plus", count),
        ).fetchall()
    return [f"{local}@{instance.settings.primary_domain}" for (local,) in rows]


class Deferred(Exception):
    """The server answered 4xx (e.g. its registry was briefly unreachable)."""


def _send_all(connect, addresses: list[str], total: int, workers: int) -> None:
    """TOTAL messages round-robin over ADDRESSES, from WORKERS sessions."""
    errors: list[Exception] = []

    def worker(index: int) -> None:
        try:
            with connect() as client:
                for n in range(index, total, workers):
                    rcpt = addresses[n % len(addresses)]
                    client.sendmail(SENDER, [rcpt], message(rcpt, n))
        except Exception as exc:  # reported below, after every thread ended
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors and "(4" in repr(errors[0]):
        raise Deferred(f"sending deferred: {errors[0]!r}")
    if errors:
        raise RuntimeError(f"sending failed: {errors[0]!r}")


def forward_rate(
    instance, sink, addresses: list[str], total: int, workers: int = 4
) -> float:
    """Messages/s from the first SMTP command to the last one at the sink."""
    connect = lambda: smtplib.SMTP("127.0.0.1", instance.smtp_port, timeout=60)  # noqa: E731
    base = sink.count
    started = time.monotonic()
    _send_all(connect, addresses, total, workers)
    done = sink.wait_for(base + total, timeout=300)
    return total / (done - started)


def lmtp_rate(instance, addresses: list[str], total: int, workers: int = 2) -> float:
    """Messages/s delivered into Maildirs by Dovecot's LMTP (each reply waits)."""
    socket_path = (
        instance.settings.path("postfix_queue_dir") / "private" / "dovecot-lmtp"
    )
    connect = lambda: smtplib.LMTP(str(socket_path), timeout=60)  # noqa: E731
    started = time.monotonic()
    _send_all(connect, addresses, total, workers)
    return total / (time.monotonic() - started)


def _postconf(instance, *args: str) -> str:
    return subprocess.run(
        ["postconf", "-c", str(instance.postfix_dir), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def reload(instance) -> None:
    """Postfix forgets cached lookup failures after a reload."""
    _reload(instance)


def _reload(instance) -> None:
    subprocess.run(
        ["postfix", "-c", str(instance.postfix_dir), "reload"],
        capture_output=True,
        check=True,
    )
    # Running smtpd processes finish their session with the old tables.
    time.sleep(2)


def build_hash_tables(instance, work: Path) -> dict[str, str]:
    """The same data as the pgsql maps, as hash: tables; param -> new value."""
    tables = {}
    with instance.connect() as conn:
        for param, (name, query) in MAPS.items():
            source = work / f"hash-{name}"
            with open(source, "w") as out:
                for key, value in conn.execute(query):
                    out.write(f"{key} {value}\n")
            subprocess.run(
                ["postmap", "-c", str(instance.postfix_dir), f"hash:{source}"],
                check=True,
                capture_output=True,
            )
            tables[name] = f"hash:{source}"
    changed = {}
    for param, (name, _) in MAPS.items():
        value = _postconf(instance, "-h", param)
        pgsql = f"proxy:pgsql:$config_directory/pgsql/{name}.cf"
        absolute = f"proxy:pgsql:{instance.postfix_dir}/pgsql/{name}.cf"
        changed[param] = value.replace(pgsql, tables[name]).replace(
            absolute, tables[name]
        )
    return changed


@contextmanager
def hash_tables(instance, changed: dict[str, str]):
    """The instance's Postfix on hash: tables for the duration, then restored."""
    original = {param: _postconf(instance, "-h", param) for param in changed}
    _postconf(instance, "-e", *(f"{p}={v}" for p, v in changed.items()))
    _reload(instance)
    try:
        yield
    finally:
        _postconf(instance, "-e", *(f"{p}={v}" for p, v in original.items()))
        _reload(instance)


def create_to_deliverable(instance, index: int) -> float:
    """Seconds from `account create` returning to a message accepted for it."""
    first = f"{GIVEN[index % len(GIVEN)]} {GIVEN[(index * 7 + 3) % len(GIVEN)]}"
    result = instance.cli(
        "account",
        "create",
        "--first",
        first,
        "--last",
        "Cronometro",
        "--forward",
        f"cronometro{index}@ext.test",
        "--json",
    )
    created = time.monotonic()
    address = json.loads(result.stdout)["address"]
    with smtplib.SMTP("127.0.0.1", instance.smtp_port, timeout=30) as client:
        client.ehlo("bench.ext.test")
        while time.monotonic() - created < 30:
            client.mail(SENDER)
            code, _ = client.rcpt(address)
            if code == 250:
                code, _ = client.data(message(address, index))
                if code == 250:
                    return time.monotonic() - created
            client.rset()
            time.sleep(0.002)
    raise RuntimeError(f"{address} was not deliverable within 30 s")
