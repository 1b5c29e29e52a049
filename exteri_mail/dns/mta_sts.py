"""The MTA-STS policy (RFC 8461): its text, its id and where it is served.

One function makes the text; the id published in `_mta-sts.DOMAIN` TXT is
its hash, and the webmail's nginx serves the same text as a file, so the
three cannot drift apart.
"""

import hashlib

from ..settings import Settings
from .config import mx_hosts

PATH = "/.well-known/mta-sts.txt"
HTTPS_PORT = 443


def policy(s: Settings) -> str:
    """Text served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt."""
    d = s.deliverability
    mx = "".join(f"mx: {host}\n" for host in mx_hosts(s))
    return (
        "version: STSv1\n"
        f"mode: {d.mta_sts_mode}\n"
        f"{mx}"
        f"max_age: {d.mta_sts_max_age}\n"
    )


def policy_id(s: Settings) -> str:
    """Changes exactly when the policy does, as RFC 8461 asks."""
    return hashlib.sha256(policy(s).encode()).hexdigest()[:20]


def host(domain: str) -> str:
    return f"mta-sts.{domain.lower().rstrip('.')}"


def host_names(s: Settings) -> list[str]:
    """Names the policy is served under: the HTTPS certificate must hold them."""
    return [host(domain) for domain in s.domains]


def url(domain: str) -> str:
    return f"https://{host(domain)}{PATH}"
