"""The request form and its confirmation link, over HTTP (issue 7).

Every refusal is checked to change nothing: no request, no token, no mail.
"""

# Fixtures are imported from tests.webapp and then named as parameters.
# ruff: noqa: F811

import hashlib

import pytest

from exteri_mail.web import create_app
from tests.webapp import (  # noqa: F401 (fixtures)
    FORWARD,
    client,
    count,
    csrf,
    form,
    inputs,
    link,
    make_settings,
    public_url,
    run,
    settings,
    sink,
    token_of,
)


def nothing_changed(registry, sink) -> None:
    assert count(registry, "account_requests") == 0
    assert count(registry, "web_tokens") == 0
    assert sink.received == []


def test_form_is_italian_by_default_and_english_on_request(client):
    italian = client.get("/").data.decode()
    assert '<html lang="it">' in italian
    assert "Richiedi un indirizzo esteri.org" in italian

    english = client.get("/?lang=en").data.decode()
    assert "Request a esteri.org address" in english
    # The choice sticks for the rest of the visit.
    assert "Request a esteri.org address" in client.get("/").data.decode()


def test_request_sends_confirmation_and_stores_only_token_digest(
    client, sink, registry
):
    response = client.post("/", data=form(client))

    assert response.status_code == 302
    assert response.headers["Location"] == "/sent"
    mail = sink.wait_for(FORWARD)
    assert (
        mail.message["Subject"]
        == "Conferma la tua richiesta di un indirizzo esteri.org"
    )
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert "mario.rossi@esteri.org" in mail.message.get_content()
    token = token_of(link(mail, "/confirm/"))

    rows = registry.query(
        "SELECT status, forward, local_part, note FROM account_requests"
    )
    assert rows == [
        ("unconfirmed", FORWARD, "mario.rossi", "Lavoro all'ambasciata di Berna.")
    ]
    digests = registry.query("SELECT digest FROM web_tokens")
    assert digests == [(hashlib.sha256(token.encode()).digest(),)]


def test_english_request_gets_english_mail(client, sink):
    client.get("/?lang=en")
    client.post("/", data=form(client))
    subject = sink.wait_for(FORWARD).message["Subject"]
    assert subject == "Confirm your request for a esteri.org address"


def test_preview_shows_the_address_from_the_name_rules(client):
    assert client.get("/preview?first=Anna Maria&last=D'Angelo").json == {
        "address": "annamaria.dangelo@esteri.org"
    }
    answer = client.get("/preview?first=Anna1&last=Neri").json
    assert answer["error"].startswith("first name contains '1'")


def test_missing_csrf_token_is_refused(client, sink, registry):
    data = form(client)
    del data["csrf_token"]
    response = client.post("/", data=data)

    assert response.status_code == 400
    assert "Il modulo è scaduto" in response.data.decode()
    nothing_changed(registry, sink)


def test_forged_csrf_token_is_refused(client, sink, registry):
    response = client.post("/", data=form(client, csrf_token="forged"))
    assert response.status_code == 400
    nothing_changed(registry, sink)


def test_honeypot_gets_the_same_answer_and_changes_nothing(client, sink, registry):
    response = client.post("/", data=form(client, website="http://spam.test"))
    assert response.status_code == 302
    assert response.headers["Location"] == "/sent"
    nothing_changed(registry, sink)


def test_bad_name_gets_the_cli_message(client, sink, registry, run):
    cli = run(
        "account",
        "create",
        "--first",
        "Mario2",
        "--last",
        "Rossi",
        "--forward",
        FORWARD,
    )
    assert cli.exit_code == 1
    cli_message = cli.stderr.strip().removeprefix("exteri-mail: ")

    response = client.post("/", data=form(client, first_name="Mario2"))

    assert response.status_code == 400
    assert cli_message.replace("'", "&#39;") in response.data.decode()
    nothing_changed(registry, sink)


def test_all_bad_fields_are_named_together(client, sink, registry):
    response = client.post(
        "/", data=form(client, first_name="", forward="nobody", privacy=None)
    )
    page = response.data.decode()
    assert response.status_code == 400
    for field in ("first_name", "forward", "privacy"):
        assert f'id="{field}-problem"' in page
    nothing_changed(registry, sink)


MALICIOUS = {
    "script in name": {"first_name": "<script>alert(1)</script>"},
    "script in note": {"note": "ciao <script>alert(1)</script>"},
    "CR/LF header injection in forward": {"forward": "a@ext.test\r\nBcc: x@ext.test"},
    "CR/LF in name": {"last_name": "Rossi\r\nBcc: x@ext.test"},
    "SQL in name": {"last_name": "Rossi'); DROP TABLE accounts;--"},
    "SQL in forward": {"forward": "x@ext.test'; DROP TABLE accounts;--"},
    "NUL in note": {"note": "ciao\x00"},
    "forward into our own domain": {"forward": "anna.neri@exteri.it"},
    "oversized note": {"note": "x" * 2001},
    "oversized name": {"first_name": "A" * 101},
}


@pytest.mark.parametrize("fields", MALICIOUS.values(), ids=MALICIOUS.keys())
def test_malicious_input_is_refused_and_changes_nothing(client, sink, registry, fields):
    response = client.post("/", data=form(client, **fields))

    assert response.status_code == 400
    page = response.data.decode()
    assert "<script>alert" not in page
    assert 'class="problem"' in page
    nothing_changed(registry, sink)
    assert count(registry, "accounts") == 0


def test_oversized_body_is_refused(client, sink, registry):
    response = client.post("/", data=form(client, note="x" * 20000))
    assert response.status_code == 413
    assert "troppo lunghi" in response.data.decode()
    nothing_changed(registry, sink)


def test_rate_limit_per_client(registry, sink):
    client = create_app(make_settings(registry, sink, rate_per_client=2)).test_client()
    for n in range(2):
        forward = f"mario{n}@ext.test"
        assert client.post("/", data=form(client, forward=forward)).status_code == 302

    response = client.post("/", data=form(client, forward="mario9@ext.test"))

    assert response.status_code == 429
    assert "Troppe richieste" in response.data.decode()
    assert count(registry, "account_requests") == 2
    assert len(sink.received) == 2


def test_rate_limit_per_forward_address(registry, sink):
    client = create_app(make_settings(registry, sink, rate_per_address=1)).test_client()
    assert client.post("/", data=form(client)).status_code == 302

    other_client = {"REMOTE_ADDR": "127.0.0.9"}
    response = client.post(
        "/", data=form(client, forward=FORWARD.upper()), environ_base=other_client
    )

    assert response.status_code == 429
    assert count(registry, "account_requests") == 1


def test_mail_failure_refuses_and_changes_nothing(registry, sink):
    from tests.mailstack import free_port

    closed = make_settings(registry, sink, smtp_port=free_port())
    client = create_app(closed).test_client()

    response = client.post("/", data=form(client))

    assert response.status_code == 503
    assert "Non è stato possibile inviare" in response.data.decode()
    nothing_changed(registry, sink)


def _confirm_path(client, sink) -> str:
    client.post("/", data=form(client))
    return link(sink.wait_for(FORWARD), "/confirm/").removeprefix("http://app.test")


def test_confirmation_link_asks_then_confirms_once(client, sink, registry):
    path = _confirm_path(client, sink)

    page = client.get(path)
    assert page.status_code == 200
    assert "mario.rossi@esteri.org" in page.data.decode()
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    # Opening the link (as a mail scanner would) confirms nothing.
    assert registry.query("SELECT status FROM account_requests") == [("unconfirmed",)]

    done = client.post(path, data={"csrf_token": inputs(page.data)["csrf_token"]})
    assert done.status_code == 200
    assert "Richiesta confermata" in done.data.decode()
    assert registry.query("SELECT status FROM account_requests") == [("pending",)]

    again = client.post(path, data={"csrf_token": csrf(client)})
    assert again.status_code == 410
    assert "già stato usato" in again.data.decode()
    assert client.get(path).status_code == 410


def test_confirmation_needs_csrf(client, sink, registry):
    path = _confirm_path(client, sink)
    assert client.post(path, data={}).status_code == 400
    assert registry.query("SELECT status FROM account_requests") == [("unconfirmed",)]


def test_expired_confirmation_link_is_refused(client, sink, registry):
    path = _confirm_path(client, sink)
    registry.query(
        "UPDATE web_tokens SET expires_at = now() - interval '1 second' RETURNING 1"
    )

    response = client.post(path, data={"csrf_token": csrf(client)})

    assert response.status_code == 410
    assert "scaduto" in response.data.decode()
    assert registry.query("SELECT status FROM account_requests") == [("unconfirmed",)]


def test_unknown_confirmation_link_is_refused(client):
    response = client.get("/confirm/" + "A" * 43)
    assert response.status_code == 404
    assert "non è valido" in response.data.decode()
    assert client.get("/confirm/" + "A" * 500).status_code == 404


def test_pages_forbid_framing_and_foreign_scripts(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_taken_address_is_not_revealed(client, sink, registry, run):
    created = run(
        "account",
        "create",
        "--first",
        "Mario",
        "--last",
        "Rossi",
        "--forward",
        "altro@ext.test",
    )
    assert created.exit_code == 0

    response = client.post("/", data=form(client))

    # The same answer as for a free address; the operator sees the clash.
    assert response.status_code == 302
    assert response.headers["Location"] == "/sent"
    assert sink.wait_for(FORWARD)
