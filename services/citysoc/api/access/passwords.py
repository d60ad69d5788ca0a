"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile defaults).

Hashing costs tens of milliseconds of CPU: callers run these in a thread."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# Verified when the user does not exist, so a wrong username costs as much as a wrong password.
_DUMMY = _HASHER.hash("citysoc-dummy-password")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)
