"""``com.atproto.repo.*`` on the PDS: record writes as signed commits, and record reads.

A write goes through the group-commit writer: the batch becomes one commit, and the commit's
``#commit`` event is appended in the same transaction; the answer waits until it is durable.
Only the account itself (an access token for its DID) writes to its repository.
"""

from __future__ import annotations

from typing import Any

from strato import CID, dagcbor
from strato.pds import events
from strato.pds.context import PdsContext
from strato.pds.records import record_value, validate
from strato.pds.routes.common import hosted_account, requester, xrpc_errors
from strato.repo import CommitData, Create, Write
from strato.storage import WriteTxn
from strato.syntax import TID
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.errors import forbidden, invalid_request
from strato.xrpc.types import repo as types

UNSET: Any = types.UNSET


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the methods of this namespace to ``router``."""

    @router.method("com.atproto.repo.createRecord", auth=ctx.auth.access())
    async def create_record(
        request: XrpcRequest[None, types.CreateRecordInput],
    ) -> types.CreateRecordOutput:
        body = request.input
        did = own_repo(ctx, request, body.repo)
        rkey = body.rkey if isinstance(body.rkey, str) else str(TID.next())
        value = record_value(body.record)
        status = validate(ctx.catalog, body.collection, rkey, value, _flag(body.validate))
        write = Create(body.collection, value, rkey)
        commit = await apply(ctx, did, [write], swap_commit=_swap(body.swap_commit))
        result = commit.results[0]
        assert result.cid is not None
        return types.CreateRecordOutput(
            uri=f"at://{did}/{body.collection}/{rkey}",
            cid=result.cid.encode(),
            commit=types.CommitMeta(cid=commit.commit.encode(), rev=commit.rev),
            validation_status=status if status is not None else UNSET,
        )

    @router.method("com.atproto.repo.getRecord")
    async def get_record(
        request: XrpcRequest[types.GetRecordParams, None],
    ) -> types.GetRecordOutput:
        params = request.params
        account = hosted_account(ctx, params.repo)
        with xrpc_errors(), ctx.store.read() as txn:
            record = ctx.repos.get_record(txn, account.did, params.collection, params.rkey)
        uri = f"at://{account.did}/{params.collection}/{params.rkey}"
        if record is None or (isinstance(params.cid, str) and record.cid.encode() != params.cid):
            raise invalid_request(f"Could not locate record: {uri}", "RecordNotFound")
        return types.GetRecordOutput(
            uri=uri, cid=record.cid.encode(), value=dagcbor.to_json(dagcbor.decode(record.value))
        )


def own_repo(ctx: PdsContext, request: XrpcRequest[Any, Any], repo: str) -> str:
    """The DID of ``repo`` when it is the requester's own (403 otherwise)."""
    did = requester(request)
    account = hosted_account(ctx, repo)
    if account.did != did:
        raise forbidden("Invalid repo: only the account itself may write to its repository")
    return did


async def apply(
    ctx: PdsContext, did: str, writes: list[Write], *, swap_commit: CID | None = None
) -> CommitData:
    """Apply ``writes`` to ``did``'s repository as one commit with its ``#commit`` event, in
    the next group transaction; returns once durable."""
    key = ctx.keys.signing_key(did)

    def work(txn: WriteTxn) -> CommitData:
        commit = ctx.repos.apply_writes(txn, did, writes, key, swap_commit=swap_commit)
        events.append_commit(txn, ctx.sequencer, commit)
        return commit

    with xrpc_errors():
        return await ctx.writer.submit(work)


def _flag(value: bool | Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _swap(value: str | Any) -> CID | None:
    if not isinstance(value, str):
        return None
    try:
        return CID.decode(value)
    except ValueError:
        raise invalid_request(f"swapCommit is not a CID: {value}") from None
