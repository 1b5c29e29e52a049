"""Our own small daemons (`server watch`, `server fromcheck`, `web`), run in
the background by `server up`: one pid file and one log file each."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..errors import ServerError
from ..settings import Settings


def pid_file(s: Settings, name: str) -> Path:
    return s.path("dovecot_run_dir").parent / f"{name}.pid"


def running_pid(s: Settings, name: str) -> int | None:
    try:
        pid = int(pid_file(s, name).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start(
    s: Settings,
    config: Path,
    name: str,
    port: int | None = None,
    args: tuple[str, ...] | None = None,
) -> None:
    """Run `exteri-mail server NAME` (or `exteri-mail ARGS`) in the
    background, once; with PORT, return only when it accepts connections."""
    if running_pid(s, name) is not None:
        return
    if port is not None and not _port_free(port):
        raise ServerError(
            f"server {name}: port 127.0.0.1:{port} is taken by another process"
        )
    command = [sys.executable, "-m", "exteri_mail.cli", "--config", str(config)]
    with open(s.path("log_dir") / f"{name}.log", "a") as out:
        proc = subprocess.Popen(
            [*command, *(args or ("server", name))],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    pid_file(s, name).write_text(str(proc.pid))
    if port is not None:
        _wait_for_port(proc, name, port)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_for_port(proc: subprocess.Popen, name: str, port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"server {name} exited at start (see its log)")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise ServerError(f"server {name} did not listen on 127.0.0.1:{port} within 20 s")


def stop(s: Settings, name: str) -> None:
    pid = running_pid(s, name)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
    pid_file(s, name).unlink(missing_ok=True)
