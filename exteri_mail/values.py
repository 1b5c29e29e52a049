"""Value types the settings share: a TCP port, an address to listen on and
a DNS name.

Apart from settings.py so that dns/config.py (which settings.py imports)
can use them too.
"""

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field

Port = Annotated[int, Field(ge=1, le=65535)]


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


# An address a daemon binds: an IP address, as Postfix and Dovecot take it.
Address = Annotated[str, AfterValidator(_address)]

# Addresses that bind every interface (in a container, say) rather than one.
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::"})


# Letters, digits and hyphens in dot-separated labels, as DNS host names are.
HOST_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?)+")


def is_host_name(text: str) -> bool:
    """TEXT, in lower case, is a host name and not an IPv4 address (which
    the pattern alone would take)."""
    return bool(HOST_NAME.fullmatch(text)) and not text.replace(".", "").isdigit()


def _domain(value: str) -> str:
    text = value.strip().lower().rstrip(".")
    if not is_host_name(text) or "." not in text:
        raise ValueError(
            f"{value!r} is not a domain name (dot-separated labels of letters, "
            "digits and hyphens)"
        )
    return text


# A domain or host name of ours (hostname, the mail domains, the SRS domain):
# lower case, no trailing dot, at least two labels.
DomainName = Annotated[str, AfterValidator(_domain)]
