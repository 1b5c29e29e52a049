"""Start, stop, reload and probe Postfix and Dovecot without systemd."""

import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import ServerError

log = logging.getLogger("exteri_mail.server")


def run(
    args: list[str], check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess:
    # Output goes through a file, not a pipe: a daemon that forks keeps its
    # inherited descriptors open, and reading a pipe would wait for it.
    with tempfile.TemporaryFile("w+") as out:
        code = subprocess.run(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=timeout
        ).returncode
        out.seek(0)
        text = out.read()
    result = subprocess.CompletedProcess(args, code, text, text)
    log.debug("%s -> %s %s", " ".join(args), code, text.strip())
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        what = " ".join(a for a in args if not a.startswith("/"))
        errors = [line for line in detail if "rror" in line or "atal" in line]
        reason = (
            errors or detail or [f"exit status {result.returncode}, see its log"]
        )[0]
        raise ServerError(f"{what} failed: {reason}")
    return result


class Postfix:
    def __init__(self, config_dir: Path):
        self.config_dir = config_dir

    def _postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["postfix", "-c", str(self.config_dir), *args], check=check)

    def running(self) -> bool:
        return self._postfix("status", check=False).returncode == 0

    def prepare(self) -> None:
        """Create the queue directories (postfix check makes missing ones)."""
        self._postfix("check")

    def start_or_reload(self) -> None:
        if self.running():
            self._postfix("reload")
        else:
            self._postfix("start")
        log.info("postfix running with %s", self.config_dir)

    def stop(self) -> None:
        if self.running():
            self._postfix("stop")

    def flush(self) -> None:
        run(["postqueue", "-c", str(self.config_dir), "-f"])


class Dovecot:
    def __init__(self, config_file: Path, run_dir: Path):
        self.config_file = config_file
        self.pid_file = run_dir / "master.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        return self.pid() is not None

    def start_or_reload(self) -> None:
        if self.running():
            run(["doveadm", "-c", str(self.config_file), "reload"])
        else:
            run(["dovecot", "-c", str(self.config_file)])
            self._wait(lambda: self.running(), "start")
        log.info("dovecot running with %s", self.config_file)

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        run(["doveadm", "-c", str(self.config_file), "stop"], check=False)
        self._wait(lambda: not alive(pid), "stop")

    def _wait(self, condition, what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise ServerError(
                    f"dovecot did not {what} within {timeout:.0f} s (see its log)"
                )
            time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
