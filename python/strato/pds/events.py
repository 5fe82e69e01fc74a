"""The PDS's firehose events: what each ``com.atproto.sync.subscribeRepos`` message carries,
appended to the event log inside the transaction that makes the change.

- :func:`append_commit`: ``#commit`` for a signed commit, with the sync 1.1 fields
  (``prevData``, the ops' ``prev``, the proof blocks already in :class:`CommitData`'s slice);
- :func:`append_sync`: ``#sync`` (the repository's state was reset: an import, a new account's
  first commit is a ``#commit`` instead, as the reference emits);
- :func:`append_identity`: ``#identity`` (a handle or DID document change);
- :func:`append_account`: ``#account`` (activation, deactivation, takedown, deletion).

Each takes the caller's write transaction and the :class:`~strato.firehose.Sequencer`; the
frame is encoded once, here, and served as these bytes to every subscriber.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from strato.firehose import Sequencer, encode_message
from strato.pds.accounts import AccountStatus
from strato.repo.writes import CommitData
from strato.storage import WriteTxn


def now_iso() -> str:
    """The current time as the datetime format events carry (UTC, milliseconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def append_commit(txn: WriteTxn, sequencer: Sequencer, commit: CommitData) -> int:
    """Append the ``#commit`` of ``commit``; returns its seq."""
    ops: list[dict[str, Any]] = []
    for op in commit.ops:
        entry: dict[str, Any] = {"action": op.action, "path": op.path, "cid": op.cid}
        if op.prev is not None:
            entry["prev"] = op.prev
        ops.append(entry)
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
    return sequencer.append(txn, lambda seq: encode_message("#commit", {"seq": seq, **body}))


def append_sync(txn: WriteTxn, sequencer: Sequencer, did: str, rev: str, blocks: bytes) -> int:
    """Append a ``#sync`` for ``did`` at ``rev``: ``blocks`` is a CAR holding just the signed
    commit (:meth:`strato.repo.RepoStore.commit_car`)."""
    body = {"did": did, "blocks": blocks, "rev": rev, "time": now_iso()}
    return sequencer.append(txn, lambda seq: encode_message("#sync", {"seq": seq, **body}))


def append_identity(
    txn: WriteTxn, sequencer: Sequencer, did: str, handle: str | None = None
) -> int:
    """Append an ``#identity`` for ``did`` (with its current ``handle``, when it has one)."""
    body: dict[str, Any] = {"did": did, "time": now_iso()}
    if handle is not None:
        body["handle"] = handle
    return sequencer.append(txn, lambda seq: encode_message("#identity", {"seq": seq, **body}))


def append_account(txn: WriteTxn, sequencer: Sequencer, did: str, status: AccountStatus) -> int:
    """Append an ``#account`` for ``did`` with hosting ``status`` (``active: false`` and the
    status for anything but active)."""
    body: dict[str, Any] = {"did": did, "time": now_iso(), "active": status is AccountStatus.ACTIVE}
    if status is not AccountStatus.ACTIVE:
        body["status"] = str(status)
    return sequencer.append(txn, lambda seq: encode_message("#account", {"seq": seq, **body}))
