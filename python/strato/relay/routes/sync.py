"""``com.atproto.sync.*`` reads on the relay, from its account states: getRepoStatus,
listRepos, getLatestCommit, listReposByCollection, and getRepo as a redirect to the account's
PDS (the relay keeps no repositories). ``subscribeRepos`` is served by :mod:`strato.firehose`.

Statuses are the relay's combined ones (:attr:`strato.relay.accounts.AccountState.status`):
a throttled or desynchronized account is listed as such, never silently missing.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from strato import CID
from strato.relay.accounts import AccountState
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
        state = known(ctx, request.params.did)
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
        state = known(ctx, request.params.did)
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
        repos = []
        last = None
        with ctx.store.read() as txn:
            for state in ctx.accounts.all(txn, after=after):
                last = state.did
                if state.head is not None and state.rev is not None:
                    repos.append(
                        types.ListedRepo(
                            did=state.did,
                            head=CID.decode(state.head).encode(),
                            rev=state.rev,
                            active=state.active,
                            status=UNSET if state.status is None else state.status,
                        )
                    )
                if len(repos) >= params.limit:
                    break
        full = len(repos) >= params.limit
        return types.ListReposOutput(repos=repos, cursor=last if full and last else UNSET)

    @router.method("com.atproto.sync.listReposByCollection")
    async def list_repos_by_collection(
        request: XrpcRequest[types.ListReposByCollectionParams, None],
    ) -> types.ListReposByCollectionOutput:
        params = request.params
        after = params.cursor if isinstance(params.cursor, str) else None
        with ctx.store.read() as txn:
            dids = ctx.accounts.repos_with_collection(
                txn, params.collection, after=after, limit=params.limit
            )
        return types.ListReposByCollectionOutput(
            repos=[types.CollectionRepo(did=did) for did in dids],
            cursor=dids[-1] if len(dids) >= params.limit else UNSET,
        )

    @router.method("com.atproto.sync.getRepo")
    async def get_repo(request: XrpcRequest[types.GetRepoParams, None]) -> Response:
        state = known(ctx, request.params.did)
        host = ctx.hosts.get_by_id(None, state.host_id)
        if host is None:
            raise XrpcError(400, "RepoNotFound", f"Could not find repo for DID: {state.did}")
        query = {"did": state.did}
        if isinstance(request.params.since, str):
            query["since"] = request.params.since
        target = f"{host.http_url}/xrpc/com.atproto.sync.getRepo?{urlencode(query)}"
        return RedirectResponse(target, status_code=302)


def known(ctx: RelayContext, did: str) -> AccountState:
    """The account's state, or 400 ``RepoNotFound``."""
    state = ctx.accounts.get(None, did)
    if state is None:
        raise XrpcError(400, "RepoNotFound", f"Could not find repo for DID: {did}")
    return state
