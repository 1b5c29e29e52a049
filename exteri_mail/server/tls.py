"""A self-signed certificate for a local instance (openssl, not our code)."""

import logging
from collections.abc import Iterable
from pathlib import Path

from .daemons import run

log = logging.getLogger("exteri_mail.server")


def ensure_self_signed(
    cert: Path, key: Path, hostname: str, other_names: Iterable[str] = ()
) -> bool:
    """Create CERT and KEY unless both exist; True when created.

    OTHER_NAMES are further names nginx answers under (mta-sts.DOMAIN).
    """
    if cert.is_file() and key.is_file():
        return False
    names = "".join(f"DNS:{name}," for name in (hostname, *other_names))
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "825",
            "-subj",
            f"/CN={hostname}",
            "-addext",
            f"subjectAltName={names}DNS:localhost,IP:127.0.0.1,IP:::1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ]
    )
    key.chmod(0o600)
    cert.chmod(0o644)
    log.info("generated a self-signed certificate for %s", hostname)
    return True
