"""The ``com.atproto.sync.subscribeRepos`` messages a service originates, each as a
:data:`FrameBuilder`: the frame's bytes once the event log has assigned the seq.

- :func:`commit_message`: ``#commit`` for a signed commit, with the sync 1.1 fields
  (``prevData``, the ops' ``prev``, the proof blocks already in :class:`CommitData`'s slice);
- :func:`sync_message`: ``#sync`` (the repository's state was reset, or a relay resynced it:
  ``blocks`` is a CAR holding just the signed commit);
- :func:`identity_message`: ``#identity`` (a handle or DID document change);
- :func:`account_message`: ``#account`` (activation, deactivation, takedown, deletion);
- :data:`OUTDATED_CURSOR_FRAME`: the ``#info`` a subscriber whose cursor is older than the
  log's window gets first.

The payload is built when the builder is made (its ``time`` is then) and encoded once, with its
seq, inside the transaction that appends it (:meth:`strato.firehose.log.EventLog.append`);
those bytes are what every subscriber is sent. Error frames are
:func:`strato.firehose.frames.encode_error`; messages received from another service are
:mod:`strato.firehose.upstream`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

from strato.firehose.frames import encode_message
from strato.firehose.log import FrameBuilder
from strato.repo.mst import RecordOp
from strato.repo.writes import CommitData


def now_iso() -> str:
    """The current time as the datetime format events carry (UTC, milliseconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _message(t: str, body: dict[str, Any]) -> FrameBuilder:
    return lambda seq: encode_message(t, {"seq": seq, **body})


def commit_ops(ops: Iterable[RecordOp]) -> list[dict[str, Any]]:
    """A ``#commit``'s ``ops``: each change with its action, path, new CID and, when it had
    one, the previous CID (sync 1.1)."""
    out: list[dict[str, Any]] = []
    for op in ops:
        entry: dict[str, Any] = {"action": op.action, "path": op.path, "cid": op.cid}
        if op.prev is not None:
            entry["prev"] = op.prev
        out.append(entry)
    return out


def commit_message(commit: CommitData) -> FrameBuilder:
    """The ``#commit`` of ``commit``."""
    ops = commit_ops(commit.ops)
    body: dict[str, Any] = {
        "rebase": False,
        "tooBig": False,
        "repo": commit.did,
        "commit": commit.commit,
        "rev": commit.rev,
        "since": commit.since,
        "blocks": commit.blocks,
        "ops": ops,
        # deprecated by sync 1.1 and always empty from the reference PDS; consumers read the
        # blobs from the records themselves
        "blobs": [],
        "time": now_iso(),
    }
    if commit.prev_data is not None:
        body["prevData"] = commit.prev_data
    return _message("#commit", body)


def sync_message(did: str, rev: str, blocks: bytes) -> FrameBuilder:
    """A ``#sync`` for ``did`` at ``rev``: ``blocks`` is a CAR holding just the signed commit
    (:meth:`strato.repo.RepoStore.commit_car`)."""
    return _message("#sync", {"did": did, "blocks": blocks, "rev": rev, "time": now_iso()})


def identity_message(did: str, handle: str | None = None) -> FrameBuilder:
    """An ``#identity`` for ``did`` (with its current ``handle``, when it has one)."""
    body: dict[str, Any] = {"did": did, "time": now_iso()}
    if handle is not None:
        body["handle"] = handle
    return _message("#identity", body)


def account_message(did: str, status: str | None) -> FrameBuilder:
    """An ``#account`` for ``did`` with hosting ``status``: None is ``active: true``; any other
    status (``deactivated``, ``takendown``, ``deleted``, a relay's ``throttled``...) is
    ``active: false`` and the status."""
    body: dict[str, Any] = {"did": did, "time": now_iso(), "active": status is None}
    if status is not None:
        body["status"] = status
    return _message("#account", body)


OUTDATED_CURSOR_FRAME: Final = encode_message(
    "#info",
    {
        "name": "OutdatedCursor",
        "message": "Requested cursor exceeded limit. Possibly missing events",
    },
)
