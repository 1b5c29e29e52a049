"""The identity rule: an address is nome.cognome, derived from real names."""

import re
import unicodedata
from functools import lru_cache

from unidecode import unidecode

from .errors import InvalidInput

LOCAL_PART_MAX = 64
LOCAL_PART_RE = re.compile(r"^[a-z]+\.[a-z]+$")

# Separators people type inside a name; they vanish from the address.
_SEPARATORS = {" ", "'", "\u2019", "-"}


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    code = f"U+{ord(char):04X}"
    if char.isprintable() and not char.isspace():
        return f"{char!r} ({code} {name})".strip()
    return f"{code} {name}".strip() if name else code


def _check_characters(field: str, value: str) -> None:
    for char in value:
        if char in _SEPARATORS or char.isalpha():
            continue
        raise InvalidInput(
            f"{field} contains {_describe(char)}: only letters, spaces, "
            "apostrophes and hyphens are allowed"
        )
    if not (value[0].isalpha() and value[-1].isalpha()):
        raise InvalidInput(f"{field} {value!r} must begin and end with a letter")
    scripts = {_script(char) for char in value if char.isalpha()}
    if len(scripts) > 1:
        # A Cyrillic "е" inside a Latin name looks the same and would take
        # someone else's address: one name, one script.
        raise InvalidInput(
            f"{field} {value!r} mixes scripts ({', '.join(sorted(scripts))}); "
            "type it in one alphabet"
        )


def _script(char: str) -> str:
    name = unicodedata.name(char, "UNKNOWN")
    return "LATIN" if "LATIN" in name.split() else name.split()[0]


# Pure, and names repeat a lot in a bulk import: cached (bulk.py).
@lru_cache(maxsize=65536)
def _fold(field: str, value: str) -> str:
    """Trim, transliterate to ASCII and drop separators from one name."""
    # Composed form first: "o" + U+0300 (as some keyboards send it) is "ò".
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise InvalidInput(f"{field} is empty")
    _check_characters(field, value)

    folded = unidecode(value).lower()
    folded = "".join(c for c in folded if c not in _SEPARATORS)
    if not re.fullmatch(r"[a-z]+", folded):
        raise InvalidInput(
            f"{field} {value!r} has no plain Latin spelling "
            f"(transliterated to {folded!r}); type it in Latin letters"
        )
    return folded


def local_part(first: str, last: str) -> str:
    """Build the canonical local part from a person's first and last name."""
    candidate = f"{_fold('first name', first)}.{_fold('last name', last)}"

    if len(candidate) > LOCAL_PART_MAX:
        raise InvalidInput(
            f"address {candidate[:20]}... would be {len(candidate)} characters "
            f"before the @, the limit is {LOCAL_PART_MAX}"
        )
    assert LOCAL_PART_RE.match(candidate)
    return candidate


def clean_name(field: str, value: str) -> str:
    """The name as it is stored: as typed, trimmed, inner spaces collapsed."""
    _fold(field, value)
    return " ".join(unicodedata.normalize("NFC", value).split())
