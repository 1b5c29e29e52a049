"""The `[deliverability]` settings block and the paths derived from it.

Kept apart from settings.py so that module stays free of DNS concerns;
Settings embeds Deliverability as its `deliverability` field.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from ..values import DomainName, Port

if TYPE_CHECKING:
    from ..settings import Settings

SYSTEM_DKIM_DIR = Path("/etc/exteri-mail/dkim")
SYSTEM_SRS_SECRET = Path("/etc/postsrsd.secret")


class Deliverability(BaseModel):
    """SRS, DKIM and what `exteri-mail dns records` publishes.

    The ports are those of the loopback helpers: postsrsd's two lookup
    tables, OpenDKIM's milter, and the smtpd that takes forwarded mail back
    in to give it an SRS envelope sender; and the https port of MTA-STS.
    """

    # Public addresses of `hostname` (A/AAAA records); empty: `listen`.
    addresses: list[str] = Field(default_factory=list)
    ttl: int = Field(default=3600, gt=0)
    # Selector that `dns keygen` uses when none is given.
    dkim_selector: str = "mail"
    # None: state_dir/dkim for an instance, /etc/exteri-mail/dkim otherwise.
    dkim_dir: Path | None = None
    # Domain of SRS addresses; None: primary_domain.
    srs_domain: DomainName | None = None
    # None: state_dir/srs/secret for an instance, /etc/postsrsd.secret otherwise.
    srs_secret: Path | None = None
    # Loopback ports of the helpers; None: the standard port moved by as much
    # as ports.smtp is moved from 25, so instances side by side do not clash.
    dkim_port: Port | None = None
    srs_forward_port: Port | None = None
    srs_reverse_port: Port | None = None
    reinject_port: Port | None = None
    # What comes back to an SRS address: the smtpd it is filtered through
    # (bounce_return_port) and the milter that rebuilds it (bounce_filter_port).
    bounce_return_port: Port | None = None
    bounce_filter_port: Port | None = None
    dmarc_policy: Literal["none", "quarantine", "reject"] = "quarantine"
    # DMARC and TLS-RPT reports go to this local part of each domain.
    report_local_part: str = "postmaster"
    mta_sts_mode: Literal["none", "testing", "enforce"] = "testing"
    # RFC 8461 caps max_age at a year.
    mta_sts_max_age: int = Field(default=604800, gt=0, le=31557600)
    # Where nginx serves the policy; None: 443 moved like the helpers' ports.
    mta_sts_port: Port | None = None


# Standard ports of the helpers: OpenDKIM's milter, postsrsd's two tables,
# the smtpd that takes forwarded mail back in, the two that rebuild what
# comes back to an SRS address, and https for MTA-STS (senders fetch the
# policy from port 443 only).
STANDARD_PORTS = {
    "dkim_port": 8891,
    "srs_forward_port": 10001,
    "srs_reverse_port": 10002,
    "reinject_port": 10027,
    "bounce_return_port": 10028,
    "bounce_filter_port": 10036,
    "mta_sts_port": 443,
}


def port(s: "Settings", name: str) -> int:
    explicit = getattr(s.deliverability, name)
    if explicit is not None:
        return explicit
    return STANDARD_PORTS[name] + s.ports.smtp - 25


def mx_hosts(s: "Settings") -> list[str]:
    """Host names the MX records point to (and the MTA-STS policy lists)."""
    return [s.hostname]


def dkim_dir(s: "Settings") -> Path:
    explicit = s.deliverability.dkim_dir
    if explicit is not None:
        return Path(explicit)
    return s.state_dir / "dkim" if s.instance else SYSTEM_DKIM_DIR


def srs_secret(s: "Settings") -> Path:
    explicit = s.deliverability.srs_secret
    if explicit is not None:
        return Path(explicit)
    return s.state_dir / "srs" / "secret" if s.instance else SYSTEM_SRS_SECRET


def srs_domain(s: "Settings") -> str:
    return s.deliverability.srs_domain or s.primary_domain


def run_dir(s: "Settings") -> Path:
    """Pid files of the helpers (the instance's own run directory)."""
    return s.state_dir / "run" / "deliverability"
