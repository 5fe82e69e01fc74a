"""Emailed confirmation codes: account deletion, password reset, email confirmation and
update, and PLC operation signing.

As the reference PDS (``account-manager/helpers/email-token.ts``): a code is ten random base32
characters written ``XXXXX-XXXXX``, one per account and purpose (asking again replaces the
previous code), valid :data:`EMAIL_TOKEN_LIFETIME` (15 minutes) after it was requested, and
accepted case-insensitively. Using a code deletes it, so each code works once.

Codes are kept as written, not hashed, so that an operator can read a pending one back
(:func:`pending`, ``strato account token``) on a PDS that sends no mail. That costs nothing in
safety: a code is short-lived and single-use, and whoever can read the LMDB data directory
already holds what matters more (the sealed keys, and by default the master key file beside
them, the session-token secret derived from it).

Tables: ``email_tokens`` (``did NUL purpose`` -> :class:`EmailToken`) and ``email_token_codes``
(``purpose NUL code`` -> did), to find the account from a password-reset code alone.
"""

from __future__ import annotations

import enum
import hmac
import secrets
from typing import Final

import msgspec

from strato.errors import ExpiredTokenError, InvalidTokenError
from strato.storage import ReadTxn, WriteTxn, prefix, split_key, text_key

TABLES: Final = ("email_tokens", "email_token_codes")

#: How long a code stays valid after it was requested (ms), as the reference PDS.
EMAIL_TOKEN_LIFETIME: Final = 15 * 60_000
_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class EmailTokenPurpose(enum.StrEnum):
    """What a code authorizes (the reference PDS's purpose names)."""

    CONFIRM_EMAIL = "confirm_email"
    UPDATE_EMAIL = "update_email"
    RESET_PASSWORD = "reset_password"
    DELETE_ACCOUNT = "delete_account"
    PLC_OPERATION = "plc_operation"


class EmailToken(msgspec.Struct, array_like=True, kw_only=True):
    """The current code of one account and purpose."""

    token: str
    requested_at: int


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(EmailToken)


def generate_code() -> str:
    """A new code: ten random base32 characters, ``XXXXX-XXXXX``."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


def create(txn: WriteTxn, did: str, purpose: EmailTokenPurpose, now: int) -> str:
    """A new code for ``did`` and ``purpose``, replacing any earlier one."""
    delete(txn, did, purpose)
    code = generate_code()
    row = EmailToken(token=code, requested_at=now)
    txn.put("email_tokens", text_key(did, purpose), _encoder.encode(row))
    txn.put("email_token_codes", text_key(purpose, code), did.encode())
    return code


def check(txn: ReadTxn, did: str, purpose: EmailTokenPurpose, code: str, now: int) -> None:
    """Raise unless ``code`` is ``did``'s current, unexpired code for ``purpose``:
    :class:`InvalidTokenError` (wrong, used or never requested) or :class:`ExpiredTokenError`.
    """
    data = txn.get("email_tokens", text_key(did, purpose))
    stored = None if data is None else _decoder.decode(data)
    given = code.strip().upper().encode()
    if stored is None or not hmac.compare_digest(stored.token.encode(), given):
        raise InvalidTokenError("token is invalid")
    if now >= stored.requested_at + EMAIL_TOKEN_LIFETIME:
        raise ExpiredTokenError("token is expired")


def find_did(txn: ReadTxn, purpose: EmailTokenPurpose, code: str, now: int) -> str:
    """The account whose current ``purpose`` code is ``code`` (checked as :func:`check`)."""
    normalized = code.strip().upper()
    try:
        key = text_key(purpose, normalized)
    except ValueError:  # a NUL in the code: it cannot be one of ours
        raise InvalidTokenError("token is invalid") from None
    did = txn.get("email_token_codes", key)
    if did is None:
        raise InvalidTokenError("token is invalid")
    check(txn, did.decode(), purpose, normalized, now)
    return did.decode()


def delete(txn: WriteTxn, did: str, purpose: EmailTokenPurpose) -> None:
    """Forget ``did``'s code for ``purpose`` (used, or superseded)."""
    data = txn.get("email_tokens", text_key(did, purpose))
    if data is not None:
        txn.delete("email_token_codes", text_key(purpose, _decoder.decode(data).token))
        txn.delete("email_tokens", text_key(did, purpose))


def delete_all(txn: WriteTxn, did: str) -> None:
    """Forget every code of ``did`` (its email changed, or the account is gone)."""
    for key, _ in list(txn.items("email_tokens", prefix=prefix(did))):
        delete(txn, did, EmailTokenPurpose(split_key(key)[1]))


def pending(txn: ReadTxn, did: str, now: int) -> list[tuple[EmailTokenPurpose, EmailToken]]:
    """``did``'s unexpired codes, by purpose name."""
    found = []
    for key, value in txn.items("email_tokens", prefix=prefix(did)):
        row = _decoder.decode(value)
        if now < row.requested_at + EMAIL_TOKEN_LIFETIME:
            found.append((EmailTokenPurpose(split_key(key)[1]), row))
    return found
