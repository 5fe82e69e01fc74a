"""Record writes to a hosted repository: who may write to it (:func:`own_repo`), a batch of
writes as one signed commit with its blob references and ``#commit`` event
(:func:`commit_writes`), and that commit through the group-commit writer (:func:`apply`,
and :func:`put_record` / :func:`delete_record`, which decide the write from what is stored).

Only the account itself, active, writes to its repository, as the reference checks; the
refusals are :class:`RepoWriteRefusedError` (:mod:`strato.pds.routes.errors` answers them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strato import CID, dagcbor
from strato.crypto import PrivateKey
from strato.errors import AccountNotFoundError
from strato.firehose.messages import commit_message
from strato.pds.accounts import AccountStatus
from strato.pds.blobs.refs import blob_refs
from strato.pds.context import PdsContext
from strato.repo import CommitData, Create, Delete, Update, Write
from strato.repo.writes import SwapRecord
from strato.storage import WriteTxn


class RepoWriteRefusedError(Exception):
    """A write to a repository the requester may not write to."""


class WriteAccountNotFoundError(RepoWriteRefusedError):
    """The named repository is not an account hosted here."""


class WriteAccountTakendownError(RepoWriteRefusedError):
    """The named repository's account is taken down."""


class WriteAccountDeactivatedError(RepoWriteRefusedError):
    """The named repository's account is deactivated."""


class NotOwnRepoError(RepoWriteRefusedError):
    """The named repository is another account's."""


def own_repo(ctx: PdsContext, requester: str, repo: str) -> str:
    """The DID of ``repo`` (a DID or handle) when it is ``requester``'s own active repository;
    raises a :class:`RepoWriteRefusedError` otherwise."""
    try:
        account = ctx.accounts.resolve(repo)
    except AccountNotFoundError:
        raise WriteAccountNotFoundError("Account not found") from None
    status = account.status
    if status is AccountStatus.TAKENDOWN:
        raise WriteAccountTakendownError("Account has been taken down")
    if status is AccountStatus.DEACTIVATED:
        raise WriteAccountDeactivatedError("Account is deactivated")
    if account.did != requester:
        raise NotOwnRepoError("Only the account itself may write to its repository")
    return requester


def commit_writes(
    ctx: PdsContext,
    txn: WriteTxn,
    did: str,
    writes: Sequence[Write],
    key: PrivateKey,
    *,
    swap_commit: CID | None,
) -> CommitData:
    """Inside the writer's ``txn``: ``writes`` as one commit of ``did``'s repository signed
    with ``key``, the blob references of its records, and its ``#commit`` event."""
    commit = ctx.repos.apply_writes(txn, did, writes, key, swap_commit=swap_commit)
    for write, result in zip(writes, commit.results, strict=True):
        refs = [] if isinstance(write, Delete) else blob_refs(write.value)
        ctx.blobs.set_record_blobs(txn, did, result.path, refs, commit.rev)
    ctx.sequencer.append(txn, [commit_message(commit)])
    return commit


async def apply(
    ctx: PdsContext, did: str, writes: list[Write], *, swap_commit: CID | None = None
) -> CommitData:
    """Apply ``writes`` to ``did``'s repository as one commit (:func:`commit_writes`) in the
    next group transaction; returns once durable."""
    key = ctx.keys.signing_key(did)
    return await ctx.writer.submit(
        lambda txn: commit_writes(ctx, txn, did, writes, key, swap_commit=swap_commit)
    )


async def put_record(
    ctx: PdsContext,
    did: str,
    collection: str,
    rkey: str,
    value: dict[str, Any],
    *,
    swap_record: SwapRecord,
    swap_commit: CID | None,
) -> tuple[CID, CommitData | None]:
    """Create or update the record at ``collection``/``rkey`` of ``did``'s repository with
    ``value`` as one commit; returns the record's CID and the commit, None (no commit) when
    the record stored there is already ``value``, as the reference answers."""
    cid = CID.compute(dagcbor.encode(value))
    key = ctx.keys.signing_key(did)

    def work(txn: WriteTxn) -> CommitData | None:
        current = ctx.repos.get_record(txn, did, collection, rkey)
        if current is not None and current.cid == cid:
            return None
        write: Write
        if current is None:
            write = Create(collection, value, rkey, swap_record)
        else:
            write = Update(collection, rkey, value, swap_record)
        return commit_writes(ctx, txn, did, [write], key, swap_commit=swap_commit)

    return cid, await ctx.writer.submit(work)


async def delete_record(
    ctx: PdsContext,
    did: str,
    collection: str,
    rkey: str,
    *,
    swap_record: SwapRecord,
    swap_commit: CID | None,
) -> CommitData | None:
    """Delete the record at ``collection``/``rkey`` of ``did``'s repository as one commit;
    None, and no commit, when there is none (a no-op, as the reference does)."""
    key = ctx.keys.signing_key(did)

    def work(txn: WriteTxn) -> CommitData | None:
        if ctx.repos.get_record(txn, did, collection, rkey) is None:
            return None
        write = Delete(collection, rkey, swap_record)
        return commit_writes(ctx, txn, did, [write], key, swap_commit=swap_commit)

    return await ctx.writer.submit(work)
