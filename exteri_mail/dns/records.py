"""Every DNS record the two domains need, derived from Settings.

Names are absolute (trailing dot). A TXT value is one unsplit string; the
zone format splits it into the 255-byte strings DNS stores.
"""

import ipaddress
import json
import logging
from dataclasses import asdict, dataclass

import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.TXT import TXT

from ..errors import InvalidInput
from ..settings import Settings
from ..values import WILDCARD_ADDRESSES
from . import config, keys, mta_sts

log = logging.getLogger("exteri_mail.dns")

# RFC 6186 (and RFC 8314 for submissions): service label -> Settings.ports field.
SRV_SERVICES = (
    ("_submission._tcp", "submission"),
    ("_submissions._tcp", "submissions"),
    ("_imap._tcp", "imap"),
    ("_imaps._tcp", "imaps"),
    ("_pop3._tcp", "pop3"),
    ("_pop3s._tcp", "pop3s"),
)
# Names mail clients probe for their settings (served by the web app).
CLIENT_SETUP_NAMES = ("autoconfig", "autodiscover")
TXT_CHUNK = 255
PTR_NOTE = (
    "; Not in these zones: ask the provider of each address for this "
    "reverse DNS (PTR)\n"
)


@dataclass(frozen=True)
class Record:
    name: str
    type: str
    value: str
    ttl: int

    def zone_line(self) -> str:
        return f"{self.name} {self.ttl} IN {self.type} {_rdata(self).to_text()}"


def fqdn(name: str) -> str:
    return name.lower().rstrip(".") + "."


def host_addresses(s: Settings) -> list[str]:
    """Public addresses of the mail host: configured, or those it listens on."""
    chosen = s.deliverability.addresses or [
        a for a in s.listen if a not in WILDCARD_ADDRESSES
    ]
    return _checked(chosen, "deliverability.addresses")


def _checked(addresses: list[str], setting: str) -> list[str]:
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise InvalidInput(f"{setting}: not an IP address: {address!r}") from None
    return addresses


def host_records(s: Settings) -> list[Record]:
    """The mail host's addresses, the SPF record of its HELO name, and the
    reverse name of each address, which must point back at it."""
    ttl, host = s.deliverability.ttl, fqdn(s.hostname)
    addresses = host_addresses(s)
    if not addresses:
        log.warning(
            "no public address for %s: set deliverability.addresses", s.hostname
        )
    rows = [Record(host, "AAAA" if ":" in a else "A", a, ttl) for a in addresses]
    if s.imap_hostname != s.hostname:
        # Dovecot on a host of its own (mailstore.name): clients go there.
        imap_host = fqdn(s.imap_hostname)
        rows += [
            Record(imap_host, "AAAA" if ":" in a else "A", a, ttl)
            for a in s.mailstore.addresses
        ]
    rows.append(Record(host, "TXT", "v=spf1 a -all", ttl))
    rows += [Record(reverse_name(a), "PTR", host, ttl) for a in addresses]
    return rows


def reverse_name(address: str) -> str:
    """1.2.0.192.in-addr.arpa. for 192.0.2.1 (ip6.arpa. for IPv6)."""
    return ipaddress.ip_address(address).reverse_pointer + "."


def domain_records(s: Settings, domain: str, dkim: list[keys.Key]) -> list[Record]:
    d, ttl = s.deliverability, s.deliverability.ttl
    apex, host = fqdn(domain), fqdn(s.hostname)
    reports = f"mailto:{d.report_local_part}@{domain}"
    sts_id = mta_sts.policy_id(s)
    rows = [
        *(Record(apex, "MX", f"10 {fqdn(mx)}", ttl) for mx in config.mx_hosts(s)),
        Record(apex, "TXT", "v=spf1 mx -all", ttl),
        *(
            Record(
                f"{k.selector}._domainkey.{apex}",
                "TXT",
                f"v=DKIM1; k=rsa; p={k.public_b64()}",
                ttl,
            )
            for k in dkim
        ),
        Record(
            f"_dmarc.{apex}", "TXT", f"v=DMARC1; p={d.dmarc_policy}; rua={reports}", ttl
        ),
        Record(f"_mta-sts.{apex}", "TXT", f"v=STSv1; id={sts_id}", ttl),
        Record(fqdn(mta_sts.host(domain)), "CNAME", host, ttl),
        Record(f"_smtp._tls.{apex}", "TXT", f"v=TLSRPTv1; rua={reports}", ttl),
    ]
    # Submission is Postfix's; IMAP and POP3 are Dovecot's, maybe elsewhere.
    target = {"submission": host, "submissions": host}
    imap_host = fqdn(s.imap_hostname)
    rows += [
        Record(
            f"{label}.{apex}",
            "SRV",
            f"0 1 {getattr(s.ports, port)} {target.get(port, imap_host)}",
            ttl,
        )
        for label, port in SRV_SERVICES
    ]
    rows += [
        Record(f"{name}.{apex}", "CNAME", host, ttl) for name in CLIENT_SETUP_NAMES
    ]
    return rows


def expected(s: Settings, domain: str | None = None) -> list[Record]:
    """Every record to publish, or only those inside DOMAIN's zone."""
    dkim = keys.keys(config.dkim_dir(s))
    if not dkim:
        log.warning("no DKIM key yet: run `exteri-mail dns keygen`")
    rows = host_records(s)
    for name in s.domains:
        rows += domain_records(s, name, dkim)
    if domain is None:
        return rows
    zone = _known_domain(s, domain)
    return [r for r in rows if r.name == zone or r.name.endswith(f".{zone}")]


def to_zone(rows: list[Record]) -> str:
    """Zone-file lines; PTR records, which live in the address owner's zone,
    follow as comments."""
    lines = [f"{row.zone_line()}\n" for row in rows if row.type != "PTR"]
    reverse = [f"; {row.zone_line()}\n" for row in rows if row.type == "PTR"]
    if reverse:
        lines.append(PTR_NOTE)
    return "".join(lines + reverse)


def to_json(rows: list[Record]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


def _known_domain(s: Settings, domain: str) -> str:
    zone = fqdn(domain)
    if zone not in {fqdn(d) for d in s.domains}:
        known = ", ".join(s.domains)
        raise InvalidInput(f"not one of our domains: {domain!r} (choose {known})")
    return zone


def _rdata(row: Record) -> dns.rdata.Rdata:
    rdtype = dns.rdatatype.from_text(row.type)
    if rdtype == dns.rdatatype.TXT:
        return txt_rdata(row.value)
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, row.value)


def txt_rdata(value: str) -> dns.rdata.Rdata:
    """One TXT value as the <=255-byte strings DNS stores."""
    raw = value.encode("ascii")
    chunks = [raw[i : i + TXT_CHUNK] for i in range(0, len(raw), TXT_CHUNK)]
    return TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)
