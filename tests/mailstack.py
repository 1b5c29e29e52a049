"""Test helpers for the running stack: an SMTP sink for the outside world,
and small waits. The sink plays every outside provider (ext.test, ...)."""

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

EXTERI_MAIL = str(
    Path(__file__).resolve().parent.parent / ".venv" / "bin" / "exteri-mail"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class Sink:
    """Every message Postfix relays to an outside domain lands here."""

    port: int
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
            )
        )
        return "250 OK"

    def wait_for(
        self, rcpt: str, subject: str | None = None, timeout: float = 15
    ) -> Received:
        def match():
            for item in self.received:
                if rcpt.lower() in (r.lower() for r in item.rcpt_tos) and (
                    subject is None or item.message["Subject"] == subject
                ):
                    return item
            return None

        return wait(
            match, timeout, f"no message for {rcpt} ({subject}) reached the sink"
        )

    def start(self) -> Controller:
        controller = Controller(self, hostname="127.0.0.1", port=self.port)
        controller.start()
        return controller


def wait(
    predicate, timeout: float = 15, message: str = "timed out", step: float = 0.05
):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(step)


@dataclass
class Stack:
    """A running instance started with `exteri-mail server up`."""

    state_dir: Path
    sink: Sink
    status: dict

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "EXTERI_MAIL_CONFIG": str(self.state_dir / "exteri-mail.toml"),
        }

    def port(self, name: str) -> int:
        return int(self.status["endpoints"][name].rsplit(":", 1)[1])

    def cli(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [EXTERI_MAIL, "--operator", "tester", *args],
            capture_output=True,
            text=True,
            input=input,
            env=self.env,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"exteri-mail {' '.join(args)}: {result.stderr}")
        return result

    def create(
        self,
        first: str,
        last: str,
        plan: str = "easy",
        forward: str | None = None,
        alias: bool = False,
    ) -> dict:
        args = [
            "account",
            "create",
            "--first",
            first,
            "--last",
            last,
            "--plan",
            plan,
            "--json",
        ]
        if forward:
            args += ["--forward", forward]
        if alias:
            args.append("--alias")
        return json.loads(self.cli(*args).stdout)

    def postfix(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["postfix", "-c", str(self.state_dir / "postfix"), *args],
            capture_output=True,
            text=True,
        )

    def queue(self) -> list[dict]:
        out = subprocess.run(
            ["postqueue", "-c", str(self.state_dir / "postfix"), "-j"],
            capture_output=True,
            text=True,
        ).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def doveadm(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["doveadm", "-c", str(self.state_dir / "dovecot" / "dovecot.conf"), *args],
            capture_output=True,
            text=True,
        )

    def log(self, name: str = "postfix") -> str:
        return (self.state_dir / "log" / f"{name}.log").read_text(errors="replace")
