"""`exteri-mail web`: the command that serves the app (issue 7)."""

import os
import subprocess
import urllib.request
import xml.etree.ElementTree as ET

from tests.mailstack import EXTERI_MAIL, free_port, wait


def test_web_serves_the_form_and_autoconfig(registry):
    port = free_port()
    env = {**os.environ, **registry.env(), "EXTERI_MAIL_WEB__SECRET_KEY": "test"}
    server = subprocess.Popen(
        [EXTERI_MAIL, "web", "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"

    def fetch(path: str):
        try:
            with urllib.request.urlopen(base + path, timeout=2) as response:
                return response.status, response.read()
        except OSError:
            return None

    try:
        status, page = wait(
            lambda: fetch("/"), timeout=20, message="exteri-mail web did not answer"
        )
        assert status == 200 and "Richiedi un indirizzo" in page.decode()
        status, xml = fetch("/mail/config-v1.1.xml?emailaddress=x@esteri.org")
        assert status == 200
        assert ET.fromstring(xml).tag == "clientConfig"
    finally:
        server.terminate()
        server.communicate(timeout=10)


def test_web_refuses_a_bad_listen_address(cli):
    result = cli("web", "--listen", "localhost")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "exteri-mail: --listen 'localhost' is not HOST:PORT (e.g. 127.0.0.1:8080)"
    )
