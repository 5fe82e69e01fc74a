"""``com.atproto.repo.*`` record reads on the PDS: getRecord, listRecords and describeRepo,
public (no auth), as the reference serves them, from :mod:`strato.pds.repo_reads`."""

from __future__ import annotations

from typing import Any

import msgspec

from strato import dagcbor
from strato.errors import IdentityError
from strato.pds import repo_reads
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
        cid = params.cid if isinstance(params.cid, str) else None
        record = repo_reads.get_record(ctx, account.did, params.collection, params.rkey, cid=cid)
        if record is None:
            raise invalid_request(f"Could not locate record: {uri}", "RecordNotFound")
        return types.GetRecordOutput(uri=uri, cid=record.cid.encode(), value=_json(record))

    @router.method("com.atproto.repo.listRecords")
    async def list_records(
        request: XrpcRequest[types.ListRecordsParams, None],
    ) -> types.ListRecordsOutput:
        params = request.params
        account = hosted_account(ctx, params.repo)
        cursor = params.cursor if isinstance(params.cursor, str) else None
        page = repo_reads.list_records(
            ctx, account.did, params.collection, limit=params.limit, cursor=cursor,
            reverse=params.reverse is True,
        )  # fmt: skip
        if page is None:
            raise invalid_request(f"Could not find repo: {params.repo}")
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
        collections = repo_reads.collections(ctx, account.did)
        return types.DescribeRepoOutput(
            handle=account.handle or INVALID_HANDLE,
            did=account.did,
            did_doc=raw_doc,  # the document as its method serves it, @context and all
            collections=collections,
            handle_is_correct=doc.declared_handle() == account.handle,
        )


def _json(record: RecordData) -> dict[str, Any]:
    value: dict[str, Any] = dagcbor.to_json(dagcbor.decode(record.value))
    return value
