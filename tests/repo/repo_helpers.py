"""Shared by the repository store tests: a ``#commit`` payload from CommitData, record values,
and the exact set of blocks a repository must hold."""

from __future__ import annotations

from typing import Any

from strato import CID, car
from strato.repo import CommitData, mst
from strato.repo.commit import decode_commit

DID = "did:plc:repostoretest00000000000"
OTHER = "did:plc:repostoreother0000000000"
POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"


def post(text: str, **extra: Any) -> dict[str, Any]:
    return {"$type": POST, "text": text, "createdAt": "2026-11-24T00:00:00.000Z", **extra}


def event(commit: CommitData, seq: int = 1) -> dict[str, Any]:
    """The ``#commit`` payload a PDS would send for ``commit``."""
    payload: dict[str, Any] = {
        "seq": seq,
        "rebase": False,
        "tooBig": False,
        "repo": commit.did,
        "commit": commit.commit,
        "rev": commit.rev,
        "since": commit.since,
        "blocks": commit.blocks,
        "ops": [
            {"action": op.action, "path": op.path, "cid": op.cid}
            | ({} if op.prev is None else {"prev": op.prev})
            for op in commit.ops
        ],
        "blobs": [],
        "time": "2026-11-24T00:00:00.000Z",
    }
    if commit.prev_data is not None:
        payload["prevData"] = commit.prev_data
    return payload


def reachable(export: bytes) -> tuple[set[CID], set[CID]]:
    """The CIDs in an export CAR, and the CIDs its commit reaches (commit, nodes, records)."""
    roots, blocks = car.read_car(export)
    commit = decode_commit(blocks[roots[0]])
    nodes = mst.diff(blocks, None, commit.data).new_nodes
    records = {cid for _, cid in mst.items(blocks, commit.data)}
    return set(blocks), {roots[0], *nodes, *records}
