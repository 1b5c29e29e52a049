"""A real authoritative DNS server (Knot) on loopback for the tests.

It serves the zones `exteri-mail dns records --format zone` prints, each
wrapped in the SOA/NS an operator's DNS provider would add, and the zone of
an outside domain whose mail the tests forward.
"""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.resolver

SOA = (
    "@ 3600 IN SOA ns.{origin} hostmaster.{origin} {serial} 3600 600 86400 300\n"
    "@ 3600 IN NS ns.{origin}\n"
    "ns 3600 IN A 127.0.0.1\n"
)


def zone_text(origin: str, records: str, serial: int = 1) -> str:
    origin = origin.rstrip(".") + "."
    return f"$ORIGIN {origin}\n" + SOA.format(origin=origin, serial=serial) + records


def free_udp_tcp_port() -> int:
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


class Knot:
    """knotd in the foreground, one zone file per domain under DIRECTORY."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.port = free_udp_tcp_port()
        self.process: subprocess.Popen | None = None
        self.serial = 1

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def resolver(self) -> dns.resolver.Resolver:
        res = dns.resolver.Resolver(configure=False)
        res.nameservers, res.port = ["127.0.0.1"], self.port
        res.timeout = res.lifetime = 5
        return res

    def serve(self, zones: dict[str, str]) -> None:
        """(Re)start knotd serving ORIGIN -> records (zone-file lines)."""
        self.stop()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.serial += 1
        for origin, records in zones.items():
            text = zone_text(origin, records, self.serial)
            (self.dir / f"{origin}.zone").write_text(text)
        (self.dir / "knot.conf").write_text(self._config(zones))
        with (self.dir / "knotd.log").open("w") as log:
            self.process = subprocess.Popen(
                ["knotd", "-c", str(self.dir / "knot.conf")],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self._wait_ready(next(iter(zones)))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _config(self, zones: dict[str, str]) -> str:
        entries = "".join(
            f"  - domain: {origin}\n    file: {self.dir}/{origin}.zone\n"
            for origin in zones
        )
        return (
            "server:\n"
            f"    rundir: {self.dir}\n"
            f"    listen: 127.0.0.1@{self.port}\n"
            "log:\n"
            "  - target: stderr\n"
            "    any: warning\n"
            "database:\n"
            f"    storage: {self.dir}\n"
            "template:\n"
            "  - id: default\n"
            f"    storage: {self.dir}\n"
            "    zonefile-sync: -1\n"
            "    journal-content: none\n"
            "zone:\n" + entries
        )

    def _wait_ready(self, origin: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        res = self.resolver()
        res.timeout = res.lifetime = 0.5
        while True:
            try:
                res.resolve(origin, "SOA")
                return
            except dns.exception.DNSException:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "knotd.log").read_text()
                    raise AssertionError(f"knotd did not serve {origin}: {log}")
                time.sleep(0.05)
