"""`exteri-mail deploy`: site.yml through ansible-runner, summed up per host.

ansible-runner runs ansible-playbook in a child process and hands every
event back here: each finished task becomes one progress line, failures
keep the module's own message, and the play's statistics give the summary.
"""

import difflib
import logging
import os
import shlex
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ExteriError
from .resources import resource

log = logging.getLogger("exteri_mail.deploy")

PLAYBOOK = "site.yml"
# Runner event -> the word a progress line shows.
STATUS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}
# ansible-runner's statistics -> the summary's columns.
COLUMNS = {
    "ok": "ok",
    "changed": "changed",
    "failures": "failed",
    "dark": "unreachable",
    "skipped": "skipped",
}


class DeployFailed(ExteriError):
    """A host was unreachable or a task failed on it."""


@dataclass(frozen=True)
class TaskResult:
    host: str
    task: str
    status: str  # ok, changed, hidden (no_log), failed, unreachable, skipped
    action: str = ""
    message: str = ""
    diff: str = ""  # with --diff: what the task changed in files

    def line(self) -> str:
        text = f"{self.status:<11} {self.host}  {self.task}"
        return f"{text}: {self.message}" if self.message else text


@dataclass
class Outcome:
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    results: list[TaskResult] = field(default_factory=list)
    runner_status: str = ""
    tail: str = ""  # the end of ansible's own output, for a run with no events

    @property
    def failures(self) -> list[TaskResult]:
        return [r for r in self.results if r.status in ("failed", "unreachable")]

    @property
    def changed(self) -> list[TaskResult]:
        return [r for r in self.results if r.status == "changed"]

    @property
    def ok(self) -> bool:
        return self.runner_status == "successful" and not self.failures


def _message(res: dict) -> str:
    """The module's own words: its msg, and the last line of its stderr."""
    parts = [str(res.get("msg") or "").strip()]
    stderr = str(res.get("stderr") or "").strip()
    if stderr and stderr not in parts[0]:
        parts.append(stderr.splitlines()[-1])
    text = ": ".join(p for p in parts if p)
    return " ".join(text.split())


def _diff(res: dict) -> str:
    """Ansible's diff entries of a result as one unified diff."""
    entries = res.get("diff") or []
    if isinstance(entries, dict):
        entries = [entries]
    chunks = []
    for entry in entries:
        if "prepared" in entry:
            chunks.append(str(entry["prepared"]))
        elif isinstance(entry.get("before"), str) and isinstance(
            entry.get("after"), str
        ):
            chunks.extend(
                difflib.unified_diff(
                    entry["before"].splitlines(keepends=True),
                    entry["after"].splitlines(keepends=True),
                    fromfile=str(entry.get("before_header", "before")),
                    tofile=str(entry.get("after_header", "after")),
                )
            )
    return "".join(chunks)


def task_result(event: dict) -> TaskResult | None:
    """The TaskResult of one runner event, or None for other events."""
    status = STATUS.get(event.get("event", ""))
    if status is None:
        return None
    data = event.get("event_data", {})
    res = data.get("res") or {}
    if status == "ok" and res.get("changed"):
        status = "changed"
    elif status == "ok" and "censored" in res:
        # ansible-runner drops a no_log result whole, its changed flag too;
        # the play's statistics still count it.
        status = "hidden"
    ignored = status == "failed" and data.get("ignore_errors")
    message = _message(res) if status in ("failed", "unreachable") else ""
    return TaskResult(
        host=data.get("host", "?"),
        task=data.get("task", "?"),
        status="ok" if ignored else status,
        action=data.get("task_action", ""),
        message=message,
        diff=_diff(res) if status == "changed" else "",
    )


def _cmdline(
    inventory: str, check: bool, diff: bool, extra_vars: tuple[str, ...]
) -> tuple[str, str | list]:
    """ansible-playbook's extra arguments, and the runner's inventory value."""
    args = []
    path = Path(inventory)
    if path.exists():
        runner_inventory: str | list = str(path.resolve())
    elif "," in inventory:
        # A host list, as `ansible-playbook -i host1,host2,` takes it.
        args += ["-i", inventory]
        runner_inventory = []
    else:
        raise DeployFailed(
            f"inventory not found: {inventory} "
            "(give a file, or hosts separated by commas)"
        )
    if check:
        args.append("--check")
    if diff:
        args.append("--diff")
    for value in extra_vars:
        args += ["-e", value]
    return shlex.join(args), runner_inventory


def _environment() -> dict[str, str]:
    # ansible-playbook is installed beside this Python (the deploy extra).
    bin_dir = str(Path(sys.executable).parent)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        # One process per task instead of a copied module file: faster.
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_ROLES_PATH": str(resource("roles")),
    }


def run(
    inventory: str,
    limit: str | None = None,
    check: bool = False,
    diff: bool = False,
    extra_vars: tuple[str, ...] = (),
    on_result: Callable[[TaskResult], None] | None = None,
) -> Outcome:
    """Run site.yml against INVENTORY; ON_RESULT sees each task as it ends."""
    try:
        import ansible_runner
    except ImportError:
        raise DeployFailed(
            "exteri-mail deploy needs ansible-runner: pip install 'exteri-mail[deploy]'"
        ) from None
    cmdline, runner_inventory = _cmdline(inventory, check, diff, extra_vars)
    playbook = resource(PLAYBOOK)
    outcome = Outcome()

    def handle(event: dict) -> bool:
        if event.get("event") == "playbook_on_stats":
            outcome.stats = _stats(event.get("event_data", {}))
        result = task_result(event)
        if result is not None:
            outcome.results.append(result)
            if on_result is not None:
                on_result(result)
        return False  # nothing is kept on disk: the folder is temporary

    log.info("running %s against %s", playbook, inventory)
    with tempfile.TemporaryDirectory(prefix="exteri-mail-deploy-") as private:
        runner = ansible_runner.run(
            private_data_dir=private,
            project_dir=str(playbook.parent),
            playbook=playbook.name,
            inventory=runner_inventory,
            limit=limit,
            cmdline=cmdline,
            envvars=_environment(),
            quiet=True,
            event_handler=handle,
            settings={"suppress_ansible_output": True},
        )
        outcome.runner_status = runner.status
        if not outcome.results or runner.status != "successful":
            outcome.tail = _tail(runner)
    return outcome


def _stats(raw: dict) -> dict[str, dict[str, int]]:
    hosts = sorted({h for key in COLUMNS for h in raw.get(key) or {}})
    return {
        host: {
            column: (raw.get(key) or {}).get(host, 0) for key, column in COLUMNS.items()
        }
        for host in hosts
    }


def _tail(runner) -> str:
    try:
        lines = [line for line in runner.stdout.read().splitlines() if line.strip()]
    except (OSError, ValueError):
        return ""
    errors = [line for line in lines if "ERROR" in line]
    return " ".join((errors or lines[-1:] or [""])[-1].split())


def failure_text(outcome: Outcome) -> str:
    """One line per failing host and task, with the module's message."""
    if outcome.failures:
        return "deploy failed:\n  " + "\n  ".join(
            f"{r.host}: task '{r.task}' ({r.action or r.status}): "
            f"{r.message or r.status}"
            for r in outcome.failures
        )
    return (
        f"deploy {outcome.runner_status}: "
        f"{outcome.tail or 'ansible-playbook gave no reason'}"
    )
