"""App passwords: named, revocable passwords with reduced rights.

A user creates one per client, sees it once (``xxxx-xxxx-xxxx-xxxx``), and may revoke it by
name; a ``privileged`` one may also reach sensitive methods (chat). What an app password may do
is the XRPC layer's business; this module stores them and finds the one a login used. The
stored form is a digest (see :mod:`strato.pds.accounts.passwords`).

Table: ``app_passwords`` (``did NUL name`` -> :class:`StoredAppPassword`).
"""

from __future__ import annotations

import hmac
from typing import Final

import msgspec

from strato.errors import AccountError
from strato.pds.accounts.passwords import (
    app_password_digest,
    generate_app_password,
    looks_like_app_password,
)
from strato.storage import ReadTxn, WriteTxn, prefix, prefix_end, split_key, text_key

TABLES: Final = ("app_passwords",)


class StoredAppPassword(msgspec.Struct, array_like=True, kw_only=True):
    """The row of one app password."""

    digest: bytes
    privileged: bool
    created_at: int


class AppPassword(msgspec.Struct, frozen=True, kw_only=True):
    """An app password as listed (never with the password itself)."""

    name: str
    privileged: bool
    created_at: int


class NewAppPassword(msgspec.Struct, frozen=True, kw_only=True):
    """A just-created app password: the only time its ``password`` is known."""

    name: str
    password: str
    privileged: bool
    created_at: int


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(StoredAppPassword)


class AppPasswordError(AccountError):
    """A new app password refused: its name is empty, has a NUL character, or is taken."""


def create(txn: WriteTxn, did: str, name: str, privileged: bool, now: int) -> NewAppPassword:
    """A new app password of ``did`` called ``name``.

    Raises :class:`AppPasswordError` for an empty name, one with a NUL character, or one the
    account already uses."""
    if not name.strip():
        raise AppPasswordError("app password name must not be empty", did)
    if "\x00" in name:
        raise AppPasswordError("app password name must not contain NUL", did)
    password = generate_app_password()
    row = StoredAppPassword(
        digest=app_password_digest(did, password), privileged=privileged, created_at=now
    )
    if not txn.put("app_passwords", text_key(did, name), _encoder.encode(row), overwrite=False):
        raise AppPasswordError(f"an app password named {name!r} already exists", did)
    return NewAppPassword(name=name, password=password, privileged=privileged, created_at=now)


def list_all(txn: ReadTxn, did: str) -> list[AppPassword]:
    """The app passwords of ``did``, newest first."""
    found = [
        AppPassword(name=split_key(key)[1], privileged=row.privileged, created_at=row.created_at)
        for key, row in _rows(txn, did)
    ]
    found.sort(key=lambda entry: (entry.created_at, entry.name), reverse=True)
    return found


def revoke(txn: WriteTxn, did: str, name: str) -> bool:
    """Delete the app password ``name`` of ``did``; False when there is none."""
    if "\x00" in name:
        return False
    return txn.delete("app_passwords", text_key(did, name))


def revoke_all(txn: WriteTxn, did: str) -> None:
    """Delete every app password of ``did``."""
    txn.delete_range("app_passwords", prefix(did), prefix_end(prefix(did)))


def find(txn: ReadTxn, did: str, password: str) -> AppPassword | None:
    """The app password of ``did`` that ``password`` is, or None."""
    if not looks_like_app_password(password):
        return None
    digest = app_password_digest(did, password)
    for key, row in _rows(txn, did):
        if hmac.compare_digest(row.digest, digest):
            return AppPassword(
                name=split_key(key)[1], privileged=row.privileged, created_at=row.created_at
            )
    return None


def _rows(txn: ReadTxn, did: str) -> list[tuple[bytes, StoredAppPassword]]:
    return [
        (key, _decoder.decode(value))
        for key, value in txn.items("app_passwords", prefix=prefix(did))
    ]
