"""Bring up a local instance and show mail flowing for each plan.

The outside world (the users' Gmail, Outlook...) is a local SMTP sink on
127.0.0.1:2525 that stores what it receives in a Maildir, so the result
can be inspected after the demo.
"""

import json
import mailbox
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mailstack import EXTERI_MAIL, Stack  # noqa: E402
from tests.smtp_clients import imap, message, pop3, smtp, submission  # noqa: E402

STATE_DIR = Path("/var/lib/exteri-mail")
SINK_PORT = 2525
OUTSIDE = STATE_DIR / "outside"
PEOPLE = {
    "easy": ("Mario", "Rossi", "mario.rossi@ext.test"),
    "outbox": ("Sara", "Colombo", "sara.colombo@ext.test"),
    "plus": ("Anna", "Neri", None),
}


def say(text: str = "") -> None:
    print(text, flush=True)


def start_sink() -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", SINK_PORT)) == 0:
            return
    OUTSIDE.mkdir(parents=True, exist_ok=True)
    for folder in mailbox.Maildir(OUTSIDE)._paths.values():
        Path(folder).mkdir(exist_ok=True)
    log = open(STATE_DIR / "outside-sink.log", "a")
    subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{SINK_PORT}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(OUTSIDE),
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(50):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", SINK_PORT)) == 0:
                return
        time.sleep(0.1)
    sys.exit("demo: the outside-world sink did not start")


def outside_has(subject: str, timeout: float = 15) -> mailbox.MaildirMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in mailbox.Maildir(OUTSIDE, create=True):
            if msg["Subject"] == subject:
                return msg
        time.sleep(0.2)
    sys.exit(f"demo: {subject!r} did not reach the outside sink")


def account(stack: Stack, plan: str) -> tuple[str, str | None]:
    first, last, forward = PEOPLE[plan]
    address = f"{first}.{last}@esteri.org".lower()
    if stack.cli("account", "show", address, check=False).returncode != 0:
        args = ["account", "create", "--first", first, "--last", last, "--plan", plan]
        stack.cli(*args, *(["--forward", forward] if forward else []), "--alias")
    if plan == "easy":
        return address, None
    # Passwords are shown once; a rerun of the demo sets a fresh one.
    data = json.loads(stack.cli("account", "password", address, "--json").stdout)
    return address, data["password"]


def main() -> None:
    start_sink()
    up = subprocess.run(
        [EXTERI_MAIL, "server", "up", "--webmail", "--relay",
         f"127.0.0.1:{SINK_PORT}", "--json"],
        capture_output=True,
        text=True,
    )
    if up.returncode != 0:
        sys.exit(up.stderr.strip())
    stack = Stack(STATE_DIR, sink=None, status=json.loads(up.stdout))
    stamp = time.strftime("%H:%M:%S")
    say(f"exteri-mail is up on 127.0.0.1 (settings {STATE_DIR / 'exteri-mail.toml'})\n")

    easy, _ = account(stack, "easy")
    with smtp(stack) as client:
        client.send_message(message("amico@ext.test", easy, f"Easy {stamp}"))
    got = outside_has(f"Easy {stamp}")
    say(
        f"Easy   {easy}: a message sent to it over SMTP arrived at the user's own "
        f"mailbox {got['X-RcptTo']} (envelope sender {got['X-MailFrom']})"
    )

    outbox, password = account(stack, "outbox")
    with submission(stack, outbox, password) as client:
        client.send_message(message(outbox, "amica@ext.test", f"Outbox {stamp}"))
        client.rset()
        client.mail("mario.rossi@esteri.org")
        refused = client.rcpt("amica@ext.test")
    got = outside_has(f"Outbox {stamp}")
    say(
        f"Outbox {outbox}: logged in on port 587 (STARTTLS) and sent as itself to "
        f"{got['X-RcptTo']}; sending as mario.rossi@esteri.org was refused "
        f"({refused[0]} {refused[1].decode()[:40]}...)"
    )

    plus, plus_password = account(stack, "plus")
    with smtp(stack) as client:
        client.send_message(message("amico@ext.test", plus, f"Plus {stamp}"))
    time.sleep(1)
    reader = imap(stack, plus, plus_password, implicit_tls=True)
    reader.select("INBOX", readonly=True)
    found = reader.search(None, "SUBJECT", f'"Plus {stamp}"')[1][0].split()
    reader.logout()
    pop = pop3(stack, plus, plus_password, implicit_tls=True)
    count = pop.stat()[0]
    pop.quit()
    rows = stack.doveadm("-f", "tab", "quota", "get", "-u", plus).stdout.splitlines()
    quota = dict(zip(rows[0].split("\t"), rows[1].split("\t")))
    say(
        f"Plus   {plus}: the message is in its mailbox, read over IMAPS "
        f"({len(found)} found) and POP3S ({count} message(s) in all); quota "
        f"{quota['Value']} of {quota['Limit']} KiB used"
    )

    say(f"""
Try it by hand (passwords just set):
  {outbox:<26} password {password}   (SMTP submission only)
  {plus:<26} password {plus_password}   (IMAP, POP3, SMTP)
  submission  127.0.0.1:587 STARTTLS, or 465 TLS;  IMAP 143/993, POP3 110/995
  webmail (plus only) {stack.status["webmail"]["url"]}   request form {stack.status["web"]}
  the certificate is {STATE_DIR / "tls" / "cert.pem"} (self-signed)
  mail for outside addresses lands in the Maildir {OUTSIDE}
  .venv/bin/exteri-mail account list     .venv/bin/exteri-mail server status
  e.g. openssl s_client -connect 127.0.0.1:993 -quiet  then: a LOGIN {plus} <password>""")


if __name__ == "__main__":
    main()
