"""``com.atproto.repo.*``: the record write methods (createRecord, putRecord, deleteRecord,
applyWrites) and the read methods (getRecord, listRecords, describeRepo).

Records (``record``, ``value``) are atproto JSON objects here; the PDS turns them into
data-model values and validates them against their collection's lexicon."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final

import msgspec

from strato.lexicon._invalid import FieldError, key_segment
from strato.lexicon.types._base import LexObject, blob, each_text, text, variants
from strato.syntax import (
    is_at_identifier,
    is_at_uri,
    is_cid,
    is_did,
    is_handle,
    is_nsid,
    is_record_key,
    is_tid,
)
from strato.xrpc.method import MethodTypes, RawInput
from strato.xrpc.types._fields import unknown

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


def _repo_collection(repo: str, collection: str) -> None:
    text(repo, "repo", check=is_at_identifier, fmt="at-identifier")
    text(collection, "collection", check=is_nsid, fmt="nsid")


def _rkey(value: str | Unset, max_bytes: int | None = None) -> None:
    if value is not UNSET:
        text(value, "rkey", max_bytes=max_bytes, check=is_record_key, fmt="record-key")


def _cid(value: str | Unset | None, name: str) -> None:
    if isinstance(value, str):
        text(value, name, check=is_cid, fmt="cid")


class CommitMeta(LexObject):
    """``com.atproto.repo.defs#commitMeta``: the commit a write made."""

    cid: str
    rev: str

    def __post_init__(self) -> None:
        text(self.cid, "cid", check=is_cid, fmt="cid")
        text(self.rev, "rev", check=is_tid, fmt="tid")


class _WriteResult(LexObject, kw_only=True):
    """A written record: its AT-URI, CID and validation status (``valid`` or ``unknown``)."""

    uri: str
    cid: str
    validation_status: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.uri, "uri", check=is_at_uri, fmt="at-uri")
        text(self.cid, "cid", check=is_cid, fmt="cid")


class CreateRecordInput(LexObject):
    """``com.atproto.repo.createRecord`` input."""

    repo: str
    collection: str
    record: dict[str, Any]
    rkey: str | Unset = UNSET
    validate: bool | Unset = UNSET
    swap_commit: str | Unset = UNSET

    def __post_init__(self) -> None:
        _repo_collection(self.repo, self.collection)
        _rkey(self.rkey, 512)
        unknown(self.record, "record")
        _cid(self.swap_commit, "swapCommit")


class CreateRecordOutput(_WriteResult, kw_only=True):
    """``com.atproto.repo.createRecord`` output."""

    commit: CommitMeta | Unset = UNSET


class PutRecordInput(LexObject):
    """``com.atproto.repo.putRecord`` input; ``swapRecord`` null means "only if absent"."""

    repo: str
    collection: str
    rkey: str
    record: dict[str, Any]
    validate: bool | Unset = UNSET
    swap_record: str | Unset | None = UNSET
    swap_commit: str | Unset = UNSET

    def __post_init__(self) -> None:
        _repo_collection(self.repo, self.collection)
        _rkey(self.rkey, 512)
        unknown(self.record, "record")
        _cid(self.swap_record, "swapRecord")
        _cid(self.swap_commit, "swapCommit")


class PutRecordOutput(_WriteResult, kw_only=True):
    """``com.atproto.repo.putRecord`` output."""

    commit: CommitMeta | Unset = UNSET


class DeleteRecordInput(LexObject):
    """``com.atproto.repo.deleteRecord`` input."""

    repo: str
    collection: str
    rkey: str
    swap_record: str | Unset = UNSET
    swap_commit: str | Unset = UNSET

    def __post_init__(self) -> None:
        _repo_collection(self.repo, self.collection)
        _rkey(self.rkey)
        _cid(self.swap_record, "swapRecord")
        _cid(self.swap_commit, "swapCommit")


class DeleteRecordOutput(LexObject):
    """``com.atproto.repo.deleteRecord`` output."""

    commit: CommitMeta | Unset = UNSET


class Create(LexObject, tag_field="$type", tag="com.atproto.repo.applyWrites#create"):
    """``com.atproto.repo.applyWrites#create``."""

    collection: str
    value: dict[str, Any]
    rkey: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.collection, "collection", check=is_nsid, fmt="nsid")
        _rkey(self.rkey, 512)
        unknown(self.value, "value")


class Update(LexObject, tag_field="$type", tag="com.atproto.repo.applyWrites#update"):
    """``com.atproto.repo.applyWrites#update``."""

    collection: str
    rkey: str
    value: dict[str, Any]

    def __post_init__(self) -> None:
        text(self.collection, "collection", check=is_nsid, fmt="nsid")
        _rkey(self.rkey)
        unknown(self.value, "value")


class Delete(LexObject, tag_field="$type", tag="com.atproto.repo.applyWrites#delete"):
    """``com.atproto.repo.applyWrites#delete``."""

    collection: str
    rkey: str

    def __post_init__(self) -> None:
        text(self.collection, "collection", check=is_nsid, fmt="nsid")
        _rkey(self.rkey)


WRITES: dict[str, type[Any]] = {
    "com.atproto.repo.applyWrites#create": Create,
    "com.atproto.repo.applyWrites#update": Update,
    "com.atproto.repo.applyWrites#delete": Delete,
}

if TYPE_CHECKING:
    Write = Create | Update | Delete
else:  # a closed union: resolved in __post_init__
    Write = Any


class ApplyWritesInput(LexObject):
    """``com.atproto.repo.applyWrites`` input: the writes of one commit."""

    repo: str
    writes: list[Write]
    validate: bool | Unset = UNSET
    swap_commit: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.repo, "repo", check=is_at_identifier, fmt="at-identifier")
        self.writes = _closed(self.writes, "writes", WRITES)
        _cid(self.swap_commit, "swapCommit")


def _closed(values: list[Any], name: str, kinds: dict[str, type[Any]]) -> list[Any]:
    """A closed union's items: structs of ``kinds`` pass (a value built in code), objects are
    built by their ``$type``, which must be one of ``kinds``."""
    built = tuple(kinds.values())
    for i, value in enumerate(values):
        if type(value) is dict and type(value.get("$type")) is str:
            kind = value["$type"].removesuffix("#main")
            if kind not in kinds:
                raise FieldError(
                    f"$type {kind!r} is not one of {', '.join(kinds)}",
                    f"[{i}]",
                    key_segment(name),
                )
    if all(isinstance(value, built) for value in values):
        return values
    return variants(values, name, kinds)


class CreateResult(
    _WriteResult, tag_field="$type", tag="com.atproto.repo.applyWrites#createResult"
):
    """``com.atproto.repo.applyWrites#createResult``."""


class UpdateResult(
    _WriteResult, tag_field="$type", tag="com.atproto.repo.applyWrites#updateResult"
):
    """``com.atproto.repo.applyWrites#updateResult``."""


class DeleteResult(LexObject, tag_field="$type", tag="com.atproto.repo.applyWrites#deleteResult"):
    """``com.atproto.repo.applyWrites#deleteResult``."""


RESULTS: dict[str, type[Any]] = {
    "com.atproto.repo.applyWrites#createResult": CreateResult,
    "com.atproto.repo.applyWrites#updateResult": UpdateResult,
    "com.atproto.repo.applyWrites#deleteResult": DeleteResult,
}

if TYPE_CHECKING:
    WriteResult = CreateResult | UpdateResult | DeleteResult
else:  # a closed union: resolved in __post_init__
    WriteResult = Any


class ApplyWritesOutput(LexObject):
    """``com.atproto.repo.applyWrites`` output."""

    commit: CommitMeta | Unset = UNSET
    results: list[WriteResult] | Unset = UNSET

    def __post_init__(self) -> None:
        if self.results is not UNSET:
            self.results = _closed(self.results, "results", RESULTS)


class GetRecordParams(LexObject):
    """``com.atproto.repo.getRecord`` params."""

    repo: str
    collection: str
    rkey: str
    cid: str | Unset = UNSET

    def __post_init__(self) -> None:
        _repo_collection(self.repo, self.collection)
        _rkey(self.rkey)
        _cid(self.cid, "cid")


class GetRecordOutput(LexObject):
    """``com.atproto.repo.getRecord`` output."""

    uri: str
    value: dict[str, Any]
    cid: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.uri, "uri", check=is_at_uri, fmt="at-uri")
        unknown(self.value, "value")
        _cid(self.cid, "cid")


class ListRecordsParams(LexObject):
    """``com.atproto.repo.listRecords`` params."""

    repo: str
    collection: str
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 50
    cursor: str | Unset = UNSET
    reverse: bool | Unset = UNSET

    def __post_init__(self) -> None:
        _repo_collection(self.repo, self.collection)


class ListedRecord(LexObject):
    """``com.atproto.repo.listRecords#record``."""

    uri: str
    cid: str
    value: dict[str, Any]

    def __post_init__(self) -> None:
        text(self.uri, "uri", check=is_at_uri, fmt="at-uri")
        text(self.cid, "cid", check=is_cid, fmt="cid")
        unknown(self.value, "value")


class ListRecordsOutput(LexObject):
    """``com.atproto.repo.listRecords`` output."""

    records: list[ListedRecord]
    cursor: str | Unset = UNSET


class DescribeRepoParams(LexObject):
    """``com.atproto.repo.describeRepo`` params."""

    repo: str

    def __post_init__(self) -> None:
        text(self.repo, "repo", check=is_at_identifier, fmt="at-identifier")


class DescribeRepoOutput(LexObject):
    """``com.atproto.repo.describeRepo`` output."""

    handle: str
    did: str
    did_doc: dict[str, Any]
    collections: list[str]
    handle_is_correct: bool

    def __post_init__(self) -> None:
        text(self.handle, "handle", check=is_handle, fmt="handle")
        text(self.did, "did", check=is_did, fmt="did")
        unknown(self.did_doc, "didDoc")
        each_text(self.collections, "collections", is_nsid, "nsid")


class UploadBlobOutput(LexObject):
    """``com.atproto.repo.uploadBlob`` output: the reference a record embeds, in atproto JSON
    (``{"$type": "blob", "ref": {"$link": ...}, "mimeType": ..., "size": ...}``)."""

    blob: Any

    def __post_init__(self) -> None:
        blob(self.blob, "blob", (), None)


class ListMissingBlobsParams(LexObject):
    """``com.atproto.repo.listMissingBlobs`` params."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 500
    cursor: str | Unset = UNSET


class RecordBlob(LexObject):
    """``com.atproto.repo.listMissingBlobs#recordBlob``: a missing blob and a record that
    references it."""

    cid: str
    record_uri: str

    def __post_init__(self) -> None:
        text(self.cid, "cid", check=is_cid, fmt="cid")
        text(self.record_uri, "recordUri", check=is_at_uri, fmt="at-uri")


class ListMissingBlobsOutput(LexObject):
    """``com.atproto.repo.listMissingBlobs`` output."""

    blobs: list[RecordBlob]
    cursor: str | Unset = UNSET


#: The default limits of the binary inputs (the PDS passes its configured ones).
BLOB_INPUT: Final = RawInput("*/*", 100 * 1024 * 1024)
CAR_INPUT: Final = RawInput("application/vnd.ipld.car", 100 * 1024 * 1024)

#: The methods of this namespace strato serves, with their types.
METHODS: dict[str, MethodTypes] = {
    "com.atproto.repo.createRecord": MethodTypes(
        "procedure", input=CreateRecordInput, output=CreateRecordOutput
    ),
    "com.atproto.repo.putRecord": MethodTypes(
        "procedure", input=PutRecordInput, output=PutRecordOutput
    ),
    "com.atproto.repo.deleteRecord": MethodTypes(
        "procedure", input=DeleteRecordInput, output=DeleteRecordOutput
    ),
    "com.atproto.repo.applyWrites": MethodTypes(
        "procedure", input=ApplyWritesInput, output=ApplyWritesOutput
    ),
    "com.atproto.repo.getRecord": MethodTypes(
        "query", params=GetRecordParams, output=GetRecordOutput
    ),
    "com.atproto.repo.listRecords": MethodTypes(
        "query", params=ListRecordsParams, output=ListRecordsOutput
    ),
    "com.atproto.repo.describeRepo": MethodTypes(
        "query", params=DescribeRepoParams, output=DescribeRepoOutput
    ),
    "com.atproto.repo.uploadBlob": MethodTypes(
        "procedure", input=BLOB_INPUT, output=UploadBlobOutput
    ),
    "com.atproto.repo.listMissingBlobs": MethodTypes(
        "query", params=ListMissingBlobsParams, output=ListMissingBlobsOutput
    ),
    "com.atproto.repo.importRepo": MethodTypes("procedure", input=CAR_INPUT),
}
