"""Typed structs for the ``com.atproto.sync.subscribeRepos`` message payloads: ``#commit`` (with
its ``#repoOp`` list), ``#sync``, ``#identity``, ``#account`` and ``#info``.

A frame's body is decoded from DAG-CBOR (:func:`strato.dagcbor.decode`), so ``bytes`` fields
hold ``bytes`` and links hold :class:`strato.CID`; the body carries no ``$type`` (the frame
header's ``t`` names the message). :data:`MESSAGES` maps ``t`` to the struct.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from strato import CID
from strato._core import MAX_COMMIT_BLOCKS, MAX_OPS, MAX_SYNC_BLOCKS
from strato.lexicon.types._base import LexObject, text
from strato.syntax import is_datetime, is_did, is_handle, is_tid


class RepoOp(LexObject):
    """``#repoOp``: one record operation of a commit (``cid`` is null for deletes)."""

    action: str
    path: str
    cid: CID | None
    prev: CID | msgspec.UnsetType = msgspec.UNSET


class Commit(LexObject):
    """``#commit``: a repository commit with its CAR slice."""

    seq: int
    rebase: bool
    too_big: bool
    repo: str
    commit: CID
    rev: str
    since: str | None
    blocks: Annotated[bytes, msgspec.Meta(max_length=MAX_COMMIT_BLOCKS)]
    ops: Annotated[list[RepoOp], msgspec.Meta(max_length=MAX_OPS)]
    blobs: list[CID]
    time: str
    prev_data: CID | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        text(self.repo, "repo", check=is_did, fmt="did")
        text(self.rev, "rev", check=is_tid, fmt="tid")
        if self.since is not None:
            text(self.since, "since", check=is_tid, fmt="tid")
        text(self.time, "time", check=is_datetime, fmt="datetime")


class Sync(LexObject):
    """``#sync``: the current state of a repository (a commit block, no ops)."""

    seq: int
    did: str
    blocks: Annotated[bytes, msgspec.Meta(max_length=MAX_SYNC_BLOCKS)]
    rev: str
    time: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        text(self.time, "time", check=is_datetime, fmt="datetime")


class Identity(LexObject):
    """``#identity``: the account's identity (handle, DID document) may have changed."""

    seq: int
    did: str
    time: str
    handle: str | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        text(self.time, "time", check=is_datetime, fmt="datetime")
        if self.handle is not msgspec.UNSET:
            text(self.handle, "handle", check=is_handle, fmt="handle")


class Account(LexObject):
    """``#account``: the account's hosting status changed."""

    seq: int
    did: str
    time: str
    active: bool
    status: str | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        text(self.time, "time", check=is_datetime, fmt="datetime")


class Info(LexObject):
    """``#info``: an informational message from the server (``OutdatedCursor``...)."""

    name: str
    message: str | msgspec.UnsetType = msgspec.UNSET


MESSAGES: dict[str, type[LexObject]] = {
    "#commit": Commit,
    "#sync": Sync,
    "#identity": Identity,
    "#account": Account,
    "#info": Info,
}
