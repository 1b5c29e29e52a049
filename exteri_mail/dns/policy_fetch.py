"""Fetch each domain's MTA-STS policy the way a sending server does.

RFC 8461 section 3.3: HTTPS on port 443 to mta-sts.DOMAIN, a certificate
valid for that name, status 200 only (no redirects), Content-Type
text/plain. The answer is compared with the policy we publish the id of.
"""

import logging
import threading
from pathlib import Path

import dns.resolver
import urllib3
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from ..settings import Settings
from . import mta_sts
from .check import Result, lookup

log = logging.getLogger("exteri_mail.dns")

# Per connect and per read; DEADLINE bounds the whole fetch, which a server
# sending a byte now and then would otherwise stretch without end.
TIMEOUT = 10.0
DEADLINE = 20.0
# RFC 8461 asks senders to read no more than 64 KiB of a policy.
MAX_BODY = 64 * 1024
# A served policy that differs is shown up to this many characters.
SHOWN = 1000
RECORD_TYPE = "MTA-STS"
MAX_ALIASES = 8


class Unreachable(Exception):
    """The policy could not be fetched; the message says why, in one line."""


def check(
    s: Settings,
    domains: list[str],
    res: dns.resolver.Resolver,
    server: tuple[str, int] | None = None,
    ca: Path | None = None,
) -> list[Result]:
    """One result per domain; SERVER (ip, port) replaces DNS and port 443,
    CA the system's trust store."""
    expected = mta_sts.policy(s)
    return [_check(domain, expected, res, server, ca) for domain in domains]


def _check(
    domain: str,
    expected: str,
    res: dns.resolver.Resolver,
    server: tuple[str, int] | None,
    ca: Path | None,
) -> Result:
    url = mta_sts.url(domain)
    try:
        host = mta_sts.host(domain)
        address, port = server or (address_of(res, host), mta_sts.HTTPS_PORT)
        status, content_type, body = fetch(host, address, port, ca)
    except Unreachable as exc:
        return Result(url, RECORD_TYPE, expected, "missing", (str(exc),))

    if 300 <= status < 400:
        found = (f"HTTP {status}, a redirect: senders do not follow it",)
        return Result(url, RECORD_TYPE, expected, "missing", found)
    if status != 200:
        return Result(url, RECORD_TYPE, expected, "missing", (f"HTTP {status}",))
    if content_type != "text/plain":
        found = (f"Content-Type {content_type or '(none)'}",)
        return Result(url, RECORD_TYPE, expected, "wrong", found)
    if len(body) > MAX_BODY:
        found = (f"a body over {MAX_BODY} bytes, more than senders read",)
        return Result(url, RECORD_TYPE, expected, "wrong", found)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Result(url, RECORD_TYPE, expected, "wrong", ("a body not UTF-8",))
    # Lines may end in CRLF or LF (RFC 8461 section 3.2).
    policy = text.replace("\r\n", "\n")
    if policy == expected:
        return Result(url, RECORD_TYPE, expected, "ok", (policy,))
    shown = policy if len(policy) <= SHOWN else policy[:SHOWN] + "..."
    return Result(url, RECORD_TYPE, expected, "wrong", (shown,))


def address_of(res: dns.resolver.Resolver, host: str) -> str:
    """HOST's first address, following CNAMEs: an authoritative server
    (given with --resolver) does not follow them into another zone."""
    name = host
    for _ in range(MAX_ALIASES):
        for rdtype in ("A", "AAAA"):
            found = lookup(res, name, rdtype)
            if found:
                return found[0]
        alias = lookup(res, name, "CNAME")
        if not alias:
            break
        name = alias[0]
    raise Unreachable(f"{host} has no address")


def fetch(host: str, address: str, port: int, ca: Path | None) -> tuple:
    """GET the policy from ADDRESS:PORT as HOST: (status, media type, body),
    the body cut after MAX_BODY + 1 bytes; in DEADLINE seconds at most.

    The fetch runs in a daemon thread given up on at the deadline: a
    blocked read cannot be interrupted, and the process ends soon anyway.
    """
    outcome: list = []

    def attempt() -> None:
        try:
            outcome.append(_fetch(host, address, port, ca))
        except Exception as exc:  # handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=attempt, name=f"fetch {host}", daemon=True)
    worker.start()
    worker.join(DEADLINE)
    if not outcome:
        raise Unreachable(
            f"no full answer from {address}:{port} within {DEADLINE:g} s"
        )
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


def _fetch(host: str, address: str, port: int, ca: Path | None) -> tuple:
    pool = urllib3.HTTPSConnectionPool(
        address,
        port,
        timeout=TIMEOUT,
        retries=False,
        cert_reqs="CERT_REQUIRED",
        ca_certs=str(ca) if ca else None,
        server_hostname=host,
        assert_hostname=host,
    )
    log.debug("fetching https://%s%s from %s:%d", host, mta_sts.PATH, address, port)
    try:
        response = pool.request(
            "GET",
            mta_sts.PATH,
            headers={"Host": host, "User-Agent": "exteri-mail dns check"},
            redirect=False,
            preload_content=False,
        )
        body = response.read(MAX_BODY + 1)
    except HTTPError as exc:
        raise Unreachable(_reason(exc, address, port)) from None
    finally:
        pool.close()

    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    return response.status, media_type.lower(), body


def _reason(exc: HTTPError, address: str, port: int) -> str:
    """One line without urllib3's object names."""
    if isinstance(exc, NewConnectionError):
        cause = exc.__cause__ or exc.__context__
        return f"no connection to {address}:{port}: {cause or exc}"
    if isinstance(exc, SSLError):
        return _line(f"TLS failed: {exc}")
    if isinstance(exc, ReadTimeoutError):
        return f"no answer from {address}:{port} within {TIMEOUT:g} s"
    if isinstance(exc, ProtocolError) and len(exc.args) > 1:
        cause = exc.args[-1]
        return _line(f"{address}:{port} broke off: {type(cause).__name__} {cause}")
    return _line(f"{exc.__class__.__name__}: {exc}")


def _line(text: str) -> str:
    """TEXT on one line: a server's words may hold line breaks."""
    return " ".join(text.split())
