"""Client autoconfiguration per plan (issue 7, case K17).

Documents are read with real XML and plist parsers; what each plan offers
is compared with PLANS, never with a second list.
"""

# Fixtures are imported from tests.webapp and then named as parameters.
# ruff: noqa: F811

import plistlib
import xml.etree.ElementTree as ET

import pytest

from exteri_mail.plans import PLANS
from exteri_mail.web.autoconfig import AUTODISCOVER_NS, OUTLOOK_NS
from tests.webapp import (  # noqa: F401 (fixtures)
    client,
    link,
    public_url,
    run,
    settings,
    sink,
    token_of,
)

PATHS = ("/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml")
TLS_PORTS = {
    ("imap", 993, "SSL"),
    ("pop3", 995, "SSL"),
    ("smtp", 465, "SSL"),
    ("smtp", 587, "STARTTLS"),
}


def expected_services(plan_name: str | None) -> set[str]:
    plans = [PLANS[plan_name]] if plan_name else PLANS.values()
    wanted = set()
    for plan in plans:
        wanted |= {
            s
            for s, on in (
                ("imap", plan.imap),
                ("pop3", plan.pop3),
                ("smtp", plan.submission),
            )
            if on
        }
    return wanted


def servers(xml: bytes) -> list[dict]:
    root = ET.fromstring(xml)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    [provider] = root.findall("emailProvider")
    assert [d.text for d in provider.findall("domain")] == ["esteri.org", "exteri.it"]
    found = []
    for tag in ("incomingServer", "outgoingServer"):
        for server in provider.findall(tag):
            item = {child.tag: child.text for child in server}
            item["type"] = server.get("type")
            found.append(item)
    return found


@pytest.fixture
def accounts_by_plan(run):
    made = {}
    for plan, (first, last) in zip(
        PLANS, (("Mario", "Rossi"), ("Anna", "Neri"), ("Luca", "Bianchi"))
    ):
        result = run(
            "account",
            "create",
            "--first",
            first,
            "--last",
            last,
            "--forward",
            f"{first.lower()}@ext.test",
            "--plan",
            plan,
            "--alias",
        )
        assert result.exit_code == 0, result.stderr
        made[plan] = f"{first.lower()}.{last.lower()}@esteri.org"
    return made


@pytest.mark.parametrize("path", PATHS)
def test_k17_without_emailaddress(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    found = servers(response.data)
    assert {(s["type"], int(s["port"]), s["socketType"]) for s in found} == TLS_PORTS
    assert {s["type"] for s in found} == expected_services(None)
    assert {s["username"] for s in found} == {"%EMAILADDRESS%"}
    assert {s["hostname"] for s in found} == {"mail.esteri.org"}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("plan", list(PLANS))
def test_k17_with_emailaddress_offers_only_the_plan(
    client, accounts_by_plan, path, plan
):
    address = accounts_by_plan[plan]
    response = client.get(path, query_string={"emailaddress": address})

    assert response.status_code == 200
    found = servers(response.data)
    assert {s["type"] for s in found} == expected_services(plan)
    for server in found:
        assert (server["type"], int(server["port"]), server["socketType"]) in TLS_PORTS
        assert server["username"] == address
        assert server["authentication"] == "password-cleartext"


def test_alias_address_logs_in_with_the_primary_address(client, accounts_by_plan):
    found = servers(
        client.get(
            PATHS[0], query_string={"emailaddress": "LUCA.BIANCHI@exteri.it"}
        ).data
    )
    assert {s["username"] for s in found} == {"luca.bianchi@esteri.org"}


@pytest.mark.parametrize(
    "asked", ["nessuno.qui@esteri.org", "x@elsewhere.test", "<script>", "a" * 300]
)
def test_unknown_addresses_get_the_generic_document(client, asked):
    response = client.get(PATHS[1], query_string={"emailaddress": asked})
    assert response.status_code == 200
    assert {s["username"] for s in servers(response.data)} == {"%EMAILADDRESS%"}


def _autodiscover_request(address: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
        'outlook/requestschema/2006"><Request>'
        f"<EMailAddress>{address}</EMailAddress>"
        "<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/"
        "autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>"
        "</Request></Autodiscover>"
    ).encode()


def protocols(xml: bytes) -> list[dict]:
    root = ET.fromstring(xml)
    assert root.tag == f"{{{AUTODISCOVER_NS}}}Autodiscover"
    account = root.find(f"{{{OUTLOOK_NS}}}Response/{{{OUTLOOK_NS}}}Account")
    assert account.find(f"{{{OUTLOOK_NS}}}Action").text == "settings"
    return [
        {child.tag.split("}")[1]: child.text for child in protocol}
        for protocol in account.findall(f"{{{OUTLOOK_NS}}}Protocol")
    ]


@pytest.mark.parametrize("plan", list(PLANS))
def test_autodiscover_offers_only_the_plan_over_tls(client, accounts_by_plan, plan):
    address = accounts_by_plan[plan]
    response = client.post(
        "/autodiscover/autodiscover.xml",
        data=_autodiscover_request(address),
        content_type="text/xml",
    )

    assert response.status_code == 200
    found = protocols(response.data)
    assert {p["Type"].lower() for p in found} == expected_services(plan)
    for protocol in found:
        assert protocol["LoginName"] == address
        assert protocol["SSL"] == "on" or protocol.get("Encryption") == "TLS"


def test_autodiscover_refuses_entity_bombs(client):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<Autodiscover><Request><EMailAddress>&b;</EMailAddress></Request>"
        b"</Autodiscover>"
    )
    response = client.post(
        "/Autodiscover/Autodiscover.xml", data=bomb, content_type="text/xml"
    )
    assert response.status_code == 400


def _setup_token(run, sink, address: str, forward: str) -> str:
    assert run("account", "welcome", address).exit_code == 0
    return token_of(link(sink.wait_for(forward), "/setup/"))


def test_mobileconfig_for_plus(client, run, sink, accounts_by_plan):
    token = _setup_token(run, sink, accounts_by_plan["plus"], "luca@ext.test")

    response = client.get(f"/setup/{token}/profile.mobileconfig")

    assert response.status_code == 200
    assert response.mimetype == "application/x-apple-aspen-config"
    profile = plistlib.loads(response.data)
    [mail] = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert (mail["IncomingMailServerPortNumber"], mail["IncomingMailServerUseSSL"]) == (
        993,
        True,
    )
    assert (mail["OutgoingMailServerPortNumber"], mail["OutgoingMailServerUseSSL"]) == (
        465,
        True,
    )
    assert mail["IncomingMailServerUsername"] == "luca.bianchi@esteri.org"
    assert mail["OutgoingMailServerUsername"] == "luca.bianchi@esteri.org"


def test_no_mobileconfig_without_a_mailbox(client, run, sink, accounts_by_plan):
    token = _setup_token(run, sink, accounts_by_plan["outbox"], "anna@ext.test")
    assert client.get(f"/setup/{token}/profile.mobileconfig").status_code == 404


def test_split_setup_sends_imap_and_pop3_clients_to_the_dovecot_host(settings):
    from exteri_mail.settings import Mailstore
    from exteri_mail.web import create_app

    split = settings.model_copy(
        update={
            "runs": ["mx"],
            "mailstore": Mailstore(host="10.0.0.11", name="imap1.esteri.org"),
        }
    )
    xml = create_app(split).test_client().get(PATHS[0]).data

    hosts = {(s["type"], s["port"]): s["hostname"] for s in servers(xml)}
    assert hosts[("imap", "993")] == "imap1.esteri.org"
    assert hosts[("pop3", "995")] == "imap1.esteri.org"
    assert hosts[("smtp", "465")] == "mail.esteri.org"
