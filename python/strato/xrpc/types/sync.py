"""``com.atproto.sync.*``: the repository and blob reads (getRepo, getRecord, getBlocks,
getLatestCommit, getRepoStatus, listRepos, getBlob, listBlobs); the CAR and blob answers are
raw bodies, so those methods have params and a ``raw_output`` only. Also the relay's host
methods (requestCrawl, listHosts, getHostStatus)."""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec

from strato.lexicon._invalid import FieldError, key_segment
from strato.lexicon.types._base import LexObject, each_text, text
from strato.syntax import is_cid, is_did, is_nsid, is_record_key, is_tid
from strato.xrpc.method import MethodTypes

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class RequestCrawlInput(LexObject):
    """``com.atproto.sync.requestCrawl`` input: the host asking to be crawled."""

    hostname: str


class ListHostsParams(LexObject):
    """``com.atproto.sync.listHosts`` params."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200
    cursor: str | Unset = UNSET


class ListedHost(LexObject):
    """``com.atproto.sync.listHosts#host``; ``status`` is a ``com.atproto.sync.defs#hostStatus``
    value."""

    hostname: str
    seq: int | Unset = UNSET
    account_count: int | Unset = UNSET
    #: A ``com.atproto.sync.defs#hostStatus`` (a string def: checked in ``__post_init__``).
    status: Any = UNSET

    def __post_init__(self) -> None:
        host_status(self.status)


def host_status(value: Any) -> None:
    """A ``com.atproto.sync.defs#hostStatus`` field: a string when present."""
    if value is not UNSET and not isinstance(value, str):
        raise FieldError("expected a string", key_segment("status"))


class ListHostsOutput(LexObject):
    """``com.atproto.sync.listHosts`` output."""

    hosts: list[ListedHost]
    cursor: str | Unset = UNSET


class GetHostStatusParams(LexObject):
    """``com.atproto.sync.getHostStatus`` params."""

    hostname: str


class GetHostStatusOutput(LexObject):
    """``com.atproto.sync.getHostStatus`` output."""

    hostname: str
    seq: int | Unset = UNSET
    account_count: int | Unset = UNSET
    #: A ``com.atproto.sync.defs#hostStatus`` (a string def: checked in ``__post_init__``).
    status: Any = UNSET

    def __post_init__(self) -> None:
        host_status(self.status)


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


CAR: Final = "application/vnd.ipld.car"


class GetRepoParams(LexObject):
    """``com.atproto.sync.getRepo`` params: the repo, and the rev a diff starts after."""

    did: str
    since: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        if self.since is not UNSET:
            text(self.since, "since", check=is_tid, fmt="tid")


class GetRecordParams(LexObject):
    """``com.atproto.sync.getRecord`` params."""

    did: str
    collection: str
    rkey: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        text(self.collection, "collection", check=is_nsid, fmt="nsid")
        text(self.rkey, "rkey", check=is_record_key, fmt="record-key")


class GetBlocksParams(LexObject):
    """``com.atproto.sync.getBlocks`` params."""

    did: str
    cids: list[str]

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        each_text(self.cids, "cids", is_cid, "cid")


class GetBlobParams(LexObject):
    """``com.atproto.sync.getBlob`` params."""

    did: str
    cid: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        text(self.cid, "cid", check=is_cid, fmt="cid")


class ListBlobsParams(LexObject):
    """``com.atproto.sync.listBlobs`` params."""

    did: str
    since: str | Unset = UNSET
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 500
    cursor: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        if self.since is not UNSET:
            text(self.since, "since", check=is_tid, fmt="tid")


class ListBlobsOutput(LexObject):
    """``com.atproto.sync.listBlobs`` output."""

    cids: list[str]
    cursor: str | Unset = UNSET

    def __post_init__(self) -> None:
        each_text(self.cids, "cids", is_cid, "cid")


class ListReposByCollectionParams(LexObject):
    """``com.atproto.sync.listReposByCollection`` params."""

    collection: str
    limit: Annotated[int, msgspec.Meta(ge=1, le=2000)] = 500
    cursor: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.collection, "collection", check=is_nsid, fmt="nsid")


class CollectionRepo(LexObject):
    """``com.atproto.sync.listReposByCollection#repo``."""

    did: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class ListReposByCollectionOutput(LexObject):
    """``com.atproto.sync.listReposByCollection`` output."""

    repos: list[CollectionRepo]
    cursor: str | Unset = UNSET


#: The methods of this namespace strato serves, with their types.
METHODS: dict[str, MethodTypes] = {
    "com.atproto.sync.requestCrawl": MethodTypes("procedure", input=RequestCrawlInput),
    "com.atproto.sync.listHosts": MethodTypes(
        "query", params=ListHostsParams, output=ListHostsOutput
    ),
    "com.atproto.sync.getHostStatus": MethodTypes(
        "query", params=GetHostStatusParams, output=GetHostStatusOutput
    ),
    "com.atproto.sync.getLatestCommit": MethodTypes(
        "query", params=RepoParams, output=GetLatestCommitOutput
    ),
    "com.atproto.sync.getRepoStatus": MethodTypes(
        "query", params=RepoParams, output=GetRepoStatusOutput
    ),
    "com.atproto.sync.listRepos": MethodTypes(
        "query", params=ListReposParams, output=ListReposOutput
    ),
    "com.atproto.sync.getRepo": MethodTypes("query", params=GetRepoParams, raw_output=CAR),
    "com.atproto.sync.getRecord": MethodTypes("query", params=GetRecordParams, raw_output=CAR),
    "com.atproto.sync.getBlocks": MethodTypes("query", params=GetBlocksParams, raw_output=CAR),
    "com.atproto.sync.getBlob": MethodTypes("query", params=GetBlobParams, raw_output="*/*"),
    "com.atproto.sync.listBlobs": MethodTypes(
        "query", params=ListBlobsParams, output=ListBlobsOutput
    ),
    "com.atproto.sync.listReposByCollection": MethodTypes(
        "query", params=ListReposByCollectionParams, output=ListReposByCollectionOutput
    ),
}
