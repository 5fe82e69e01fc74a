"""``com.atproto.sync.*`` reads on the relay, from its account states: getRepoStatus,
listRepos, getLatestCommit, listReposByCollection, and getRepo as a redirect to the account's
PDS (the relay keeps no repositories). ``subscribeRepos`` is served by :mod:`strato.firehose`.

Statuses are the relay's combined ones (:attr:`strato.relay.accounts.AccountState.status`):
a throttled or desynchronized account is listed as such, never silently missing. The reads
are :mod:`strato.relay.sync_reads`'s.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from strato import CID
from strato.relay import sync_reads
from strato.relay.context import RelayContext
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.errors import XrpcError
from strato.xrpc.types import sync as types

UNSET: Any = types.UNSET
#: getLatestCommit's errors for an account that is not active (the lexicon's names).
INACTIVE_ERRORS: Final = {
    "takendown": "RepoTakendown",
    "suspended": "RepoSuspended",
    "deactivated": "RepoDeactivated",
}


def register(router: XrpcRouter, ctx: RelayContext) -> None:
    """Add this namespace's methods to ``router``."""

    @router.method("com.atproto.sync.getRepoStatus")
    async def get_repo_status(
        request: XrpcRequest[types.RepoParams, None],
    ) -> types.GetRepoStatusOutput:
        state = sync_reads.account(ctx, request.params.did)
        return types.GetRepoStatusOutput(
            did=state.did,
            active=state.active,
            status=UNSET if state.status is None else state.status,
            rev=state.rev if state.active and state.rev is not None else UNSET,
        )

    @router.method("com.atproto.sync.getLatestCommit")
    async def get_latest_commit(
        request: XrpcRequest[types.RepoParams, None],
    ) -> types.GetLatestCommitOutput:
        state = sync_reads.account(ctx, request.params.did)
        status = state.status
        if status in INACTIVE_ERRORS:
            raise XrpcError(400, INACTIVE_ERRORS[status], f"Repo is {status}: {state.did}")
        if state.head is None or state.rev is None:
            raise XrpcError(400, "RepoNotFound", f"No commit seen yet for {state.did}")
        return types.GetLatestCommitOutput(cid=CID.decode(state.head).encode(), rev=state.rev)

    @router.method("com.atproto.sync.listRepos")
    async def list_repos(
        request: XrpcRequest[types.ListReposParams, None],
    ) -> types.ListReposOutput:
        params = request.params
        after = params.cursor if isinstance(params.cursor, str) else None
        page = sync_reads.list_repos(ctx, after=after, limit=params.limit)
        repos = [
            types.ListedRepo(
                did=repo.did,
                head=repo.head.encode(),
                rev=repo.rev,
                active=repo.status is None,
                status=UNSET if repo.status is None else repo.status,
            )
            for repo in page.repos
        ]
        return types.ListReposOutput(
            repos=repos, cursor=UNSET if page.cursor is None else page.cursor
        )

    @router.method("com.atproto.sync.listReposByCollection")
    async def list_repos_by_collection(
        request: XrpcRequest[types.ListReposByCollectionParams, None],
    ) -> types.ListReposByCollectionOutput:
        params = request.params
        after = params.cursor if isinstance(params.cursor, str) else None
        dids = sync_reads.repos_with_collection(
            ctx, params.collection, after=after, limit=params.limit
        )
        return types.ListReposByCollectionOutput(
            repos=[types.CollectionRepo(did=did) for did in dids],
            cursor=dids[-1] if len(dids) >= params.limit else UNSET,
        )

    @router.method("com.atproto.sync.getRepo")
    async def get_repo(request: XrpcRequest[types.GetRepoParams, None]) -> Response:
        state = sync_reads.account(ctx, request.params.did)
        host = sync_reads.host_of(ctx, state)
        query = {"did": state.did}
        if isinstance(request.params.since, str):
            query["since"] = request.params.since
        target = f"{host.http_url}/xrpc/com.atproto.sync.getRepo?{urlencode(query)}"
        return RedirectResponse(target, status_code=302)
