"""DKIM keys: one RSA key per selector in one directory, one of them active.

Layout of the directory (mode 0700):
    <selector>.private   PEM private key, mode 0600, read by OpenDKIM only
    active               the selector OpenDKIM signs with

Rotating means generating a key under a new selector: it becomes active,
and `dns records` keeps publishing every selector still in the directory
until the operator removes the old file (after the DNS caches expired).
"""

import base64
import logging
import os
import pwd
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import Conflict, InvalidInput, NotFound

log = logging.getLogger("exteri_mail.dkim")

KEY_BITS = 2048
SUFFIX = ".private"
ACTIVE = "active"
# A selector is one DNS label (RFC 6376 allows dots; one label keeps it simple).
SELECTOR = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Debian's OpenDKIM drops to this user; it must own the keys it reads.
SIGNER_USER = "opendkim"


@dataclass(frozen=True)
class Key:
    selector: str
    path: Path

    def public_b64(self) -> str:
        """The p= value: base64 of the DER SubjectPublicKeyInfo."""
        private = serialization.load_pem_private_key(self.path.read_bytes(), None)
        der = private.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        return base64.b64encode(der).decode("ascii")


def check_selector(selector: str) -> str:
    name = selector.strip().lower()
    if not SELECTOR.match(name):
        raise InvalidInput(
            f"invalid DKIM selector: {selector!r} (letters, digits and '-', at most 63)"
        )
    return name


def keys(directory: Path) -> list[Key]:
    """Every key in DIRECTORY, sorted by selector."""
    if not directory.is_dir():
        return []
    found = sorted(directory.glob(f"*{SUFFIX}"))
    return [Key(path.name.removesuffix(SUFFIX), path) for path in found]


def active(directory: Path) -> Key | None:
    marker = directory / ACTIVE
    if not marker.is_file():
        return None
    selector = marker.read_text().strip()
    path = directory / f"{selector}{SUFFIX}"
    return Key(selector, path) if path.is_file() else None


def require_active(directory: Path) -> Key:
    key = active(directory)
    if key is None:
        raise NotFound(f"no DKIM key in {directory}: run `exteri-mail dns keygen`")
    return key


def generate(directory: Path, selector: str, owner: str | None = None) -> Key:
    """Create a key for SELECTOR and make it the active one."""
    selector = check_selector(selector)
    path = directory / f"{selector}{SUFFIX}"
    if path.exists():
        raise Conflict(
            f"DKIM selector {selector!r} already has a key in {directory}; "
            "rotate with `exteri-mail dns keygen --selector NEW`"
        )

    _make_dir(directory, owner)
    _write_private(path, _new_pem(), owner)
    _write_active(directory, selector, owner)
    log.info("generated DKIM key for selector %s in %s", selector, directory)
    return Key(selector, path)


def ensure(directory: Path, selector: str, owner: str | None = None) -> Key:
    """The active key, generating one for SELECTOR when there is none."""
    return active(directory) or generate(directory, selector, owner)


def default_owner() -> str | None:
    """OpenDKIM's system user when the package created it, else root."""
    try:
        pwd.getpwnam(SIGNER_USER)
    except KeyError:
        return None
    return SIGNER_USER


def _new_pem() -> bytes:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _make_dir(directory: Path, owner: str | None) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    _chown(directory, owner)


def _write_private(path: Path, pem: bytes, owner: str | None) -> None:
    # Created 0600 from the first byte: the key is never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)
    _chown(path, owner)


def _write_active(directory: Path, selector: str, owner: str | None) -> None:
    tmp = directory / f".{ACTIVE}.tmp"
    tmp.write_text(f"{selector}\n")
    tmp.chmod(0o600)
    _chown(tmp, owner)
    tmp.replace(directory / ACTIVE)


def _chown(path: Path, owner: str | None) -> None:
    if owner is None:
        return
    entry = pwd.getpwnam(owner)
    os.chown(path, entry.pw_uid, entry.pw_gid)
