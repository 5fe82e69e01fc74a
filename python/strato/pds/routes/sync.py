"""``com.atproto.sync.*`` repository reads on the PDS: getRepo (the whole repository, or the
diff ``since`` a rev, as a streamed CAR), getRecord (a record with its proof), getBlocks,
getLatestCommit, getRepoStatus and listRepos. Blobs are in :mod:`.sync_blobs`; the firehose
(``subscribeRepos``) is served by :mod:`strato.firehose`.

As the reference does, these are public but refuse a taken-down or deactivated repository
(400 ``RepoTakendown`` / ``RepoDeactivated``) unless the account itself (an access token) or
the admin asks; an unknown DID is 400 ``RepoNotFound``. The reads themselves, each in its own
transaction, are :mod:`strato.pds.sync_reads`'s.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from strato import CID
from strato.errors import AccountNotFoundError
from strato.pds import sync_reads
from strato.pds.accounts import Account, AccountStatus
from strato.pds.context import PdsContext
from strato.pds.routes.common import require_active
from strato.pds.streaming import thread_stream
from strato.xrpc import RateLimit, RouteLimit, XrpcRequest, XrpcRouter
from strato.xrpc.auth import (
    ACCESS_STANDARD,
    AccessCredentials,
    AdminCredentials,
    AuthScope,
    Credentials,
    Verifier,
    authorization,
)
from strato.xrpc.errors import invalid_request
from strato.xrpc.types import sync as types

UNSET: Any = types.UNSET
CAR: Final = "application/vnd.ipld.car"
#: getRepo has its own limit per client address instead of the global one (the reference's).
GET_REPO_LIMIT: Final = RateLimit("get-repo", 6000, 300.0)
GLOBAL_EXEMPT: Final = frozenset({"com.atproto.sync.getRepo"})


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the repository methods of this namespace to ``router``."""
    auth = viewer(ctx)

    @router.method("com.atproto.sync.getRepo", auth=auth, limits=[RouteLimit(GET_REPO_LIMIT)])
    async def get_repo(request: XrpcRequest[types.GetRepoParams, None]) -> Response:
        did = available(ctx, request, request.params.did).did
        since = request.params.since if isinstance(request.params.since, str) else None
        sync_reads.latest(ctx, did)
        export = partial(sync_reads.export, ctx, did, since=since)
        return StreamingResponse(thread_stream(export), media_type=CAR)

    @router.method("com.atproto.sync.getRecord", auth=auth)
    async def get_record(request: XrpcRequest[types.GetRecordParams, None]) -> Response:
        params = request.params
        did = available(ctx, request, params.did).did
        data = sync_reads.record_proof(ctx, did, params.collection, params.rkey)
        return Response(data, media_type=CAR)

    @router.method("com.atproto.sync.getBlocks", auth=auth)
    async def get_blocks(request: XrpcRequest[types.GetBlocksParams, None]) -> Response:
        did = available(ctx, request, request.params.did).did
        cids = [CID.decode(cid) for cid in request.params.cids]
        return Response(sync_reads.blocks(ctx, did, cids), media_type=CAR)

    @router.method("com.atproto.sync.getLatestCommit", auth=auth)
    async def get_latest_commit(
        request: XrpcRequest[types.RepoParams, None],
    ) -> types.GetLatestCommitOutput:
        did = available(ctx, request, request.params.did).did
        head = sync_reads.latest(ctx, did)
        return types.GetLatestCommitOutput(cid=head.commit.encode(), rev=head.rev)

    @router.method("com.atproto.sync.getRepoStatus")
    async def get_repo_status(
        request: XrpcRequest[types.RepoParams, None],
    ) -> types.GetRepoStatusOutput:
        account = available(ctx, request, request.params.did, always=True)
        status = account.status
        active = status is AccountStatus.ACTIVE
        rev: Any = sync_reads.latest(ctx, account.did).rev if active else UNSET
        return types.GetRepoStatusOutput(
            did=account.did, active=active, status=UNSET if active else str(status), rev=rev
        )

    @router.method("com.atproto.sync.listRepos")
    async def list_repos(
        request: XrpcRequest[types.ListReposParams, None],
    ) -> types.ListReposOutput:
        params = request.params
        cursor = params.cursor if isinstance(params.cursor, str) else None
        page = sync_reads.list_repos(ctx, cursor=cursor, limit=params.limit)
        repos = [
            types.ListedRepo(
                did=repo.did,
                head=repo.head.commit.encode(),
                rev=repo.head.rev,
                active=repo.status is AccountStatus.ACTIVE,
                status=UNSET if repo.status is AccountStatus.ACTIVE else str(repo.status),
            )
            for repo in page.repos
        ]
        return types.ListReposOutput(
            repos=repos, cursor=UNSET if page.cursor is None else page.cursor
        )


def viewer(ctx: PdsContext) -> Verifier:
    """Optional credentials: the admin's (HTTP Basic) or an access token's (a taken-down
    account's included), none without an Authorization header."""
    access = ctx.auth.optional_access(ACCESS_STANDARD | {AuthScope.TAKENDOWN})
    admin = ctx.auth.admin()

    async def verify(request: Request, nsid: str) -> Credentials:
        parsed = authorization(request)
        if parsed is not None and parsed[0] == "BASIC":
            return await admin(request, nsid)
        return await access(request, nsid)

    return Verifier(verify, access.accepts | admin.accepts, access.scopes, optional=True)


def available(
    ctx: PdsContext, request: XrpcRequest[Any, Any], did: str, *, always: bool = False
) -> Account:
    """The hosted account of ``did`` if its repository may be served to this requester
    (``always``: whatever its status)."""
    try:
        account = ctx.accounts.get(did)
    except AccountNotFoundError:
        raise invalid_request(f"Could not find repo for DID: {did}", "RepoNotFound") from None
    credentials = request.auth
    if always or isinstance(credentials, AdminCredentials):
        return account
    if isinstance(credentials, AccessCredentials) and credentials.did == did:
        return account
    require_active(ctx, account)
    return account
