"""The relay's account states as ``com.atproto.sync.*`` reads them: one account's state, the
page of accounts ``listRepos`` answers, the accounts with records in a collection
(``listReposByCollection``) and the host an account lives on (``getRepo`` redirects there).

An account the relay has never seen, or whose host is gone, is
:class:`~strato.relay.takedowns.UnknownAccountError` (:mod:`strato.relay.routes.errors`
answers it).
"""

from __future__ import annotations

from dataclasses import dataclass

from strato import CID
from strato.relay.accounts import AccountState
from strato.relay.context import RelayContext
from strato.relay.hosts import Host
from strato.relay.takedowns import UnknownAccountError


@dataclass(frozen=True, slots=True)
class ListedRepo:
    """An account with a verified commit: its head commit and rev, and its combined status
    (None: active)."""

    did: str
    head: CID
    rev: str
    status: str | None


@dataclass(frozen=True, slots=True)
class ReposPage:
    """A page of :func:`list_repos`; ``cursor`` (the last DID looked at) is None on the last
    page."""

    repos: list[ListedRepo]
    cursor: str | None


def account(ctx: RelayContext, did: str) -> AccountState:
    """The state of the account ``did``."""
    state = ctx.accounts.get(None, did)
    if state is None:
        raise UnknownAccountError(did)
    return state


def list_repos(ctx: RelayContext, *, after: str | None, limit: int) -> ReposPage:
    """Up to ``limit`` accounts with a verified commit, in DID order after ``after``."""
    repos = []
    last = None
    with ctx.store.read() as txn:
        for state in ctx.accounts.all(txn, after=after):
            last = state.did
            if state.head is not None and state.rev is not None:
                repos.append(ListedRepo(state.did, CID.decode(state.head), state.rev, state.status))
            if len(repos) >= limit:
                break
    full = len(repos) >= limit
    return ReposPage(repos, last if full and last else None)


def repos_with_collection(
    ctx: RelayContext, collection: str, *, after: str | None, limit: int
) -> list[str]:
    """Up to ``limit`` DIDs with records in ``collection``, in DID order after ``after``."""
    with ctx.store.read() as txn:
        return ctx.accounts.repos_with_collection(txn, collection, after=after, limit=limit)


def host_of(ctx: RelayContext, state: AccountState) -> Host:
    """The host the account lives on."""
    host = ctx.hosts.get_by_id(None, state.host_id)
    if host is None:
        raise UnknownAccountError(state.did)
    return host
