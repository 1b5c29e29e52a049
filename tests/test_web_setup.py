"""The personal setup page behind the welcome link (issue 7)."""

# Fixtures are imported from tests.webapp and then named as parameters.
# ruff: noqa: F811

from passlib.hash import argon2

from tests.webapp import (  # noqa: F401 (fixtures)
    client,
    csrf,
    inputs,
    link,
    public_url,
    run,
    settings,
    sink,
    token_of,
)


def welcome_token(run, sink, plan: str, first="Anna", last="Neri") -> str:
    forward = f"{first.lower()}@ext.test"
    created = run(
        "account",
        "create",
        "--first",
        first,
        "--last",
        last,
        "--forward",
        forward,
        "--plan",
        plan,
    )
    assert created.exit_code == 0, created.stderr
    assert run("account", "welcome", f"{first}.{last}@esteri.org").exit_code == 0
    return token_of(link(sink.wait_for(forward), "/setup/"))


def password_hash(registry) -> str | None:
    return registry.query("SELECT password_hash FROM accounts")[0][0]


def test_easy_page_explains_gmail_and_outlook(client, run, sink):
    page = client.get(f"/setup/{welcome_token(run, sink, 'easy')}").data.decode()

    assert "Piano: easy" in page
    assert "La posta per anna.neri@esteri.org arriva a anna@ext.test." in page
    assert "Gmail" in page and "Outlook" in page
    assert 'id="servers"' not in page
    assert 'id="password-form"' not in page


def test_outbox_page_lists_only_submission(client, run, sink):
    page = client.get(f"/setup/{welcome_token(run, sink, 'outbox')}").data.decode()

    assert 'data-service="smtp"' in page
    assert 'data-service="imap"' not in page and 'data-service="pop3"' not in page
    assert "<td>465</td>" in page and "<td>587</td>" in page
    assert 'id="password-form"' in page
    assert 'id="mobileconfig"' not in page


def test_plus_page_lists_mailbox_services_and_profile(client, run, sink):
    page = client.get(f"/setup/{welcome_token(run, sink, 'plus')}").data.decode()

    for service, port in (("imap", 993), ("pop3", 995), ("smtp", 465)):
        assert f'data-service="{service}"' in page
        assert f"<td>{port}</td>" in page
    assert "Una casella di 1 GiB sul nostro server." in page
    assert "config-v1.1.xml?emailaddress=anna.neri@esteri.org" in page
    assert 'id="mobileconfig"' in page


def test_page_in_english(client, run, sink):
    token = welcome_token(run, sink, "plus")
    page = client.get(f"/setup/{token}?lang=en").data.decode()
    assert "A 1 GiB mailbox on our server." in page
    assert "Choose your password" in page


def test_password_is_chosen_once(client, run, sink, registry):
    path = f"/setup/{welcome_token(run, sink, 'plus')}"
    before = password_hash(registry)

    done = client.post(
        f"{path}/password",
        data={
            "csrf_token": csrf(client, path),
            "password": "cavallo batteria",
            "password2": "cavallo batteria",
        },
    )

    assert done.status_code == 200
    assert 'id="password-done"' in done.data.decode()
    stored = password_hash(registry)
    assert stored != before
    assert argon2.verify("cavallo batteria", stored.removeprefix("{ARGON2ID}"))
    actions = registry.query("SELECT operator, action FROM audit_log ORDER BY id")
    assert actions[-1] == ("web", "account.password")

    again = client.post(
        f"{path}/password",
        data={
            "csrf_token": csrf(client),
            "password": "altra password",
            "password2": "altra password",
        },
    )
    assert again.status_code == 410
    assert password_hash(registry) == stored
    # The page itself stays readable until the link expires.
    assert 'id="password-used"' in client.get(path).data.decode()


def test_bad_passwords_change_nothing(client, run, sink, registry):
    path = f"/setup/{welcome_token(run, sink, 'outbox')}"
    before = password_hash(registry)

    cases = (
        (
            {"password": "cavallo batteria", "password2": "cavallo batteriA"},
            "le due password non coincidono",
        ),
        (
            {"password": "corta", "password2": "corta"},
            "password is shorter than 10 characters",
        ),
        (
            {"password": "tab\tinside!", "password2": "tab\tinside!"},
            "password contains a control character",
        ),
    )
    for fields, message in cases:
        response = client.post(
            f"{path}/password", data={"csrf_token": csrf(client, path), **fields}
        )
        assert response.status_code == 400
        assert message in response.data.decode()
    missing_csrf = client.post(
        f"{path}/password", data=cases[0][0] | {"password2": "cavallo batteria"}
    )
    assert missing_csrf.status_code == 400

    assert password_hash(registry) == before
    assert 'id="password-form"' in client.get(path).data.decode()


def test_expired_setup_link_is_refused(client, run, sink, registry):
    token = welcome_token(run, sink, "plus")
    registry.query("UPDATE web_tokens SET expires_at = now() RETURNING 1")

    response = client.get(f"/setup/{token}")

    assert response.status_code == 410
    assert "Il collegamento è scaduto" in response.data.decode()
    assert client.get(f"/setup/{token}/profile.mobileconfig").status_code == 410


def test_suspended_account_link_is_refused(client, run, sink):
    token = welcome_token(run, sink, "plus")
    assert run("account", "suspend", "anna.neri@esteri.org").exit_code == 0
    assert client.get(f"/setup/{token}").status_code == 410
