"""Passwords for plans with a login: generated once, hashed for Dovecot."""

import secrets
import string

from .errors import InvalidInput

# Dovecot 2.3 verifies {ARGON2ID} when built with libsodium (Debian's is).
# These costs keep one verification near 20 ms on a small server.
_ARGON2 = {"memory_cost": 19456, "time_cost": 2, "parallelism": 1}
SCHEME_PREFIX = "{ARGON2ID}"

_ALPHABET = string.ascii_letters + string.digits
GENERATED_LENGTH = 20
MIN_LENGTH = 10
MAX_LENGTH = 1024


def generate() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))


def hash_password(password: str) -> str:
    from passlib.hash import argon2

    check(password)
    return SCHEME_PREFIX + argon2.using(type="ID", **_ARGON2).hash(password)


def check(password: str) -> None:
    if not password:
        raise InvalidInput("password is empty")
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"password is shorter than {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"password is longer than {MAX_LENGTH} characters")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("password is not valid UTF-8") from None
    if any(c in password for c in "\r\n\0\t"):
        raise InvalidInput("password contains a control character (tab, CR, LF, NUL)")


def is_dovecot_hash(value: str) -> bool:
    """True when VALUE carries a scheme prefix such as {ARGON2ID}."""
    return value.startswith("{") and "}" in value[1:32]
