"""The milter that rebuilds what comes back to an SRS address.

Port 25 sends a bounce for an SRS address (a forward destination's report)
through the `srsreturn` listener of the main Postfix (main.cf, master.cf),
whose only milter is this one: it replaces the whole message with a report
of ours (see bounces.py) before Postfix relays it to the original sender.
The account is recognised from the registry: its forward address, or one
of its addresses, named in the report. When the registry cannot answer, or
anything else fails, the message is deferred (4xx), never passed on as it
came; Postfix defers it too when this milter is down.
"""

import logging
from collections import Counter

import Milter
import psycopg
from psycopg_pool import ConnectionPool

from ..settings import Settings
from . import bounces, config, helpers

log = logging.getLogger("exteri_mail.bouncefilter")

# Accounts named by a report: by one of their addresses, or by the forward
# address their current one leads to (mail_aliases.destination).
_NAMED = (
    "SELECT local_part || '@' || domain, destination FROM mail_aliases "
    "WHERE lower(local_part || '@' || domain) = ANY(%(words)s) "
    "OR string_to_array(lower(destination), ',') && %(words)s"
)
PLACEHOLDER_LOCAL_PART = "forward-address-withheld"


def recognise(
    rows: list[tuple[str, str]], words: set[str], ours: set[str]
) -> tuple[str | None, set[str]]:
    """The account a report is about, and the forward addresses it names.

    ROWS are mail_aliases rows (address, destination) that WORDS name.
    The forward address named is the best evidence; an address of ours
    (the returned message's To, an Original-Recipient) settles a tie or
    stands in when the report names a later hop of the destination.
    """
    by_forward, by_address, forwards = set(), set(), set()
    for address, destination in rows:
        address, targets = address.lower(), destination.lower().split(",")
        outside = [t for t in targets if t.rpartition("@")[2] not in ours]
        if outside:  # a current address that forwards
            if words.intersection(outside):
                by_forward.add(address)
                forwards.update(outside)
            if address in words:
                by_address.add(address)
        elif address in words and len(targets) == 1:
            by_address.add(targets[0])  # an alias or former address
    for candidates in (by_forward & by_address, by_forward, by_address):
        if len(candidates) == 1:
            return candidates.pop(), forwards
    return None, forwards


class BounceFilter(Milter.Base):
    settings: Settings | None = None
    pool: ConnectionPool | None = None

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.recipients: list[str] = []
        self.headers: list[tuple[str, bytes]] = []
        self.chunks: list[bytes] = []

    def envfrom(self, mailfrom, *params):
        self._reset()
        return Milter.CONTINUE

    def envrcpt(self, rcpt, *params):
        self.recipients.append(rcpt.strip("<>"))
        return Milter.CONTINUE

    @Milter.decode("bytes")  # as it came: the report is parsed whole later
    def header(self, name, value):
        self.headers.append((name, value))
        return Milter.CONTINUE

    def body(self, chunk):
        self.chunks.append(chunk)
        return Milter.CONTINUE

    def eom(self):
        try:
            self._replace(*self._rebuilt())
        except psycopg.Error as exc:
            return self._defer("registry unavailable", exc)
        except Exception as exc:  # never pass on what could not be rebuilt
            log.exception("cannot rebuild a report for %s", self.recipients)
            return self._defer("cannot rebuild the report", exc)
        log.info("rebuilt a report for %s", ", ".join(self.recipients))
        return Milter.ACCEPT

    def _defer(self, why: str, exc: Exception):
        log.warning("%s, deferring: %s", why, exc)
        self.setreply("451", "4.3.0", f"{why}, retry later")
        return Milter.TEMPFAIL

    def _rebuilt(self) -> tuple[list[tuple[str, str]], bytes]:
        s = self.settings
        raw = b"".join(
            name.encode() + b": " + value + b"\r\n" for name, value in self.headers
        )
        report = bounces.read(raw + b"\r\n" + b"".join(self.chunks))
        ours = set(helpers.own_domains(s))
        with self.pool.connection() as conn:
            rows = conn.execute(_NAMED, {"words": sorted(report.words)}).fetchall()
        address, forwards = recognise(rows, report.words, ours)
        # A report has one recipient; were others let in beside it, none
        # may learn where the others' mail goes.
        sender = self.recipients[0] if len(self.recipients) == 1 else ""
        msg = bounces.rebuild(
            report,
            sender=sender,
            address=address,
            withheld=bounces.withheld(report, sender, ours, forwards),
            forwards=forwards,
            hostname=s.hostname,
            placeholder=f"{PLACEHOLDER_LOCAL_PART}@{s.primary_domain}",
        )
        return bounces.wire(msg)

    def _replace(self, fields: list[tuple[str, str]], body: bytes) -> None:
        """Every header field goes (the last of a name first, so the
        indexes of the others hold), then ours come in."""
        for name, count in Counter(name for name, _ in self.headers).items():
            for index in range(count, 0, -1):
                self.chgheader(name, index, None)
        for name, value in fields:
            self.addheader(name, value)
        self.replacebody(body)


def serve(s: Settings) -> None:
    # Connections are checked on checkout: after a database restart a
    # pooled one is dead, and the report would be deferred for nothing.
    BounceFilter.settings = s
    BounceFilter.pool = ConnectionPool(
        s.mail_dsn,
        min_size=0,
        max_size=4,
        check=ConnectionPool.check_connection,
        open=True,
    )
    Milter.factory = BounceFilter
    port = config.port(s, "bounce_filter_port")
    log.info("bounce filter listening on 127.0.0.1:%d", port)
    Milter.runmilter("exteri-bouncefilter", f"inet:{port}@127.0.0.1", 30)
