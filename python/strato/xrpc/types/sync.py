"""``com.atproto.sync.*``: getLatestCommit, getRepoStatus and listRepos."""

from __future__ import annotations

from typing import Annotated

import msgspec

from strato.lexicon.types._base import LexObject, text
from strato.syntax import is_cid, is_did, is_tid
from strato.xrpc.method import MethodTypes

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class RepoParams(LexObject):
    """The params of ``getLatestCommit`` and ``getRepoStatus``: the repo's DID."""

    did: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class GetLatestCommitOutput(LexObject):
    """``com.atproto.sync.getLatestCommit`` output."""

    cid: str
    rev: str

    def __post_init__(self) -> None:
        text(self.cid, "cid", check=is_cid, fmt="cid")
        text(self.rev, "rev", check=is_tid, fmt="tid")


class GetRepoStatusOutput(LexObject):
    """``com.atproto.sync.getRepoStatus`` output."""

    did: str
    active: bool
    status: str | Unset = UNSET
    rev: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        if self.rev is not UNSET:
            text(self.rev, "rev", check=is_tid, fmt="tid")


class ListReposParams(LexObject):
    """``com.atproto.sync.listRepos`` params."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 500
    cursor: str | Unset = UNSET


class ListedRepo(LexObject):
    """``com.atproto.sync.listRepos#repo``."""

    did: str
    head: str
    rev: str
    active: bool | Unset = UNSET
    status: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        text(self.head, "head", check=is_cid, fmt="cid")
        text(self.rev, "rev", check=is_tid, fmt="tid")


class ListReposOutput(LexObject):
    """``com.atproto.sync.listRepos`` output."""

    repos: list[ListedRepo]
    cursor: str | Unset = UNSET


#: The methods of this namespace strato serves, with their types.
METHODS: dict[str, MethodTypes] = {
    "com.atproto.sync.getLatestCommit": MethodTypes(
        "query", params=RepoParams, output=GetLatestCommitOutput
    ),
    "com.atproto.sync.getRepoStatus": MethodTypes(
        "query", params=RepoParams, output=GetRepoStatusOutput
    ),
    "com.atproto.sync.listRepos": MethodTypes(
        "query", params=ListReposParams, output=ListReposOutput
    ),
}
