"""Value types the settings share: a TCP port and an address to listen on.

Apart from settings.py so that dns/config.py (which settings.py imports)
can use them too.
"""

import ipaddress
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
