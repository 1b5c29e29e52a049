"""Compare the records we expect with what a resolver answers."""

import ipaddress
import logging
from dataclasses import dataclass

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from ..errors import InvalidInput, ServerError
from .records import Record

log = logging.getLogger("exteri_mail.dns")

TIMEOUT = 5.0


@dataclass(frozen=True)
class Result:
    """One expected thing (a DNS record, an MTA-STS policy) and what is there."""

    name: str
    type: str
    expected: str
    status: str  # ok, missing or wrong
    found: tuple[str, ...] = ()

    @classmethod
    def of(cls, record: Record, status: str, found: tuple[str, ...]) -> "Result":
        return cls(record.name, record.type, record.value, status, found)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "expected": self.expected,
            "status": self.status,
            "found": list(self.found),
        }


def resolver(address: str | None) -> dns.resolver.Resolver:
    """The system resolver, or the one at IP[:PORT] ([IPv6]:PORT)."""
    if address is None:
        return dns.resolver.Resolver()
    host, port = split_address(address, 53, "resolver", "127.0.0.1:5353")
    res = dns.resolver.Resolver(configure=False)
    res.nameservers, res.port = [host], port
    res.timeout = res.lifetime = TIMEOUT
    return res


def check(expected: list[Record], res: dns.resolver.Resolver) -> list[Result]:
    answers: dict[tuple[str, str], tuple[str, ...]] = {}
    results = []
    for record in expected:
        key = (record.name, record.type)
        if key not in answers:
            answers[key] = lookup(res, *key)
        results.append(_compare(record, answers[key]))
    return results


def _compare(record: Record, found: tuple[str, ...]) -> Result:
    if record.type == "TXT":
        # Other TXT records may share the name (site verifications...): only
        # those of the same kind (v=spf1, v=DKIM1...) can be wrong.
        tag = _txt_tag(record.value)
        same_kind = tuple(v for v in found if _txt_tag(v) == tag)
        if record.value in same_kind:
            return Result.of(record, "ok", same_kind)
        return Result.of(record, "wrong" if same_kind else "missing", same_kind)
    if _normal(record) in {_normal_text(record.type, v) for v in found}:
        return Result.of(record, "ok", found)
    return Result.of(record, "wrong" if found else "missing", found)


def lookup(res: dns.resolver.Resolver, name: str, rdtype: str) -> tuple[str, ...]:
    try:
        answer = res.resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return ()
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        where = ", ".join(f"{ns}:{res.port}" for ns in res.nameservers)
        raise ServerError(
            f"DNS resolver {where} gave no answer for {name} "
            f"{rdtype}: {exc.__class__.__name__}"
        ) from None
    if answer.rrset is None:
        return ()
    return tuple(_text(rdata) for rdata in answer.rrset)


def _text(rdata: dns.rdata.Rdata) -> str:
    if rdata.rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("ascii", "replace")
    return rdata.to_text()


def _normal(record: Record) -> str:
    return _normal_text(record.type, record.value)


def _normal_text(rdtype: str, value: str) -> str:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, value)
    return rdata.to_text().lower()


def _txt_tag(value: str) -> str:
    return value.split(";", 1)[0].split(" ", 1)[0].strip().lower()


def split_address(
    address: str, default_port: int, what: str, example: str
) -> tuple[str, int]:
    """IP[:PORT] or [IPv6]:PORT as (ip, port); WHAT names it in the error."""
    host, port_text = address, str(default_port)
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port_text = rest.removeprefix(":") or port_text
    elif address.count(":") == 1:
        host, port_text = address.split(":")
    try:
        ipaddress.ip_address(host)
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError(port)
    except ValueError:
        raise InvalidInput(
            f"{what} must be IP[:PORT] (e.g. {example}): {address!r}"
        ) from None
    return host, port
