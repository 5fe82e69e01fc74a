"""The account record and its hosting status.

An account is stored as one :class:`Account` row (msgpack, array form). Its hosting status
(spec: account hosting, ``specs/account``) follows from two fields, as the reference PDS derives
it: a takedown reference means ``takendown`` (whatever else holds), else a deactivation time
means ``deactivated``, else the account is ``active``. A deleted account has no row, only a
tombstone, so its status is ``deleted``. Times are integer milliseconds since the epoch.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec


class AccountStatus(enum.StrEnum):
    """The hosting status of an account, with the spec's names."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    TAKENDOWN = "takendown"
    DELETED = "deleted"

    @property
    def event_status(self) -> str | None:
        """The status an ``#account`` event carries: None when active."""
        return None if self is AccountStatus.ACTIVE else self.value


class Account(msgspec.Struct, array_like=True, kw_only=True):
    """One hosted account."""

    did: str
    handle: str
    email: str | None = None
    email_confirmed_at: int | None = None
    password_hash: str | None = None
    created_at: int
    deactivated_at: int | None = None
    #: The deletion date a deactivating user asked for (stored, not acted on).
    delete_after: int | None = None
    #: The moderation reference of a takedown; None when not taken down.
    takedown_ref: str | None = None
    invites_disabled: bool = False

    @property
    def status(self) -> AccountStatus:
        """The hosting status (never ``deleted``: a deleted account has no row)."""
        if self.takedown_ref is not None:
            return AccountStatus.TAKENDOWN
        if self.deactivated_at is not None:
            return AccountStatus.DEACTIVATED
        return AccountStatus.ACTIVE

    @property
    def active(self) -> bool:
        """Whether the account's content may be served (the ``active`` flag of ``#account``)."""
        return self.status is AccountStatus.ACTIVE


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(Account)


def encode_account(account: Account) -> bytes:
    """The stored form of ``account``."""
    return _encoder.encode(account)


def decode_account(data: bytes) -> Account:
    """An account row read back from the store."""
    return _decoder.decode(data)
