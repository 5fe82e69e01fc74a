"""``com.atproto.repo.*`` record reads on the PDS: getRecord, listRecords and describeRepo,
public (no auth), as the reference serves them."""

from __future__ import annotations

from typing import Any

import msgspec

from strato import dagcbor
from strato.errors import IdentityError
from strato.pds.accounts import AccountStatus
from strato.pds.context import PdsContext
from strato.pds.routes.common import hosted_account, require_active
from strato.repo import RecordData
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.errors import invalid_request
from strato.xrpc.types import repo as types

UNSET: Any = types.UNSET
#: The handle describeRepo reports for an account without a valid one (the reference's).
INVALID_HANDLE = "handle.invalid"


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the read methods of this namespace to ``router``."""

    @router.method("com.atproto.repo.getRecord")
    async def get_record(
        request: XrpcRequest[types.GetRecordParams, None],
    ) -> types.GetRecordOutput:
        params = request.params
        account = hosted_account(ctx, params.repo)
        uri = f"at://{account.did}/{params.collection}/{params.rkey}"
        if _taken_down(ctx, account.did):
            raise invalid_request(f"Could not locate record: {uri}", "RecordNotFound")
        with ctx.store.read() as txn:
            record = ctx.repos.get_record(txn, account.did, params.collection, params.rkey)
        if record is None or (isinstance(params.cid, str) and record.cid.encode() != params.cid):
            raise invalid_request(f"Could not locate record: {uri}", "RecordNotFound")
        return types.GetRecordOutput(uri=uri, cid=record.cid.encode(), value=_json(record))

    @router.method("com.atproto.repo.listRecords")
    async def list_records(
        request: XrpcRequest[types.ListRecordsParams, None],
    ) -> types.ListRecordsOutput:
        params = request.params
        account = hosted_account(ctx, params.repo)
        if _taken_down(ctx, account.did):
            raise invalid_request(f"Could not find repo: {params.repo}")
        cursor = params.cursor if isinstance(params.cursor, str) else None
        with ctx.store.read() as txn:
            page = ctx.repos.list_records(
                txn, account.did, params.collection, limit=params.limit, cursor=cursor,
                reverse=params.reverse is True,
            )  # fmt: skip
        records = [
            types.ListedRecord(
                uri=f"at://{account.did}/{record.collection}/{record.rkey}",
                cid=record.cid.encode(),
                value=_json(record),
            )
            for record in page.records
        ]
        # the reference's cursor: the last record key of any non-empty page
        last = page.records[-1].rkey if page.records else UNSET
        return types.ListRecordsOutput(records=records, cursor=last)

    @router.method("com.atproto.repo.describeRepo")
    async def describe_repo(
        request: XrpcRequest[types.DescribeRepoParams, None],
    ) -> types.DescribeRepoOutput:
        account = hosted_account(ctx, request.params.repo)
        require_active(ctx, account)
        try:
            doc = await ctx.identity.resolve_did(account.did)
            raw_doc = msgspec.json.decode(await ctx.identity.resolve_did_json(account.did))
        except IdentityError as err:
            raise invalid_request(f"Could not resolve DID: {err}") from None
        with ctx.store.read() as txn:
            collections = ctx.repos.collections(txn, account.did)
        return types.DescribeRepoOutput(
            handle=account.handle or INVALID_HANDLE,
            did=account.did,
            did_doc=raw_doc,  # the document as its method serves it, @context and all
            collections=collections,
            handle_is_correct=doc.declared_handle() == account.handle,
        )


def _taken_down(ctx: PdsContext, did: str) -> bool:
    """The reference's record reads treat a taken-down account as not hosted here."""
    return ctx.accounts.status(did) is AccountStatus.TAKENDOWN


def _json(record: RecordData) -> dict[str, Any]:
    value: dict[str, Any] = dagcbor.to_json(dagcbor.decode(record.value))
    return value
