"""Invite codes: creation, use counts, disabling, and the check at account creation.

As the reference PDS (``account-manager/helpers/invite.ts``): a code is the service hostname
with dots as dashes, then ten random base32 characters (``pds-example-com-abc23-567xy``), so it
does not read as a link. A code has a number of available uses, may be disabled, and belongs to
an account (``forAccount``; ``admin`` for codes the operator hands out). A code is usable while
it is enabled, has uses left and its owner is not taken down. Whether a code is required at all
is the PDS's ``inviteCodeRequired`` setting (off by default, see
:class:`strato.pds.accounts.AccountStore`).

Tables: ``invite_codes`` (code -> :class:`InviteCode`), ``invite_code_uses``
(``code NUL did`` -> u64 time) and ``invite_codes_by_account`` (``forAccount NUL code`` ->
empty).
"""

from __future__ import annotations

import secrets
from typing import Final

import msgspec

from strato.errors import InvalidInviteCodeError
from strato.storage import ReadTxn, WriteTxn, from_u64, prefix, split_key, text_key, u64

TABLES: Final = ("invite_codes", "invite_code_uses", "invite_codes_by_account")

#: The ``forAccount`` and ``createdBy`` of codes the operator creates.
ADMIN: Final = "admin"
_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz234567"


class InviteCode(msgspec.Struct, array_like=True, kw_only=True):
    """One stored invite code."""

    available: int
    disabled: bool
    for_account: str
    created_by: str
    created_at: int


class InviteCodeUse(msgspec.Struct, frozen=True, kw_only=True):
    """One account created with a code (``com.atproto.server.defs#inviteCodeUse``)."""

    used_by: str
    used_at: int


class InviteCodeInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A code with its uses (``com.atproto.server.defs#inviteCode``)."""

    code: str
    available: int
    disabled: bool
    for_account: str
    created_by: str
    created_at: int
    uses: tuple[InviteCodeUse, ...]


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(InviteCode)


def generate_code(hostname: str) -> str:
    """A new code for the service at ``hostname``."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{hostname.replace('.', '-')}-{chars[:5]}-{chars[5:]}"


def create(txn: WriteTxn, code: str, invite: InviteCode) -> None:
    """Store a new code."""
    if not txn.put("invite_codes", code.encode(), _encoder.encode(invite), overwrite=False):
        raise InvalidInviteCodeError("invite code already exists", code)
    txn.put("invite_codes_by_account", text_key(invite.for_account, code), b"")


def info(txn: ReadTxn, code: str) -> InviteCodeInfo | None:
    """The code with its uses (newest first), or None when unknown."""
    if not code or "\x00" in code:
        return None  # not a code we could have made
    data = txn.get("invite_codes", code.encode())
    if data is None:
        return None
    invite = _decoder.decode(data)
    uses = sorted(
        (
            InviteCodeUse(used_by=split_key(key)[1], used_at=from_u64(value))
            for key, value in txn.items("invite_code_uses", prefix=prefix(code))
        ),
        key=lambda use: use.used_at,
        reverse=True,
    )
    return InviteCodeInfo(
        code=code,
        available=invite.available,
        disabled=invite.disabled,
        for_account=invite.for_account,
        created_by=invite.created_by,
        created_at=invite.created_at,
        uses=tuple(uses),
    )


def codes_of(txn: ReadTxn, account: str) -> list[str]:
    """The codes that belong to ``account`` (a DID, or :data:`ADMIN`)."""
    return [
        split_key(key)[1] for key, _ in txn.items("invite_codes_by_account", prefix=prefix(account))
    ]


def check(txn: ReadTxn, code: str) -> InviteCodeInfo:
    """The code, if it is enabled and has uses left; :class:`InvalidInviteCodeError` otherwise.
    (Whether its owner is taken down is the account store's check.)"""
    found = info(txn, code)
    if found is None or found.disabled or len(found.uses) >= found.available:
        raise InvalidInviteCodeError("invite code not available", code)
    return found


def record_use(txn: WriteTxn, code: str, did: str, now: int) -> None:
    """Record that ``did`` was created with ``code``."""
    txn.put("invite_code_uses", text_key(code, did), u64(now))


def disable(txn: WriteTxn, code: str) -> bool:
    """Disable ``code``; False when it is unknown."""
    if not code or "\x00" in code:
        return False
    data = txn.get("invite_codes", code.encode())
    if data is None:
        return False
    invite = _decoder.decode(data)
    invite.disabled = True
    txn.put("invite_codes", code.encode(), _encoder.encode(invite))
    return True
