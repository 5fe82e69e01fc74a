"""The Merkle Search Tree of a repository, over the Rust core.

Keys are repo paths (``collection/rkey``), values record CIDs. Every function that reads a tree
takes ``blocks``, any mapping of :class:`~strato.CID` to node bytes (a ``dict``, a store), and the
root CID; nothing is changed in place: writes return the new root and exactly the blocks the
mapping does not have yet.

Malformed trees, bad keys and missing nodes raise :class:`strato.errors.MSTError`; inversion
failures raise :class:`strato.errors.CommitVerificationError` with code ``incomplete_proof`` or
``inversion_mismatch``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, NamedTuple

from strato import _core
from strato._core import CID

Blocks = Mapping[CID, bytes]
Action = Literal["create", "update", "delete"]

#: The root of the empty tree, ``{e: [], l: null}``.
EMPTY_ROOT: CID = _core.mst_empty_root()


class RecordOp(NamedTuple):
    """One record change: ``cid`` is the new value (None for a delete), ``prev`` the old one
    (None for a create)."""

    action: Action
    path: str
    cid: CID | None
    prev: CID | None


class Applied(NamedTuple):
    """The outcome of :func:`apply`."""

    root: CID
    blocks: dict[CID, bytes]
    ops: list[RecordOp]


class Diff(NamedTuple):
    """The outcome of :func:`diff`: the record ops in key order, the new tree's nodes the old one
    lacks, and the old tree's nodes the new one lacks."""

    ops: list[RecordOp]
    new_nodes: list[CID]
    removed_nodes: list[CID]


def key_height(key: str) -> int:
    """The layer of ``key``: leading zero bits of its SHA-256, halved."""
    return _core.mst_key_height(key)


def is_valid_key(key: str) -> bool:
    """Is ``key`` a valid MST key: ``collection/rkey``, ``[A-Za-z0-9._~:-]``, <= 1024 bytes?"""
    return _core.mst_key_valid(key)


def build(pairs: Iterable[tuple[str, CID]]) -> tuple[CID, dict[CID, bytes]]:
    """The tree holding ``pairs`` (any order): its root and every node."""
    return _core.mst_build(pairs)


def get(blocks: Blocks, root: CID, key: str) -> CID | None:
    """The value at ``key``, or None."""
    return _core.mst_get(blocks, root, key)


def items(
    blocks: Blocks,
    root: CID,
    *,
    start: str | None = None,
    end: str | None = None,
    reverse: bool = False,
    limit: int | None = None,
) -> list[tuple[str, CID]]:
    """``(key, value)`` pairs with ``start <= key < end`` in key order (or reversed)."""
    return _core.mst_list(blocks, root, start, end, reverse, limit)


def apply(blocks: Blocks, root: CID, writes: Iterable[tuple[str, CID | None]]) -> Applied:
    """Applies writes in order (a CID sets the key, None deletes it) in one call."""
    new_root, new_blocks, ops = _core.mst_apply(blocks, root, writes)
    return Applied(new_root, new_blocks, [RecordOp(*op) for op in ops])


def put(blocks: Blocks, root: CID, key: str, value: CID) -> tuple[CID, dict[CID, bytes]]:
    """Sets one key: the new root and the new blocks."""
    applied = apply(blocks, root, [(key, value)])
    return applied.root, applied.blocks


def delete(blocks: Blocks, root: CID, key: str) -> tuple[CID, dict[CID, bytes]]:
    """Removes one key (absent: unchanged): the new root and the new blocks."""
    applied = apply(blocks, root, [(key, None)])
    return applied.root, applied.blocks


def diff(blocks: Blocks, old_root: CID | None, new_root: CID) -> Diff:
    """What changed from ``old_root`` (None: the empty tree) to ``new_root``."""
    ops, new_nodes, removed_nodes = _core.mst_diff(blocks, old_root, new_root)
    return Diff([RecordOp(*op) for op in ops], new_nodes, removed_nodes)


def proof_nodes(blocks: Blocks, root: CID, ops: Iterable[RecordOp]) -> list[CID]:
    """The nodes of the tree at ``root`` that a commit making ``ops`` must carry so that a
    consumer can invert it (sync 1.1), changed nodes included."""
    return _core.mst_proof_nodes(
        blocks, root, [(op.action, op.path, op.cid, op.prev) for op in ops]
    )


def invert(blocks: Blocks, root: CID, ops: Iterable[RecordOp]) -> CID:
    """Undoes ``ops`` on the (possibly partial) tree at ``root``; returns the previous root."""
    return _core.mst_invert(blocks, root, [(op.action, op.path, op.cid, op.prev) for op in ops])


def record_proof(blocks: Blocks, root: CID, key: str) -> tuple[CID | None, list[CID]]:
    """The value at ``key`` and the path nodes that prove it (or prove it absent)."""
    return _core.mst_record_proof(blocks, root, key)


def check_record_proof(blocks: Blocks, root: CID, key: str) -> CID | None:
    """The value at ``key`` according to a proof's nodes; MSTError if they do not reach it."""
    return _core.mst_check_record_proof(blocks, root, key)


__all__ = [
    "EMPTY_ROOT",
    "Action",
    "Applied",
    "Blocks",
    "Diff",
    "RecordOp",
    "apply",
    "build",
    "check_record_proof",
    "delete",
    "diff",
    "get",
    "invert",
    "is_valid_key",
    "items",
    "key_height",
    "proof_nodes",
    "put",
    "record_proof",
]
