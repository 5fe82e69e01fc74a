"""Repository commits (v3): sign, decode, verify; and revs (TIDs) for new commits."""

from __future__ import annotations

from typing import NamedTuple

from strato import _core
from strato._core import CID, PrivateKey


class Commit(NamedTuple):
    """A decoded signed commit. ``unsigned`` is the byte string the signature covers."""

    did: str
    version: int
    data: CID
    rev: str | None
    prev: CID | None
    sig: bytes
    unsigned: bytes


def sign_commit(did: str, rev: str, data: CID, key: PrivateKey) -> tuple[CID, bytes]:
    """Builds and signs a v3 commit with ``prev: null``: its CID and its bytes."""
    return _core.commit_sign(did, rev, data, key)


def decode_commit(data: bytes) -> Commit:
    """Decodes a signed commit (v2 or v3); ``CommitVerificationError("malformed")`` if it is
    not one."""
    return Commit(*_core.commit_decode(data))


def verify_commit_signature(data: bytes, did_key: str, *, allow_high_s: bool = False) -> None:
    """Checks a commit's signature; raises ``CommitVerificationError`` (``bad_signature``,
    ``high_s``)."""
    _core.commit_verify_signature(data, did_key, allow_high_s=allow_high_s)


def next_rev(after: str | None = None) -> str:
    """A rev for a new commit: a TID from this process's clock, after ``after`` if given."""
    return _core.tid_next(after)


__all__ = ["Commit", "decode_commit", "next_rev", "sign_commit", "verify_commit_signature"]
