"""`dns check` fetching an MTA-STS policy from a server that misbehaves.

A throwaway https server on loopback plays the policy host; each answer
must give a one-line reason within policy_fetch.DEADLINE.
"""

import gzip
import socket
import ssl
import threading
import time

import pytest

from exteri_mail.dns import policy_fetch
from exteri_mail.server.tls import ensure_self_signed
from exteri_mail.settings import Settings

SETTINGS = Settings(mail_dsn="postgresql://u:p@127.0.0.1/d")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    ensure_self_signed(cert, key, "mta-sts.esteri.org")
    return cert, key


@pytest.fixture
def policy_server(pair):
    """Serve ANSWER (a function of the TLS connection) on a free port."""
    cert, key = pair
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def start(answer):
        def one(raw):
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(4096)
                    answer(conn, stop)
            except OSError:
                pass

        def accept():
            while not stop.is_set():
                try:
                    raw, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=one, args=(raw,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return listener.getsockname()

    yield start
    stop.set()
    listener.close()


def fetched(server, ca):
    result = policy_fetch.check(SETTINGS, ["esteri.org"], None, server, ca)[0]
    return result.status, list(result.found)


def _reply(body: bytes, kind="text/plain", status="200 OK", extra=b"") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
    length = b"Content-Length: %d\r\n" % len(body)
    return head.encode() + length + extra + b"\r\n" + body


def _drip(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
    while not stop.wait(0.2):
        conn.sendall(b"X")


POLICY = b"version: STSv1\n"
ANSWERS = {
    "redirect": (
        lambda c, _: c.sendall(
            _reply(b"", "text/html", "301 Moved", b"Location: https://x.test/\r\n")
        ),
        "missing",
        "HTTP 301, a redirect: senders do not follow it",
    ),
    "html": (
        lambda c, _: c.sendall(_reply(POLICY, "text/html; charset=utf-8")),
        "wrong",
        "Content-Type text/html",
    ),
    "huge body": (
        lambda c, _: c.sendall(_reply(POLICY + b"x" * 200_000)),
        "wrong",
        "a body over 65536 bytes, more than senders read",
    ),
    "gzip bomb": (
        lambda c, _: c.sendall(
            _reply(gzip.compress(b"a" * 5_000_000), extra=b"Content-Encoding: gzip\r\n")
        ),
        "wrong",
        "a body over 65536 bytes, more than senders read",
    ),
    "not UTF-8": (
        lambda c, _: c.sendall(_reply(POLICY + b"mx: \xff\xfe\n")),
        "wrong",
        "a body not UTF-8",
    ),
    "not HTTP": (
        lambda c, _: c.sendall(b"NOT HTTP\r\nAT ALL\r\n\r\n"),
        "missing",
        "{server} broke off: BadStatusLine NOT HTTP",
    ),
    "a byte now and then": (
        _drip,
        "missing",
        "no full answer from {server} within 1 s",
    ),
}


@pytest.mark.parametrize(
    "answer, status, reason", ANSWERS.values(), ids=ANSWERS.keys()
)
def test_a_misbehaving_policy_server_gives_one_line_in_bounded_time(
    policy_server, pair, monkeypatch, answer, status, reason
):
    monkeypatch.setattr(policy_fetch, "DEADLINE", 1.0)
    address, port = policy_server(answer)

    started = time.monotonic()
    found = fetched((address, port), pair[0])

    assert found == (status, [reason.format(server=f"{address}:{port}")])
    assert time.monotonic() - started < policy_fetch.DEADLINE + 5
