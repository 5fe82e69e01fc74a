"""Whole-event verification of firehose ``#commit`` and ``#sync`` messages (sync 1.1).

One call per event, into the Rust core with the GIL released: the CAR slice and every block's
hash, the commit and its fields against the message, the signature, size and op limits, rev order
and the future-rev bound, ``since``/``prevData`` against what the caller knows, and MST operation
inversion. A failure raises :class:`strato.errors.CommitVerificationError` whose ``code`` is an
:class:`ErrorCode` value.

A :class:`VerifyPolicy` says which of the :data:`RELAXABLE` checks are lenient (a failure is
listed in ``warnings`` and the event passes): ``VerifyPolicy(strict=False)`` relaxes them all,
``VerifyPolicy(checks={"high_s": False})`` just one. It is frozen and built once (a relay builds
it from its settings); every verification takes that object, none (the default) meaning every
check strict. The limits (``MAX_*``, :data:`FUTURE_REV_TOLERANCE_MICROS`) and the relaxable
checks are the Rust verifier's own, read from the native module.
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
    VerifyPolicy,
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
    """One item of :func:`verify_commit_events`: the arguments of :func:`verify_commit_event`
    but the policy (the batch's)."""

    payload: Payload
    did_key: str | None
    prev_rev: str | None
    prev_data: CID | None
    now: float | None


def verify_commit_event(
    payload: Payload,
    did_key: str | None,
    *,
    prev_rev: str | None = None,
    prev_data: CID | None = None,
    now: float | None = None,
    policy: VerifyPolicy | None = None,
) -> VerifiedCommit:
    """Verifies one ``#commit`` body (bytes, or a dict of data-model values).

    ``did_key`` is the account's signing key (None skips only the signature check);
    ``prev_rev``/``prev_data`` are the account's last known rev and data root (None: unknown);
    ``now`` is Unix time in seconds for the future-rev check (default: the clock);
    ``policy`` the lenient checks (default: none).
    """
    return _core.verify_commit_event(
        payload,
        did_key,
        prev_rev=prev_rev,
        prev_data=prev_data,
        now=now,
        policy=policy,
    )


def verify_sync_event(
    payload: Payload,
    did_key: str | None,
    *,
    prev_rev: str | None = None,
    now: float | None = None,
    policy: VerifyPolicy | None = None,
) -> VerifiedSync:
    """Verifies one ``#sync`` body: a CAR holding only the signed commit."""
    return _core.verify_sync_event(payload, did_key, prev_rev=prev_rev, now=now, policy=policy)


def verify_commit_events(
    items: Iterable[CommitItem], *, policy: VerifyPolicy | None = None
) -> list[VerifiedCommit | CommitVerificationError]:
    """Verifies many ``#commit`` bodies across all cores, all under ``policy``; one result per
    item, in order. An item with a key :class:`CommitItem` does not name is a ValueError."""
    return _core.verify_commit_events(items, policy=policy)


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
    "VerifyPolicy",
    "verify_commit_event",
    "verify_commit_events",
    "verify_sync_event",
]
