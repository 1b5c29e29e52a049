"""exteri-mail benchmarks: `bench/run [--quick] [--json FILE]`.

Brings up its own instance on loopback (PostgreSQL, Postfix, Dovecot, an
SMTP sink standing in for the users' providers), runs every measurement
several times and prints median, min and max. --quick uses small sizes
(for CI: it proves every figure is produced, not that targets are met).
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import click
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import instance as instance_mod  # noqa: E402
import lookups  # noqa: E402
import mail  # noqa: E402
import people  # noqa: E402

REQUIRED_KEYS = (
    "import_accounts_per_s",
    "lookup_p50_ms_1k",
    "lookup_p50_ms_1m",
    "lookup_ratio_1m_1k",
    "forward_msgs_per_s",
    "forward_ratio_to_hash",
    "lmtp_msgs_per_s",
    "create_to_deliverable_s",
    "cli_show_wall_s",
    "cli_show_peak_mib",
)


@dataclass(frozen=True)
class Sizes:
    mode: str
    import_count: int
    lookup_sizes: tuple[int, ...]
    repeats: int
    lookup_keys: int
    forward_msgs: int
    lmtp_msgs: int
    tool_calls: int
    port_offset: int


FULL = Sizes(
    "full", 100_000, (1_000, 100_000, 1_000_000), 3, 2_000, 2_000, 1_000, 15, 33_000
)
QUICK = Sizes("quick", 2_000, (1_000, 5_000), 2, 200, 100, 60, 3, 34_000)


def label(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}m"
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


class Results:
    def __init__(self):
        self.samples: dict[str, list[float]] = {}
        self.units: dict[str, str] = {}
        self.extra: dict = {"notes": []}

    def add(self, key: str, value: float | None, unit: str) -> None:
        self.units[key] = unit
        self.samples.setdefault(key, [])
        if value is not None:
            self.samples[key].append(value)

    def median(self, key: str) -> float | None:
        values = self.samples.get(key)
        return statistics.median(values) if values else None

    def note(self, text: str) -> None:
        self.extra["notes"].append(text)
        click.echo(f"note: {text}", err=True)

    def table(self) -> str:
        lines = [
            f"{'figure':<34} {'unit':<10} {'median':>12} {'min':>12} {'max':>12}  n"
        ]
        for key, values in self.samples.items():
            cells = (
                [statistics.median(values), min(values), max(values)]
                if values
                else [None] * 3
            )
            shown = " ".join(f"{_fmt(v):>12}" for v in cells)
            lines.append(f"{key:<34} {self.units[key]:<10} {shown}  {len(values)}")
        return "\n".join(lines)

    def as_json(self) -> dict:
        data = {key: self.median(key) for key in self.samples}
        return {**data, "samples": self.samples, "units": self.units, **self.extra}


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


# --- stages ----------------------------------------------------------------

RETRYABLE = (
    psycopg.OperationalError,
    instance_mod.RegistryGone,
    TimeoutError,
    mail.Deferred,
)


def retrying(results: "Results", what: str, step, *args, inst=None):
    """STEP(*ARGS), repeated when PostgreSQL went away under it."""
    for attempt in range(3):
        try:
            return step(*args)
        except RETRYABLE as exc:
            if attempt == 2:
                raise
            results.note(
                f"{what}: repeated after {type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0][:160]}"
            )
            instance_mod.wait_for_postgres()
            if inst is not None and inst.running:
                mail.reload(inst)
            time.sleep(5)


def bench_import(inst, sizes: Sizes, results: Results, hashes, work: Path) -> None:
    def once() -> float:
        inst.reset()
        return inst.load(sizes.import_count, 0, hashes, work)

    for _ in range(sizes.repeats):
        seconds = retrying(results, "import", once)
        results.add("import_seconds", seconds, "s")
        results.add("import_accounts_per_s", sizes.import_count / seconds, "accounts/s")


def bench_lookups(inst, sizes: Sizes, results: Results, hashes, work: Path) -> None:
    inst.reset()
    loaded, first, last = 0, sizes.lookup_sizes[0], sizes.lookup_sizes[-1]
    plans, scans = {}, {}
    for size in sizes.lookup_sizes:
        click.echo(f"loading the registry to {size} accounts", err=True)
        retrying(results, "loading", inst.load, size - loaded, loaded, hashes, work)
        loaded = size
        keys = {"1k": first, "1m": last}
        names = [label(size)] + [
            k for k, v in keys.items() if v == size and k != label(size)
        ]
        _lookup_round(inst, sizes, results, names)
        plans[label(size)], scans[label(size)] = retrying(
            results, "plans", lookups.plans, inst
        )
        if inst.running:
            retrying(
                results,
                "postmap/doveadm",
                _tool_lookups,
                inst,
                sizes,
                results,
                label(size),
            )

    p50 = {
        size: results.median(f"lookup_p50_ms_{label(size)}") for size in (first, last)
    }
    results.add("lookup_ratio_1m_1k", p50[last] / p50[first], "ratio")
    results.extra["plans"] = plans
    results.extra["seq_scans"] = scans
    for size_label, found in scans.items():
        for line in found:
            results.note(f"sequential scan at {size_label}: {line}")


def _lookup_round(inst, sizes: Sizes, results: Results, names: list[str]) -> None:
    def once(repeat: int) -> dict:
        keys = lookups.sample_keys(inst, sizes.lookup_keys, seed=repeat)
        return lookups.summary(lookups.sql_latencies(inst, keys))

    for repeat in range(sizes.repeats):
        summary = retrying(results, "lookups", once, repeat)
        for name in names:
            results.add(f"lookup_p50_ms_{name}", summary["p50_ms"], "ms")
            results.add(f"lookup_p99_ms_{name}", summary["p99_ms"], "ms")
        for query, value in summary.items():
            if query not in ("p50_ms", "p99_ms"):
                results.add(f"lookup_{query}_{names[0]}", value, "ms")


def _tool_lookups(inst, sizes: Sizes, results: Results, size_label: str) -> None:
    keys = lookups.sample_keys(inst, sizes.lookup_keys, seed=99)
    results.add(
        f"postmap_ms_per_key_{size_label}", lookups.postmap_ms_per_key(inst, keys), "ms"
    )
    tools = lookups.doveadm_ms(inst, keys[: sizes.tool_calls])
    results.add(
        f"doveadm_auth_test_ms_{size_label}", tools and tools["auth_test_ms"], "ms"
    )
    results.add(f"doveadm_user_ms_{size_label}", tools and tools["user_ms"], "ms")


def bench_mail(inst, sink, sizes: Sizes, results: Results, work: Path) -> None:
    forwards = mail.recipients(inst, "easy", 200)
    rate = lambda: mail.forward_rate(inst, sink, forwards, sizes.forward_msgs)  # noqa: E731
    for _ in range(sizes.repeats):
        results.add(
            "forward_msgs_per_s",
            retrying(results, "forwarding", rate, inst=inst),
            "msgs/s",
        )
    click.echo("building hash: tables from the registry", err=True)
    changed = mail.build_hash_tables(inst, work)
    with mail.hash_tables(inst, changed):
        for _ in range(sizes.repeats):
            results.add(
                "forward_hash_msgs_per_s",
                retrying(results, "forwarding", rate, inst=inst),
                "msgs/s",
            )
    results.add(
        "forward_ratio_to_hash",
        results.median("forward_msgs_per_s")
        / results.median("forward_hash_msgs_per_s"),
        "ratio",
    )

    mailboxes = mail.recipients(inst, "plus", 50)
    for _ in range(sizes.repeats):
        results.add(
            "lmtp_msgs_per_s",
            mail.lmtp_rate(inst, mailboxes, sizes.lmtp_msgs),
            "msgs/s",
        )
    for index in range(max(3, sizes.repeats)):
        results.add(
            "create_to_deliverable_s", mail.create_to_deliverable(inst, index), "s"
        )


def bench_cli(inst, sizes: Sizes, results: Results) -> None:
    with inst.connect() as conn:
        local = conn.execute(
            "SELECT local_part FROM addresses WHERE is_current "
            "ORDER BY local_part LIMIT 1"
        ).fetchone()[0]
    address = f"{local}@{inst.settings.primary_domain}"
    for _ in range(max(5, sizes.tool_calls)):
        args = [str(instance_mod.EXE), "--config", str(inst.config)]
        wall, peak, cpu = _child_cost([*args, "account", "show", address])
        results.add("cli_show_wall_s", wall, "s")
        results.add("cli_show_peak_mib", peak, "MiB")
        results.add("cli_show_cpu_s", cpu, "s")


def _child_cost(args: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds of one command.

    GNU time runs it: a child forked from this (large) process would count
    the parent's pages in its peak until it execs.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        started = time.perf_counter()
        result = subprocess.run(
            ["/usr/bin/time", "-o", report.name, "-f", "%M %U %S", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[-3:])} failed: {result.stderr.strip()}")
        peak_kib, user, system = report.read().split()[-3:]
    return wall, int(peak_kib) / 1024, float(user) + float(system)


def machine() -> dict:
    def version(args):
        try:
            out = subprocess.run(args, capture_output=True, text=True)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return None

    return {
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "postfix": version(["postconf", "-h", "mail_version"]),
        "dovecot": version(["dovecot", "--version"]),
        "postgresql": version(["psql", "--version"]),
    }


# --- entry point -----------------------------------------------------------


@click.command()
@click.option(
    "--quick", is_flag=True, help="Small sizes: every figure, in about a minute."
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the results (medians, samples, plans) here.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Instance folder (default /var/lib/exteri-mail-bench/MODE).",
)
@click.option("--keep", is_flag=True, help="Leave the instance running afterwards.")
@click.option(
    "--throwaway",
    is_flag=True,
    help="Own database, folder and ports for this run, removed at the end "
    "(several runs may share the machine, as in CI).",
)
def main(quick, json_path, state_dir, keep, throwaway):
    """Measure import, lookups, mail throughput and CLI cost; print a table."""
    sizes = QUICK if quick else FULL
    db_name = f"exteri_bench_{sizes.mode}"
    if throwaway:
        db_name = f"exteri_bench_{os.getpid()}"
        sizes = replace(sizes, port_offset=_free_offset())
    state_dir = state_dir or Path(
        "/var/lib/exteri-mail-bench", db_name if throwaway else sizes.mode
    )
    results = Results()
    results.extra.update(
        mode=sizes.mode,
        sizes=asdict(sizes),
        machine=machine(),
        lookup_1k_is=sizes.lookup_sizes[0],
        lookup_1m_is=sizes.lookup_sizes[-1],
    )
    started = time.monotonic()
    sink = mail_sink()
    inst, message = instance_mod.up(state_dir, db_name, sink.port, sizes.port_offset)
    if not inst.running:
        results.note(f"mail stack not running ({message}); mail figures are missing")
    try:
        with tempfile.TemporaryDirectory(prefix="exteri-bench-") as tmp:
            run_stages(inst, sink, sizes, results, Path(tmp))
    finally:
        if not keep:
            instance_mod.down(inst)
        if throwaway:
            instance_mod.remove(inst, db_name)
        sink.stop()
    results.extra["elapsed_s"] = round(time.monotonic() - started, 1)
    results.extra["machine"]["load_average_after"] = os.getloadavg()
    report(results, json_path)


def _free_offset() -> int:
    """A port offset whose every port is free now (other instances may run)."""
    from exteri_mail.dns.config import STANDARD_PORTS
    from exteri_mail.settings import Ports

    bases = [*Ports().model_dump().values(), *STANDARD_PORTS.values()]
    for step in range(20):
        offset = 35_000 + 1_000 * ((os.getpid() + step) % 20)
        if all(_port_free(base + offset) for base in bases):
            return offset
    raise RuntimeError("no free range of ports for a throwaway instance")


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def mail_sink():
    from sink import Sink

    return Sink()


def run_stages(inst, sink, sizes: Sizes, results: Results, work: Path) -> None:
    hashes = people.hashes()
    click.echo(f"import of {sizes.import_count} accounts x{sizes.repeats}", err=True)
    bench_import(inst, sizes, results, hashes, work)
    bench_lookups(inst, sizes, results, hashes, work)
    if inst.running:
        click.echo("mail throughput", err=True)
        bench_mail(inst, sink, sizes, results, work)
    else:
        for key, unit in (
            ("forward_msgs_per_s", "msgs/s"),
            ("forward_ratio_to_hash", "ratio"),
            ("lmtp_msgs_per_s", "msgs/s"),
            ("create_to_deliverable_s", "s"),
        ):
            results.add(key, None, unit)
    bench_cli(inst, sizes, results)
    results.add("postfixadmin_ratio", None, "ratio")
    results.extra["postfixadmin"] = POSTFIXADMIN_NOTE


POSTFIXADMIN_NOTE = (
    "not measured: Debian's postfixadmin 3.3 installs in seconds here, but "
    "its schema is created by its web setup page (setup.php, with a setup "
    "password) on a database made by dbconfig-common, and postfixadmin-cli "
    "adds one mailbox per PHP process; that set-up was not automated"
)


def report(results: Results, json_path: Path | None) -> None:
    click.echo(results.table())
    missing = [key for key in REQUIRED_KEYS if results.median(key) is None]
    if missing:
        click.echo(f"missing figures: {', '.join(missing)}", err=True)
    if json_path:
        json_path.write_text(
            json.dumps(results.as_json(), indent=2, default=str) + "\n"
        )


if __name__ == "__main__":
    main()
