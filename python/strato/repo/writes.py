"""The vocabulary of repository writes: the three write kinds a batch is made of, what one
commit produced (:class:`CommitData`, everything a firehose ``#commit`` event needs), and the
blob references found in a record.

Compare-and-swap per write follows the reference PDS: ``swap_record`` left at
:data:`UNCHECKED` checks nothing; ``None`` requires the record to be absent (so it only makes
sense on a create); a CID requires that CID to be the current record (update, delete).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from strato._core import CID
from strato.repo.mst import RecordOp
from strato.sync import MAX_OPS


class Unchecked(enum.Enum):
    """The type of :data:`UNCHECKED`."""

    UNCHECKED = "unchecked"


#: The most writes in one batch (``applyWrites``), as the reference PDS allows.
MAX_WRITES = MAX_OPS
#: No compare-and-swap on this write.
UNCHECKED = Unchecked.UNCHECKED
SwapRecord = CID | None | Literal[Unchecked.UNCHECKED]


@dataclass(frozen=True, slots=True)
class Create:
    """Create a record; with no ``rkey`` a TID is chosen. Fails if the record exists."""

    collection: str
    value: Mapping[str, Any]
    rkey: str | None = None
    swap_record: SwapRecord = UNCHECKED


@dataclass(frozen=True, slots=True)
class Update:
    """Replace an existing record. Fails if the record is absent."""

    collection: str
    rkey: str
    value: Mapping[str, Any]
    swap_record: SwapRecord = UNCHECKED


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove an existing record. Fails if the record is absent."""

    collection: str
    rkey: str
    swap_record: SwapRecord = UNCHECKED


Write = Create | Update | Delete


@dataclass(frozen=True, slots=True)
class WriteResult:
    """One write of a batch as committed, in the batch's order: the record's CID (None for a
    delete) and the blobs its new value references."""

    action: Literal["create", "update", "delete"]
    collection: str
    rkey: str
    cid: CID | None
    blobs: tuple[CID, ...] = ()

    @property
    def path(self) -> str:
        """``collection/rkey``, the record's MST key."""
        return f"{self.collection}/{self.rkey}"


@dataclass(frozen=True, slots=True)
class CommitData:
    """One signed commit and everything its ``#commit`` event carries (sync 1.1).

    ``blocks`` is the CAR slice (root = the commit): the commit block, the MST nodes a consumer
    needs to invert ``ops`` (new nodes included), and the new record blocks. ``since`` and
    ``prev_data`` are the previous commit's rev and data root (None for a repository's first
    commit). ``ops`` are the changes as the MST saw them, in the batch's order (a write that
    left a record as it was makes no op); ``results`` are all the writes, in the order given.
    ``blobs`` are the blob CIDs the new record values reference (each once).
    """

    did: str
    commit: CID
    rev: str
    since: str | None
    data: CID
    prev_data: CID | None
    ops: list[RecordOp]
    blocks: bytes
    results: list[WriteResult]
    blobs: list[CID]


def blob_refs(value: Any) -> list[CID]:
    """The blob CIDs referenced anywhere in a record value, each once in order of appearance:
    ``{"$type": "blob", "ref": <CID>, ...}`` and the legacy ``{"cid": "<CID>", "mimeType": ...}``
    form."""
    found: dict[CID, None] = {}
    for cid in _walk_blobs(value):
        found[cid] = None
    return list(found)


def _walk_blobs(value: Any) -> Iterator[CID]:
    if isinstance(value, list):
        for item in value:
            yield from _walk_blobs(item)
    elif isinstance(value, dict):
        kind = value.get("$type")
        if kind == "blob" and isinstance(value.get("ref"), CID):
            yield value["ref"]
            return
        if kind is None and isinstance(value.get("cid"), str) and "mimeType" in value:
            legacy = _legacy_cid(value["cid"])
            if legacy is not None:
                yield legacy
            return
        for item in value.values():
            yield from _walk_blobs(item)


def _legacy_cid(text: str) -> CID | None:
    try:
        return CID.decode(text)
    except ValueError:
        return None


__all__ = [
    "MAX_WRITES",
    "UNCHECKED",
    "CommitData",
    "Create",
    "Delete",
    "SwapRecord",
    "Unchecked",
    "Update",
    "Write",
    "WriteResult",
    "blob_refs",
]
