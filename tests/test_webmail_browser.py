"""Roundcube in a real browser against the running stack (issue 5, K12, K16).

Headless Chromium from Debian's packages, driven through chromium-driver.
Screenshots of the login page and of the inbox go to test-results/.
"""

import json
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from exteri_mail import webmail
from exteri_mail.cli import cli as cli_group
from tests.smtp_clients import message, smtp
from tests.webapp import inputs

pytestmark = pytest.mark.daemons

RESULTS = Path(__file__).resolve().parent.parent / "test-results"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)
PLAN_MESSAGE = "La webmail è disponibile solo per gli account Plus"


@pytest.fixture(scope="module")
def webmail_url(stack_webmail) -> str:
    return stack_webmail["url"]


@pytest.fixture(scope="module")
def chromium(webmail_url):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.TemporaryDirectory(prefix="chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile.name}"):
        options.add_argument(flag)
    # The instance's certificate is self-signed; the browser is told so,
    # the way a person clicks through the warning once.
    options.accept_insecure_certs = True
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    yield driver
    driver.quit()
    profile.cleanup()


@pytest.fixture
def browser(chromium, webmail_url):
    """The module's browser, logged out: every test starts at the login page."""
    chromium.delete_all_cookies()
    chromium.get(webmail_url)
    return chromium


def exteri_mail(stack, *args: str, input: str | None = None) -> str:
    """The CLI against the stack's registry, in-process (saves a start-up)."""
    result = CliRunner().invoke(
        cli_group,
        ["--operator", "tester", *args],
        env={"EXTERI_MAIL_CONFIG": stack.env["EXTERI_MAIL_CONFIG"]},
        input=input,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout


def account(stack, first: str, last: str, plan: str, **options) -> tuple[str, str]:
    """A new account's address and the password `account create` gave it."""
    args = ["account", "create", "--first", first, "--last", last, "--plan", plan]
    for option, value in options.items():
        args += [f"--{option}"] + ([] if value is True else [value])
    created = json.loads(exteri_mail(stack, *args, "--json"))
    return created["address"], created.get("password")


def log_in(driver, user: str, password: str) -> None:
    driver.find_element(By.ID, "rcmloginuser").send_keys(user)
    driver.find_element(By.ID, "rcmloginpwd").send_keys(password)
    driver.find_element(By.ID, "rcmloginsubmit").click()


def wait_until(driver, condition, timeout: float = 45):
    # Roundcube replaces the page after a login post: an element found just
    # before that goes stale, and the next poll finds the new one.
    return WebDriverWait(
        driver,
        timeout,
        poll_frequency=0.2,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(condition)


def wait_for_inbox(driver, login: str) -> None:
    try:
        wait_until(
            driver,
            lambda d: (
                "_task=mail" in d.current_url and d.find_elements(By.ID, "messagelist")
            ),
        )
    except TimeoutException:
        screenshot(driver, "timeout")
        shown = driver.find_element(By.TAG_NAME, "body").text[:300]
        raise AssertionError(f"no inbox at {driver.current_url}: {shown}") from None
    assert driver.find_element(By.CLASS_NAME, "username").text == login


def warning_text(driver) -> str:
    return wait_until(driver, lambda d: d.find_element(By.ID, "messagestack").text)


def roundcube_users(stack) -> list[str]:
    database = webmail.Layout(stack.state_dir / "webmail").database
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT username FROM users")]


def roundcube_identities(stack, username: str) -> list[str]:
    database = webmail.Layout(stack.state_dir / "webmail").database
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT i.email FROM identities i JOIN users u"
            " USING (user_id) WHERE u.username = ? AND NOT i.del",
            (username,),
        )
        return [row[0] for row in rows]


def screenshot(driver, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(RESULTS / f"webmail-{name}.png"))


def test_server_status_lists_the_running_webmail(stack, webmail_url):
    status = json.loads(exteri_mail(stack, "server", "status", "--json"))

    assert status["webmail"]["running"] is True
    assert status["webmail"]["url"] == webmail_url
    assert webmail_url.startswith("https://127.0.0.1:")


def test_plus_user_reads_a_new_message_and_replies_outside(stack, browser):
    address, password = account(stack, "Beatrice", "Fontana", "plus")
    subject = "Cena di venerdì"
    with smtp(stack) as client:
        client.send_message(
            message("amico@ext.test", address, subject, body="Ci vediamo alle otto?\n")
        )
    screenshot(browser, "login")

    log_in(browser, "Beatrice.Fontana@esteri.org", password)
    wait_for_inbox(browser, address)
    row = wait_until(browser, lambda d: _row_with_subject(d, subject))
    assert "%" in browser.find_element(By.ID, "quotadisplay").text
    screenshot(browser, "inbox")

    browser.get(
        row.find_element(By.CSS_SELECTOR, "span.subject a").get_attribute("href")
    )
    body = wait_until(browser, lambda d: d.find_element(By.ID, "messagebody").text)
    assert "Ci vediamo alle otto?" in body
    _reply(browser, "Sì, a venerdì!")

    got = stack.sink.wait_for("amico@ext.test", f"Re: {subject}", timeout=45)
    assert got.mail_from == address
    assert got.message["From"].addresses[0].addr_spec == address
    assert "Sì, a venerdì!" in got.message.get_body(("plain",)).get_content()
    sent = stack.doveadm("search", "-u", address, "mailbox", "Sent", "subject", subject)
    assert sent.stdout.strip(), "the reply was not saved in Sent on IMAP"


def _row_with_subject(driver, subject: str):
    for row in driver.find_elements(By.CSS_SELECTOR, "#messagelist tbody tr"):
        if subject in row.text:
            return row
    driver.execute_script("rcmail.command('checkmail')")
    return None


def _reply(driver, text: str) -> None:
    driver.find_element(By.CSS_SELECTOR, "#toolbar-menu a.reply").click()
    body = wait_until(driver, lambda d: d.find_element(By.ID, "composebody"))
    body.send_keys(text + "\n")
    driver.find_element(By.CSS_SELECTOR, "#compose-content button.send").click()
    wait_until(driver, lambda d: "_action=compose" not in d.current_url)


@pytest.mark.parametrize("plan", ["easy", "outbox"])
def test_account_without_mailbox_is_told_webmail_is_for_plus(stack, browser, plan):
    last = {"easy": "Ferri", "outbox": "Marchetti"}[plan]
    address, password = account(
        stack, "Tommaso", last, plan, forward="tommaso@ext.test"
    )

    log_in(browser, address, password or "no-password-at-all")

    assert PLAN_MESSAGE in warning_text(browser)
    assert "_task=mail" not in browser.current_url
    assert address not in roundcube_users(stack)


def test_K12_accented_name_logs_in_with_its_ascii_address(k12_account, browser):
    address, password = k12_account

    log_in(browser, address, password)

    wait_for_inbox(browser, address)


def test_K16_every_spelling_of_an_address_is_one_roundcube_user(stack, browser):
    address, password = account(stack, "Anna Lisa", "Neri", "plus", alias=True)

    for typed in (
        "AnnaLisa.Neri@esteri.org",
        "annalisa.neri@esteri.org",
        "ANNALISA.NERI@EXTERI.IT",
    ):
        browser.delete_all_cookies()
        browser.get(browser.current_url.split("?")[0])
        log_in(browser, typed, password)
        wait_for_inbox(browser, address)

    assert [u for u in roundcube_users(stack) if "annalisa" in u] == [address]


def test_K16_after_a_rename_the_same_roundcube_user_has_the_new_address(stack, browser):
    former, password = account(stack, "Chiara", "Galli", "plus")
    log_in(browser, former, password)
    wait_for_inbox(browser, former)
    exteri_mail(
        stack, "account", "rename", former, "--first", "Chiara", "--last", "Verdi"
    )

    browser.delete_all_cookies()
    browser.get(browser.current_url.split("?")[0])
    log_in(browser, "Chiara.Galli@esteri.org", password)

    wait_for_inbox(browser, "chiara.verdi@esteri.org")
    assert [u for u in roundcube_users(stack) if u.startswith("chiara.")] == [
        "chiara.verdi@esteri.org"
    ]
    assert roundcube_identities(stack, "chiara.verdi@esteri.org") == [
        "chiara.verdi@esteri.org"
    ]


def test_failed_webmail_login_slows_down_that_client_only(stack, webmail_url, tmp_path):
    jar, client = str(tmp_path / "cookies"), "127.0.0.3"

    def curl(*args: str) -> str:
        return subprocess.run(
            ["curl", "-sk", "--interface", client, "-c", jar, "-b", jar, *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    token = inputs(curl(webmail_url))["_token"]
    curl(
        f"{webmail_url}?_task=login",
        "-d",
        "_task=login",
        "-d",
        "_action=login",
        "--data-urlencode",
        f"_token={token}",
        "--data-urlencode",
        "_user=nessuno.qui@esteri.org",
        "-d",
        "_pass=sbagliata",
    )

    penalties = dict(
        line.split()[:2] for line in stack.doveadm("penalty").stdout.splitlines()[1:]
    )
    assert int(penalties[client]) > 0
    assert int(penalties.get("127.0.0.1", 0)) == 0  # the web server itself


def test_one_identity_with_a_fixed_address_and_english_on_offer(stack, browser):
    address, password = account(stack, "Marta", "Longo", "plus")
    log_in(browser, address, password)
    wait_for_inbox(browser, address)
    base = browser.current_url.split("?")[0]

    browser.get(f"{base}?_task=settings&_action=edit-prefs&_section=general&_framed=1")
    language = Select(browser.find_element(By.ID, "rcmfd_lang"))
    assert language.first_selected_option.get_attribute("value") == "it_IT"
    assert "en_US" in [option.get_attribute("value") for option in language.options]

    browser.get(f"{base}?_task=settings&_action=identities")
    rows = browser.find_elements(By.CSS_SELECTOR, "#identities-table tbody tr")
    assert len(rows) == 1
    assert not browser.find_elements(By.CSS_SELECTOR, "a.create:not(.disabled)")

    identity = rows[0].get_attribute("id").removeprefix("rcmrow")
    browser.get(
        f"{base}?_task=settings&_action=edit-identity&_iid={identity}&_framed=1"
    )
    email = browser.find_element(By.ID, "rcmfd_email")
    assert email.get_attribute("value") == address
    assert email.get_attribute("disabled")
