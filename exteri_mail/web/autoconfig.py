"""Mail client settings: Thunderbird autoconfig, Outlook autodiscover, Apple.

Every document offers TLS endpoints only (implicit TLS, or STARTTLS on the
submission port), the full address as user name, and only the services the
plan grants, read from PLANS. When the address is unknown the documents
offer what some plan grants, with Thunderbird's placeholder as user name.
"""

import plistlib
import uuid
from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml.ElementTree import ParseError, fromstring

from ..plans import PLANS, Plan
from ..settings import Settings

PLACEHOLDER = "%EMAILADDRESS%"
AUTODISCOVER_NS = (
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
)
OUTLOOK_NS = (
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)


@dataclass(frozen=True)
class Endpoint:
    service: str  # imap, pop3 or smtp
    host: str
    port: int
    security: str  # SSL (implicit TLS) or STARTTLS


def endpoints(settings: Settings, plan: Plan | None) -> list[Endpoint]:
    """The TLS endpoints of PLAN, or of any plan when PLAN is None."""
    plans = [plan] if plan is not None else list(PLANS.values())
    ports = settings.ports
    # (plan flag, service, port, security), incoming servers first.
    table = (
        ("imap", "imap", ports.imaps, "SSL"),
        ("pop3", "pop3", ports.pop3s, "SSL"),
        ("submission", "smtp", ports.submissions, "SSL"),
        ("submission", "smtp", ports.submission, "STARTTLS"),
    )
    return [
        Endpoint(
            service,
            settings.hostname if service == "smtp" else settings.imap_hostname,
            port,
            security,
        )
        for flag, service, port, security in table
        if any(getattr(p, flag) for p in plans)
    ]


def _texts(parent: Element, pairs) -> None:
    for tag, value in pairs:
        SubElement(parent, tag).text = str(value)


def thunderbird(settings: Settings, points: list[Endpoint], username: str) -> bytes:
    """config-v1.1.xml as Thunderbird's autoconfig reads it."""
    root = Element("clientConfig", version="1.1")
    provider = SubElement(root, "emailProvider", id=settings.primary_domain)
    _texts(provider, (("domain", domain) for domain in settings.domains))
    _texts(
        provider,
        (
            ("displayName", f"{settings.primary_domain} mail"),
            ("displayShortName", settings.primary_domain),
        ),
    )
    for point in points:
        tag = "outgoingServer" if point.service == "smtp" else "incomingServer"
        server = SubElement(provider, tag, type=point.service)
        _texts(
            server,
            (
                ("hostname", point.host),
                ("port", point.port),
                ("socketType", point.security),
                ("username", username),
                ("authentication", "password-cleartext"),
            ),
        )
    return tostring(root, encoding="utf-8", xml_declaration=True)


def autodiscover_address(body: bytes) -> str | None:
    """The EMailAddress of an Outlook autodiscover request, if any."""
    try:
        root = fromstring(body)
    except (ParseError, ValueError):
        return None
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "EMailAddress" and element.text:
            return element.text.strip()
    return None


def autodiscover(settings: Settings, points: list[Endpoint], username: str) -> bytes:
    """Outlook's Autodiscover (POX) response."""
    root = Element("Autodiscover", xmlns=AUTODISCOVER_NS)
    response = SubElement(root, "Response", xmlns=OUTLOOK_NS)
    account = SubElement(response, "Account")
    _texts(account, (("AccountType", "email"), ("Action", "settings")))
    for point in points:
        protocol = SubElement(account, "Protocol")
        tls = (
            (("SSL", "on"),)
            if point.security == "SSL"
            else (("SSL", "off"), ("Encryption", "TLS"))
        )
        _texts(
            protocol,
            (
                ("Type", point.service.upper()),
                ("Server", point.host),
                ("Port", point.port),
                ("LoginName", username),
                ("DomainRequired", "off"),
                ("SPA", "off"),
                *tls,
                ("AuthRequired", "on"),
            ),
        )
    return tostring(root, encoding="utf-8", xml_declaration=True)


def _pick(points: list[Endpoint], *services: str) -> Endpoint | None:
    for service in services:
        for point in points:
            if point.service == service and point.security == "SSL":
                return point
    return None


def mobileconfig(
    settings: Settings, points: list[Endpoint], address: str, name: str
) -> bytes | None:
    """An Apple configuration profile; None when the plan has no mailbox
    access (Apple Mail cannot set up an account for sending only)."""
    incoming = _pick(points, "imap", "pop3")
    outgoing = _pick(points, "smtp")
    if incoming is None or outgoing is None:
        return None

    identifier = ".".join(reversed(settings.primary_domain.split("."))) + ".mail"
    mail = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.account",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{address}")),
        "PayloadDisplayName": address,
        "EmailAccountDescription": address,
        "EmailAccountName": name,
        "EmailAccountType": "EmailTypeIMAP"
        if incoming.service == "imap"
        else "EmailTypePOP",
        "EmailAddress": address,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerHostName": incoming.host,
        "IncomingMailServerPortNumber": incoming.port,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": address,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": outgoing.host,
        "OutgoingMailServerPortNumber": outgoing.port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    profile = {
        "PayloadContent": [mail],
        "PayloadDisplayName": f"{settings.primary_domain} mail",
        "PayloadIdentifier": identifier,
        "PayloadType": "Configuration",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"profile:{address}")),
        "PayloadVersion": 1,
    }
    return plistlib.dumps(profile)
