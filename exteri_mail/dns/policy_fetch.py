"""Fetch each domain's MTA-STS policy the way a sending server does.

RFC 8461 section 3.3: HTTPS on port 443 to mta-sts.DOMAIN, a certificate
valid for that name, status 200 only (no redirects), Content-Type
text/plain. The answer is compared with the policy we publish the id of.
"""

import logging
from pathlib import Path

import dns.resolver
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, SSLError

from ..settings import Settings
from . import mta_sts
from .check import Result, lookup

log = logging.getLogger("exteri_mail.dns")

TIMEOUT = 10.0
# RFC 8461 asks senders to read no more than 64 KiB of a policy.
MAX_BODY = 64 * 1024
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

    if status != 200:
        return Result(url, RECORD_TYPE, expected, "missing", (f"HTTP {status}",))
    if content_type != "text/plain":
        found = (f"Content-Type {content_type or '(none)'}",)
        return Result(url, RECORD_TYPE, expected, "wrong", found)
    # Lines may end in CRLF or LF (RFC 8461 section 3.2).
    policy = body.replace("\r\n", "\n")
    verdict = "ok" if policy == expected else "wrong"
    return Result(url, RECORD_TYPE, expected, verdict, (policy,))


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
    """GET the policy from ADDRESS:PORT as HOST: (status, media type, text)."""
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
        body = response.read(MAX_BODY)
    except HTTPError as exc:
        raise Unreachable(_reason(exc, address, port)) from None
    finally:
        pool.close()

    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    return response.status, media_type.lower(), body.decode("utf-8", "replace")


def _reason(exc: HTTPError, address: str, port: int) -> str:
    """One line without urllib3's object names."""
    if isinstance(exc, NewConnectionError):
        cause = exc.__cause__ or exc.__context__
        return f"no connection to {address}:{port}: {cause or exc}"
    if isinstance(exc, SSLError):
        return f"TLS failed: {exc}"
    return f"{exc.__class__.__name__}: {exc}"
