"""Reads of hosted repositories for ``com.atproto.sync.*``: the current commit, the
repository (or its diff ``since`` a rev) as a CAR export, a record with its proof, blocks by
CID, and the page of repositories ``listRepos`` answers; each in one read transaction of its
own. Who may read a repository is the route's question (:mod:`strato.pds.routes.sync`).

A repository whose account is gone is not listed (:func:`list_repos`). The errors are the
store's: :class:`~strato.errors.RepoNotFoundError`,
:class:`~strato.errors.BlockNotFoundError` (:mod:`strato.pds.routes.errors` answers them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from strato import CID, car
from strato.errors import AccountNotFoundError
from strato.pds.accounts import AccountStatus
from strato.pds.context import PdsContext
from strato.repo import RepoHead


@dataclass(frozen=True, slots=True)
class ListedRepo:
    """A hosted repository's current commit and its account's status."""

    did: str
    head: RepoHead
    status: AccountStatus


@dataclass(frozen=True, slots=True)
class ReposPage:
    """A page of :func:`list_repos`; ``cursor`` (the last DID of the page) is None when the
    page is empty."""

    repos: list[ListedRepo]
    cursor: str | None


def latest(ctx: PdsContext, did: str) -> RepoHead:
    """The current commit of ``did``'s repository."""
    with ctx.store.read() as txn:
        return ctx.repos.latest(txn, did)


def export(ctx: PdsContext, did: str, *, since: str | None) -> Iterator[bytes]:
    """The repository (or its diff ``since`` a rev) as CAR chunks, from one read transaction
    held until the last chunk (run it on one thread: :func:`strato.pds.streaming.thread_stream`)."""
    with ctx.store.read() as txn:
        yield from ctx.repos.export(txn, did, since=since)


def record_proof(ctx: PdsContext, did: str, collection: str, rkey: str) -> bytes:
    """The CAR proving the record at ``collection/rkey`` (or its absence) from the commit."""
    with ctx.store.read() as txn:
        return ctx.repos.record_proof(txn, did, collection, rkey)


def blocks(ctx: PdsContext, did: str, cids: Iterable[CID]) -> bytes:
    """The blocks with these CIDs as a CAR without roots."""
    with ctx.store.read() as txn:
        found = ctx.repos.get_blocks(txn, did, cids)
    return car.write_car([], found)


def list_repos(ctx: PdsContext, *, cursor: str | None, limit: int) -> ReposPage:
    """Up to ``limit`` repositories in DID order after ``cursor``."""
    with ctx.store.read() as txn:
        heads = ctx.repos.list_repos(txn, cursor=cursor, limit=limit)
    repos = []
    for did, head in heads:
        try:
            status = ctx.accounts.get(did).status
        except AccountNotFoundError:
            continue
        repos.append(ListedRepo(did, head, status))
    # the reference's cursor: the last repository of any non-empty page
    return ReposPage(repos, heads[-1][0] if heads else None)
