"""Whole-event verification of firehose ``#commit`` and ``#sync`` messages (sync 1.1).

One call per event, into the Rust core with the GIL released: the CAR slice and every block's
hash, the commit and its fields against the message, the signature, size and op limits, rev order
and the future-rev bound, ``since``/``prevData`` against what the caller knows, and MST operation
inversion. A failure raises :class:`strato.errors.CommitVerificationError` whose ``code`` is an
:class:`ErrorCode` value. ``policy`` makes single relaxable checks lenient (``{"high_s": False}``)
and overrides ``strict``; a lenient failure is listed in ``warnings`` instead. The limits
(``MAX_*``, :data:`FUTURE_REV_TOLERANCE_MICROS`) and the :data:`RELAXABLE` checks are the Rust
verifier's own, read from the native module.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypedDict

from strato import _core
from strato._core import (
    CID,
    FUTURE_REV_TOLERANCE_MICROS,
    MAX_COMMIT_BLOCKS,
    MAX_OPS,
    MAX_RECORD_SIZE,
    MAX_SYNC_BLOCKS,
    VerifiedCommit,
    VerifiedSync,
)
from strato.errors import CommitVerificationError


class ErrorCode(enum.StrEnum):
    """Why an event failed verification (stable names, for metrics)."""

    MALFORMED = "malformed"
    BAD_CAR = "bad_car"
    HASH_MISMATCH = "hash_mismatch"
    MISSING_BLOCK = "missing_block"
    FIELD_MISMATCH = "field_mismatch"
    BAD_SIGNATURE = "bad_signature"
    HIGH_S = "high_s"
    TOO_BIG = "too_big"
    TOO_MANY_OPS = "too_many_ops"
    REV_NOT_NEWER = "rev_not_newer"
    REV_IN_FUTURE = "rev_in_future"
    SINCE_MISMATCH = "since_mismatch"
    PREV_DATA_MISMATCH = "prev_data_mismatch"
    PREV_DATA_MISSING = "prev_data_missing"
    INCOMPLETE_PROOF = "incomplete_proof"
    INVERSION_MISMATCH = "inversion_mismatch"
    DEPRECATED_FLAG = "deprecated_flag"


#: The checks a policy may relax (the others are never lenient: a bad hash, a forged commit or
#: a replayed rev is always refused).
RELAXABLE: Final = frozenset(ErrorCode(name) for name in _core.RELAXABLE)


Payload = bytes | bytearray | memoryview | Mapping[str, Any]


class CommitItem(TypedDict, total=False):
    """One item of :func:`verify_commit_events`: the arguments of :func:`verify_commit_event`."""

    payload: Payload
    did_key: str | None
    prev_rev: str | None
    prev_data: CID | None
    now: float | None
    strict: bool
    policy: Mapping[str, bool] | None


def verify_commit_event(
    payload: Payload,
    did_key: str | None,
    *,
    prev_rev: str | None = None,
    prev_data: CID | None = None,
    now: float | None = None,
    strict: bool = True,
    policy: Mapping[str, bool] | None = None,
) -> VerifiedCommit:
    """Verifies one ``#commit`` body (bytes, or a dict of data-model values).

    ``did_key`` is the account's signing key (None skips only the signature check);
    ``prev_rev``/``prev_data`` are the account's last known rev and data root (None: unknown);
    ``now`` is Unix time in seconds for the future-rev check (default: the clock).
    """
    return _core.verify_commit_event(
        payload,
        did_key,
        prev_rev=prev_rev,
        prev_data=prev_data,
        now=now,
        strict=strict,
        policy=dict(policy) if policy is not None else None,
    )


def verify_sync_event(
    payload: Payload,
    did_key: str | None,
    *,
    prev_rev: str | None = None,
    now: float | None = None,
    strict: bool = True,
    policy: Mapping[str, bool] | None = None,
) -> VerifiedSync:
    """Verifies one ``#sync`` body: a CAR holding only the signed commit."""
    return _core.verify_sync_event(
        payload,
        did_key,
        prev_rev=prev_rev,
        now=now,
        strict=strict,
        policy=dict(policy) if policy is not None else None,
    )


def verify_commit_events(
    items: Iterable[CommitItem],
) -> list[VerifiedCommit | CommitVerificationError]:
    """Verifies many ``#commit`` bodies across all cores; one result per item, in order."""
    return _core.verify_commit_events(items)


__all__ = [
    "FUTURE_REV_TOLERANCE_MICROS",
    "MAX_COMMIT_BLOCKS",
    "MAX_OPS",
    "MAX_RECORD_SIZE",
    "MAX_SYNC_BLOCKS",
    "RELAXABLE",
    "CommitItem",
    "CommitVerificationError",
    "ErrorCode",
    "Payload",
    "VerifiedCommit",
    "VerifiedSync",
    "verify_commit_event",
    "verify_commit_events",
    "verify_sync_event",
]
