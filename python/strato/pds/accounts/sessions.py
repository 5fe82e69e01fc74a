"""Refresh-token records: what makes legacy sessions revocable and refresh tokens rotate.

The session JWTs themselves are minted and checked by the XRPC layer; the PDS keeps one row per
refresh token it issued, keyed by the token's ``jti``, so that a refresh token works only while
its row exists. Rotation follows the reference PDS (``account-manager.rotateRefreshToken``):

- a refresh token lives :data:`REFRESH_TOKEN_LIFETIME` (90 days);
- using it issues a successor (a new ``jti``) and shortens the used token's life to
  :data:`REFRESH_GRACE` (2 hours) from then, or its own expiry if sooner;
- using it again within that grace period yields the *same* successor, so two concurrent
  refreshes by one client both succeed and agree;
- expired rows of the account are dropped whenever one of its tokens is rotated.

One difference, on purpose: revoking a token (logout) also revokes the tokens it was rotated
from, so an older token still in its grace period cannot bring the session back.

Tables: ``refresh_tokens`` (``jti`` -> :class:`RefreshToken`) and ``refresh_tokens_by_did``
(``did NUL jti`` -> empty), to revoke every token of an account or of one app password.
"""

from __future__ import annotations

import secrets
from typing import Final

import msgspec

from strato.errors import ExpiredTokenError, InvalidTokenError
from strato.storage import ReadTxn, WriteTxn, prefix, split_key, text_key

TABLES: Final = ("refresh_tokens", "refresh_tokens_by_did")

_HOUR: Final = 3_600_000
#: How long a refresh token is valid (ms), as the reference PDS.
REFRESH_TOKEN_LIFETIME: Final = 90 * 24 * _HOUR
#: How long a used refresh token keeps working (ms), as the reference PDS.
REFRESH_GRACE: Final = 2 * _HOUR


class RefreshToken(msgspec.Struct, array_like=True, kw_only=True):
    """The row of one issued refresh token."""

    did: str
    expires_at: int
    #: The app password the session was opened with (None: the account password).
    app_password_name: str | None = None
    #: The successor issued when this token was used (None: not used yet).
    next_id: str | None = None
    #: The token this one succeeded (None: opened by a login).
    prev_id: str | None = None


class RefreshGrant(msgspec.Struct, frozen=True, kw_only=True):
    """What a rotation yields: the refresh token to mint now, and the session it belongs to."""

    did: str
    jti: str
    expires_at: int
    app_password_name: str | None


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(RefreshToken)


def new_token_id() -> str:
    """A fresh refresh-token id (256 random bits, URL-safe base64)."""
    return secrets.token_urlsafe(32)


def store(txn: WriteTxn, jti: str, token: RefreshToken) -> None:
    """Record an issued refresh token (a no-op when ``jti`` is already recorded)."""
    if txn.put("refresh_tokens", jti.encode(), _encoder.encode(token), overwrite=False):
        txn.put("refresh_tokens_by_did", text_key(token.did, jti), b"")


def get(txn: ReadTxn, jti: str) -> RefreshToken | None:
    """The row of ``jti``, or None."""
    if not jti:
        return None
    data = txn.get("refresh_tokens", jti.encode())
    return None if data is None else _decoder.decode(data)


def rotate(txn: WriteTxn, jti: str, now: int) -> RefreshGrant:
    """Use refresh token ``jti`` at ``now``: the successor to mint (see the module docstring).

    Raises :class:`InvalidTokenError` when the token is unknown or revoked and
    :class:`ExpiredTokenError` when its time (or its grace period) has passed."""
    token = get(txn, jti)
    if token is None:
        raise InvalidTokenError("refresh token is unknown or revoked")
    _drop_expired(txn, token.did, now)
    expires_at = min(now + REFRESH_GRACE, token.expires_at)
    if expires_at <= now:
        raise ExpiredTokenError("refresh token has expired")
    next_id = token.next_id or new_token_id()
    token.expires_at = expires_at
    token.next_id = next_id
    txn.put("refresh_tokens", jti.encode(), _encoder.encode(token))
    store(
        txn,
        next_id,
        RefreshToken(
            did=token.did,
            expires_at=now + REFRESH_TOKEN_LIFETIME,
            app_password_name=token.app_password_name,
            prev_id=jti,
        ),
    )
    successor = get(txn, next_id)
    assert successor is not None  # stored just above, or already there
    return RefreshGrant(
        did=successor.did,
        jti=next_id,
        expires_at=successor.expires_at,
        app_password_name=successor.app_password_name,
    )


def revoke(txn: WriteTxn, jti: str) -> bool:
    """Revoke ``jti`` and the tokens it was rotated from; False when it was not recorded."""
    token = get(txn, jti)
    if token is None:
        return False
    _delete(txn, jti, token)
    current, prev_id = jti, token.prev_id
    while prev_id is not None:
        previous = get(txn, prev_id)
        if previous is None or previous.next_id != current:
            break
        _delete(txn, prev_id, previous)
        current, prev_id = prev_id, previous.prev_id
    return True


def revoke_all(txn: WriteTxn, did: str, *, app_password_name: str | None = None) -> int:
    """Revoke every refresh token of ``did`` (only those of one app password when
    ``app_password_name`` is given); returns how many were revoked."""
    revoked = 0
    for jti in _token_ids(txn, did):
        token = get(txn, jti)
        if token is None:
            continue
        if app_password_name is None or token.app_password_name == app_password_name:
            _delete(txn, jti, token)
            revoked += 1
    return revoked


def _token_ids(txn: ReadTxn, did: str) -> list[str]:
    return [split_key(key)[1] for key, _ in txn.items("refresh_tokens_by_did", prefix=prefix(did))]


def _drop_expired(txn: WriteTxn, did: str, now: int) -> None:
    for jti in _token_ids(txn, did):
        token = get(txn, jti)
        if token is not None and token.expires_at <= now:
            _delete(txn, jti, token)


def _delete(txn: WriteTxn, jti: str, token: RefreshToken) -> None:
    txn.delete("refresh_tokens", jti.encode())
    txn.delete("refresh_tokens_by_did", text_key(token.did, jti))
