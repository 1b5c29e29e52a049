"""A person requests an address in a real browser (issue 7).

Debian's headless Chromium drives the app served by waitress on loopback;
mail goes to an aiosmtpd sink; the operator approves through the CLI.
Screenshots land in test-results/.
"""

# Fixtures are imported from tests.webapp and then named as parameters.
# ruff: noqa: F811

import shutil
import tempfile
import threading
from pathlib import Path

import pytest
import waitress
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from exteri_mail.web import create_app
from tests.mailstack import free_port
from tests.webapp import link, make_settings, run, sink  # noqa: F401 (fixtures)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
RESULTS = Path(__file__).resolve().parent.parent / "test-results"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,1400",
)

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Debian's chromium and chromium-driver are not installed (scripts/setup)",
)


@pytest.fixture
def public_url() -> str:
    # Links mailed by the app and by `request approve` lead to the real server.
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def base_url(registry, sink, public_url):
    settings = make_settings(registry, sink, public_url=public_url)
    port = int(public_url.rsplit(":", 1)[1])
    server = waitress.create_server(
        create_app(settings), host="127.0.0.1", port=port, threads=2
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield public_url
    server.close()
    thread.join(timeout=5)


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="exteri-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def shot(browser, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(RESULTS / f"web-{name}.png"))


def submit(browser, button) -> None:
    """Click a form's button and wait for the page the post answers with:
    the click can return while the old page is still shown."""
    page = browser.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(browser, 20).until(staleness_of(page))


def text_of(browser, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def test_request_confirm_approve_and_set_up(browser, base_url, sink, run, registry):
    forward = "mario.rossi@ext.test"

    # The applicant fills in the form; the page shows the address it gives.
    browser.get(base_url + "/")
    browser.find_element(By.ID, "first_name").send_keys("Mario")
    browser.find_element(By.ID, "last_name").send_keys("Rossi")
    WebDriverWait(browser, 10).until(
        lambda b: text_of(b, "preview") == "mario.rossi@esteri.org"
    )
    browser.find_element(By.ID, "forward").send_keys(forward)
    browser.find_element(By.ID, "note").send_keys("Lavoro al consolato di Zurigo.")
    browser.find_element(By.ID, "privacy").click()
    shot(browser, "1-request-form")
    submit(browser, browser.find_element(By.ID, "submit"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Controlla la tua casella"

    # The confirmation link arrives and confirms the request.
    browser.get(link(sink.wait_for(forward), "/confirm/"))
    shot(browser, "2-confirm")
    submit(browser, browser.find_element(By.ID, "confirm"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Richiesta confermata"
    sink.received.clear()

    # The operator approves on plan plus; the welcome link opens the setup page.
    [(request_id,)] = registry.query(
        "SELECT id FROM account_requests WHERE status = 'pending'"
    )
    approved = run("request", "approve", str(request_id), "--plan", "plus")
    assert approved.exit_code == 0, approved.stderr
    browser.get(link(sink.wait_for(forward), "/setup/"))
    assert text_of(browser, "plan") == "Piano: plus"
    rows = browser.find_elements(By.CSS_SELECTOR, "#servers tbody tr")
    cells = [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows
    ]
    assert [(c[1], c[2], c[3], c[4]) for c in cells] == [
        ("mail.esteri.org", "993", "SSL/TLS", "mario.rossi@esteri.org"),
        ("mail.esteri.org", "995", "SSL/TLS", "mario.rossi@esteri.org"),
        ("mail.esteri.org", "465", "SSL/TLS", "mario.rossi@esteri.org"),
        ("mail.esteri.org", "587", "STARTTLS", "mario.rossi@esteri.org"),
    ]
    shot(browser, "3-setup-plus")

    # The user chooses a password there.
    browser.find_element(By.ID, "password").send_keys("cavallo batteria graffetta")
    browser.find_element(By.ID, "password2").send_keys("cavallo batteria graffetta")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#password-form button"))
    assert "Password impostata" in text_of(browser, "password-done")
    shot(browser, "4-password-set")


@pytest.mark.parametrize("plan", ["easy", "outbox"])
def test_setup_page_of_other_plans(browser, base_url, sink, run, plan):
    created = run(
        "account",
        "create",
        "--first",
        "Anna",
        "--last",
        "Neri",
        "--forward",
        "anna@ext.test",
        "--plan",
        plan,
    )
    assert created.exit_code == 0, created.stderr
    assert run("account", "welcome", "anna.neri@esteri.org").exit_code == 0

    browser.get(link(sink.wait_for("anna@ext.test"), "/setup/") + "?lang=en")

    assert text_of(browser, "plan") == f"Plan: {plan}"
    if plan == "easy":
        assert "Gmail" in text_of(browser, "easy")
        assert not browser.find_elements(By.ID, "servers")
    else:
        ports = [
            row.find_elements(By.TAG_NAME, "td")[2].text
            for row in browser.find_elements(By.CSS_SELECTOR, "#servers tbody tr")
        ]
        assert ports == ["465", "587"]
    shot(browser, f"5-setup-{plan}-en")
