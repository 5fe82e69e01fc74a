"""Emailed confirmation codes: account deletion, password reset, email confirmation and
update, and PLC operation signing.

As the reference PDS (``account-manager/helpers/email-token.ts``): a code is ten random base32
characters written ``XXXXX-XXXXX``, one per account and purpose (asking again replaces the
previous code), valid :data:`EMAIL_TOKEN_LIFETIME` (15 minutes) after it was requested, and
accepted case-insensitively. Using a code deletes it, so each code works once.

Codes at rest. A code is never stored, only its keyed digest: HMAC-SHA256 under a key of its
own, derived from the PDS's master key (:data:`EMAIL_CODE_SECRET`, see
:meth:`strato.pds.keys.MasterKey.derive_secret`), of ``purpose NUL CODE`` (the code stripped
and in capitals). A code is 50 random bits: an unkeyed hash of it falls to an offline search
within days on one GPU, and a password reset code hands over the account. The keyed digest is
worthless without the master key (a file of its own, mode 0600, or only in the environment
with ``STRATO_PDS_MASTER_KEY``). So a pending code cannot be read back: ``strato account
token`` issues a new one, and a PDS without SMTP logs each code as it issues it. Digests are
compared in constant time.

Tables: ``email_codes`` (``did NUL purpose`` -> :class:`EmailCode`) and ``email_code_digests``
(digest -> did), to find the account from a password-reset code alone; the digest covers the
purpose, so one index serves every purpose.

Earlier versions kept codes as written, in ``email_tokens`` and ``email_token_codes``: those are
:data:`RETIRED_TABLES`, dropped with their rows when the PDS's store opens. A code pending
across the upgrade is lost and must be asked for again (it would have expired within 15
minutes anyway). LMDB does not wipe the pages it frees, so their bytes may linger in
``data.mdb`` until the pages are reused; a ``strato backup`` copy (compacted) holds none.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from typing import Final

import msgspec

from strato.errors import ExpiredTokenError, InvalidTokenError
from strato.storage import ReadTxn, WriteTxn, prefix, split_key, text_key

TABLES: Final = ("email_codes", "email_code_digests")
#: The tables of codes kept as written, before codes were hashed: dropped at open.
RETIRED_TABLES: Final = ("email_tokens", "email_token_codes")
#: What the key of the digests is derived from the master key for.
EMAIL_CODE_SECRET: Final = "email codes"

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


class EmailCode(msgspec.Struct, array_like=True, kw_only=True):
    """The current code of one account and purpose, as kept: its keyed digest, and when it was
    requested."""

    digest: bytes
    requested_at: int


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(EmailCode)


def generate_code() -> str:
    """A new code: ten random base32 characters, ``XXXXX-XXXXX``."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


class EmailCodes:
    """Issuing and checking codes, kept as digests under ``key`` (32 bytes derived from the
    master key for :data:`EMAIL_CODE_SECRET`)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, purpose: EmailTokenPurpose, code: str) -> bytes:
        """The keyed digest a ``purpose`` code is kept and found by (any case, spaces
        around)."""
        # surrogatepass: any string a JSON body can carry has a digest (and matches no code).
        written = code.strip().upper().encode("utf-8", "surrogatepass")
        return hmac.digest(self._key, purpose.encode() + b"\x00" + written, hashlib.sha256)

    def create(self, txn: WriteTxn, did: str, purpose: EmailTokenPurpose, now: int) -> str:
        """A new code for ``did`` and ``purpose``, replacing any earlier one. Only its digest
        is stored: the code returned is the one copy."""
        delete(txn, did, purpose)
        while True:
            code = generate_code()
            digest = self.digest(purpose, code)
            if txn.get("email_code_digests", digest) is None:  # not another account's code
                break
        row = EmailCode(digest=digest, requested_at=now)
        txn.put("email_codes", text_key(did, purpose), _encoder.encode(row))
        txn.put("email_code_digests", digest, did.encode())
        return code

    def check(
        self, txn: ReadTxn, did: str, purpose: EmailTokenPurpose, code: str, now: int
    ) -> None:
        """Raise unless ``code`` is ``did``'s current, unexpired code for ``purpose``:
        :class:`InvalidTokenError` (wrong, used or never requested) or
        :class:`ExpiredTokenError`."""
        data = txn.get("email_codes", text_key(did, purpose))
        stored = None if data is None else _decoder.decode(data)
        if stored is None or not hmac.compare_digest(stored.digest, self.digest(purpose, code)):
            raise InvalidTokenError("token is invalid")
        if now >= stored.requested_at + EMAIL_TOKEN_LIFETIME:
            raise ExpiredTokenError("token is expired")

    def find_did(self, txn: ReadTxn, purpose: EmailTokenPurpose, code: str, now: int) -> str:
        """The account whose current ``purpose`` code is ``code`` (checked as
        :meth:`check`)."""
        did = txn.get("email_code_digests", self.digest(purpose, code))
        if did is None:
            raise InvalidTokenError("token is invalid")
        self.check(txn, did.decode(), purpose, code, now)
        return did.decode()


def delete(txn: WriteTxn, did: str, purpose: EmailTokenPurpose) -> None:
    """Forget ``did``'s code for ``purpose`` (used, or superseded)."""
    data = txn.get("email_codes", text_key(did, purpose))
    if data is not None:
        txn.delete("email_code_digests", _decoder.decode(data).digest)
        txn.delete("email_codes", text_key(did, purpose))


def delete_all(txn: WriteTxn, did: str) -> None:
    """Forget every code of ``did`` (its email changed, or the account is gone)."""
    for key, _ in list(txn.items("email_codes", prefix=prefix(did))):
        delete(txn, did, EmailTokenPurpose(split_key(key)[1]))
