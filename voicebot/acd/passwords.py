"""Agent password hashing: the one module that imports argon2 (argon2-cffi).

Argon2id is memory-hard, the OWASP first choice for password storage; the parameters live inside each
hash, so raising them later only affects newly set passwords (and :func:`needs_rehash` says when).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("an empty password is not allowed")
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True if ``password`` matches; False for a wrong password or an unreadable hash (never raises)."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)
