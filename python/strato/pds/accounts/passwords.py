"""Account passwords and app passwords: hashing, checking, generating.

Account passwords are chosen by people, so they are stored as argon2id hashes (argon2-cffi,
the PHC string format, which carries its own salt and parameters). App passwords are generated
here, ``xxxx-xxxx-xxxx-xxxx`` from the base32 alphabet as the reference PDS makes them: 80 random
bits, which no dictionary or GPU search can reach, so they are stored as a SHA-256 digest of
``did NUL password``. That keeps a login with an app password one digest and a lookup instead of
one memory-hard hash per app password of the account (the reference PDS derives its scrypt salt
from the DID for the same reason: to find an app password by its hash).

Parameters (:data:`PASSWORD_HASHER`): argon2id, memory 19 MiB, 2 passes, 1 lane, 16-byte salt,
32-byte hash. That is the first configuration of the OWASP Password Storage Cheat Sheet for
argon2id; it costs about 40 ms of one core per hash. We chose it over RFC 9106's 64 MiB,
4-lane profile because a PDS often runs on a small VPS where logins arrive concurrently:
19 MiB per login in flight keeps a burst of logins from exhausting memory while still making
each guess against a stolen hash as costly as the RFC's second recommendation. Hashes record
their parameters, so raising them later is safe: a login whose stored hash has other parameters
is re-hashed with the current ones (:func:`check_password` says when).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final, NewType

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from strato.errors import InvalidPasswordError

#: The hasher for account passwords (see the module docstring for the parameters).
PASSWORD_HASHER: Final = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)
#: The longest new password accepted (characters), as the reference PDS.
PASSWORD_MAX_LENGTH: Final = 256
#: Longer candidates are refused at login without hashing them (the reference's old limit).
PASSWORD_CHECK_MAX_LENGTH: Final = 512

#: The alphabet of generated app passwords (RFC 4648 base32, lowercase).
APP_PASSWORD_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz234567"
_APP_PASSWORD_RE: Final = re.compile(r"[a-z2-7]{4}(?:-[a-z2-7]{4}){3}")

PasswordHash = NewType("PasswordHash", str)
"""An argon2id PHC string made by :func:`hash_password` (never a plain password)."""


def hash_password(password: str, hasher: PasswordHasher = PASSWORD_HASHER) -> PasswordHash:
    """The argon2id hash of a new account password. Slow on purpose (tens of ms): call it
    before opening a write transaction.

    Raises :class:`InvalidPasswordError` for an empty password or one over
    :data:`PASSWORD_MAX_LENGTH` characters."""
    if not password:
        raise InvalidPasswordError("password must not be empty")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidPasswordError(f"password is longer than {PASSWORD_MAX_LENGTH} characters")
    return PasswordHash(hasher.hash(password))


def check_password(
    stored: str, password: str, hasher: PasswordHasher = PASSWORD_HASHER
) -> tuple[bool, bool]:
    """Whether ``password`` matches the ``stored`` hash, and whether that hash should be
    replaced because its parameters are not ``hasher``'s (only ever True on a match)."""
    if len(password) > PASSWORD_CHECK_MAX_LENGTH:
        return False, False
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, False
    return True, hasher.check_needs_rehash(stored)


def generate_app_password() -> str:
    """A new app password: 16 random base32 characters in four dash-separated groups."""
    chars = "".join(secrets.choice(APP_PASSWORD_ALPHABET) for _ in range(16))
    return "-".join(chars[i : i + 4] for i in range(0, 16, 4))


def looks_like_app_password(password: str) -> bool:
    """Whether ``password`` has the app password form (case-insensitive)."""
    return _APP_PASSWORD_RE.fullmatch(password.lower()) is not None


def app_password_digest(did: str, password: str) -> bytes:
    """The stored form of an app password of ``did`` (case-insensitive)."""
    return hashlib.sha256(f"{did}\x00{password.lower()}".encode()).digest()
