"""``com.atproto.repo.*`` record writes on the PDS: createRecord, putRecord, deleteRecord and
applyWrites, each batch one signed commit (:mod:`strato.pds.repo_writes`).

A write goes through the group-commit writer: in one nested transaction the batch becomes a
commit, the blobs its records reference are recorded (a reference to a blob never uploaded is
refused, nothing written), and the commit's ``#commit`` event is appended; the answer waits
until it is durable. Only the account itself (an access token for its DID), active, writes to
its repository, as the reference checks (the requester's account in the verifier, the named
repository's in :func:`~strato.pds.repo_writes.own_repo`): an unknown repo is 403
``AccountNotFound``, a taken down or deactivated one 401 ``AccountTakedown`` /
``AccountDeactivated``, another account's 401 ``AuthenticationRequired``.

The reads are in :mod:`.repo_read`, blobs and imports in :mod:`.repo_blobs`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

from strato import CID
from strato.pds import repo_writes
from strato.pds.context import PdsContext
from strato.pds.records import record_value, validate
from strato.pds.repo_writes import apply, own_repo
from strato.pds.routes.common import requester
from strato.repo import CommitData, Create, Delete, Update, Write
from strato.repo.writes import MAX_WRITES, UNCHECKED, SwapRecord
from strato.syntax import TID
from strato.xrpc import RateLimit, RouteLimit, XrpcRequest, XrpcRouter, by_account
from strato.xrpc.errors import invalid_request
from strato.xrpc.types import repo as types

UNSET: Any = types.UNSET
#: The JSON body limit of the methods that carry records (the reference's).
RECORD_JSON_LIMIT: Final = 1_000_000
#: The reference's write limits per account, shared by the write methods: a create costs 3
#: points, an update 2, a delete 1.
WRITE_LIMITS: Final = (
    RateLimit("repo-write-hour", 5000, 3600.0),
    RateLimit("repo-write-day", 35000, 86400.0),
)
_POINTS: Final[dict[type[Any], int]] = {types.Create: 3, types.Update: 2, types.Delete: 1}


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the write methods of this namespace to ``router``."""
    auth = ctx.auth.access(check_takedown=True, check_deactivated=True)
    for nsid, handler, limit, cost in (
        ("com.atproto.repo.createRecord", create_record, RECORD_JSON_LIMIT, _costs(3)),
        ("com.atproto.repo.putRecord", put_record, RECORD_JSON_LIMIT, _costs(2)),
        ("com.atproto.repo.deleteRecord", delete_record, None, _costs(1)),
        ("com.atproto.repo.applyWrites", apply_writes, RECORD_JSON_LIMIT, _batch_cost),
    ):
        limits = [RouteLimit(window, by_account, cost) for window in WRITE_LIMITS]
        router.add(nsid, functools.partial(handler, ctx), auth=auth, max_body=limit, limits=limits)


def _costs(points: int) -> Callable[[XrpcRequest[Any, Any]], int]:
    return lambda request: points


def _batch_cost(request: XrpcRequest[Any, Any]) -> int:
    points: int = sum(_POINTS[type(write)] for write in request.input.writes)
    return points


async def create_record(
    ctx: PdsContext,
    request: XrpcRequest[None, types.CreateRecordInput],
) -> types.CreateRecordOutput:
    body = request.input
    did = own_repo(ctx, requester(request), body.repo)
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
        commit=_meta(commit),
        validation_status=_status(status),
    )


async def put_record(
    ctx: PdsContext,
    request: XrpcRequest[None, types.PutRecordInput],
) -> types.PutRecordOutput:
    body = request.input
    did = own_repo(ctx, requester(request), body.repo)
    collection, rkey = body.collection, body.rkey
    value = record_value(body.record)
    status = validate(ctx.catalog, collection, rkey, value, _flag(body.validate))
    swap_record: SwapRecord = UNCHECKED
    if body.swap_record is None or isinstance(body.swap_record, str):
        swap_record = _swap(body.swap_record, "swapRecord")
    cid, commit = await repo_writes.put_record(
        ctx, did, collection, rkey, value,
        swap_record=swap_record, swap_commit=_swap(body.swap_commit),
    )  # fmt: skip
    return types.PutRecordOutput(
        uri=f"at://{did}/{collection}/{rkey}",
        cid=cid.encode(),
        commit=UNSET if commit is None else _meta(commit),
        validation_status=_status(status),
    )


async def delete_record(
    ctx: PdsContext,
    request: XrpcRequest[None, types.DeleteRecordInput],
) -> types.DeleteRecordOutput:
    body = request.input
    did = own_repo(ctx, requester(request), body.repo)
    collection, rkey = body.collection, body.rkey
    swap_record: SwapRecord = UNCHECKED
    if isinstance(body.swap_record, str):
        swap_record = _swap(body.swap_record, "swapRecord")
    commit = await repo_writes.delete_record(
        ctx, did, collection, rkey, swap_record=swap_record, swap_commit=_swap(body.swap_commit)
    )
    return types.DeleteRecordOutput(commit=UNSET if commit is None else _meta(commit))


async def apply_writes(
    ctx: PdsContext,
    request: XrpcRequest[None, types.ApplyWritesInput],
) -> types.ApplyWritesOutput:
    body = request.input
    did = own_repo(ctx, requester(request), body.repo)
    if len(body.writes) > MAX_WRITES:
        raise invalid_request(f"Too many writes. Max: {MAX_WRITES}")
    flag = _flag(body.validate)
    writes: list[Write] = []
    statuses: list[str | None] = []
    for item in body.writes:
        if isinstance(item, types.Delete):
            writes.append(Delete(item.collection, item.rkey))
            statuses.append(None)
            continue
        rkey = item.rkey if isinstance(item.rkey, str) else str(TID.next())
        value = record_value(item.value)
        statuses.append(validate(ctx.catalog, item.collection, rkey, value, flag))
        if isinstance(item, types.Create):
            writes.append(Create(item.collection, value, rkey))
        else:
            writes.append(Update(item.collection, rkey, value))
    commit = await apply(ctx, did, writes, swap_commit=_swap(body.swap_commit))
    results: list[types.WriteResult] = []
    for result, status in zip(commit.results, statuses, strict=True):
        if result.cid is None:
            results.append(types.DeleteResult())
            continue
        kind = types.CreateResult if result.action == "create" else types.UpdateResult
        results.append(
            kind(
                uri=f"at://{did}/{result.path}",
                cid=result.cid.encode(),
                validation_status=_status(status),
            )
        )
    return types.ApplyWritesOutput(commit=_meta(commit), results=results)


def _meta(commit: CommitData) -> types.CommitMeta:
    return types.CommitMeta(cid=commit.commit.encode(), rev=commit.rev)


def _status(status: str | None) -> Any:
    return UNSET if status is None else status


def _flag(value: bool | Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _swap(value: str | Any, name: str = "swapCommit") -> CID | None:
    if not isinstance(value, str):
        return None
    try:
        return CID.decode(value)
    except ValueError:
        raise invalid_request(f"{name} is not a CID: {value}") from None
