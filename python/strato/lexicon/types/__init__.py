"""Typed ``msgspec`` structs for the records and events strato writes or indexes, built and
checked against their lexicons in one step.

- :func:`decode_record` builds the struct of a record (``app.bsky.actor.profile``,
  ``feed.post``, ``feed.like``, ``feed.repost``, ``graph.follow``, ``graph.block``) from
  DAG-CBOR bytes, data-model values or atproto JSON.
- :func:`decode_message` does the same for a ``com.atproto.sync.subscribeRepos`` payload.
- :data:`TYPED_RECORDS` gives each collection's struct, its record-key type (checked by
  :func:`check_record_key` as the catalog checks a loaded lexicon's) and the fingerprint of the
  lexicon defs it was written against (:func:`strato.lexicon.fingerprint.def_fingerprint`).
  :meth:`strato.lexicon.Catalog.decode_record` uses a struct only when the loaded lexicons have
  that exact fingerprint, so a newer lexicon is never judged by an older struct.

Every failure raises :class:`strato.errors.LexiconValidationError` with the JSON path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from strato.dagcbor import decode
from strato.errors import LexiconValidationError
from strato.lexicon.types._base import Blob, LegacyBlob, LexObject, convert
from strato.lexicon.types.common import AspectRatio, SelfLabel, SelfLabels, StrongRef
from strato.lexicon.types.embed import (
    Caption,
    External,
    ExternalLink,
    Gallery,
    GalleryImage,
    Image,
    Images,
    Record,
    RecordWithMedia,
    Video,
)
from strato.lexicon.types.events import MESSAGES, Account, Commit, Identity, Info, RepoOp, Sync
from strato.lexicon.types.records import (
    Block,
    Entity,
    Follow,
    Like,
    Post,
    Profile,
    ReplyRef,
    Repost,
    TextSlice,
)
from strato.lexicon.types.richtext import ByteSlice, Facet, Link, Mention, Tag
from strato.syntax import FORMAT_CHECKS


@dataclass(frozen=True, slots=True)
class TypedRecord:
    """A record struct, the record-key type of its lexicon (``key``: ``tid``, ``nsid``,
    ``literal:<value>`` or ``any``) and the fingerprint of the lexicon defs it implements."""

    struct: type[LexObject]
    key: str
    fingerprint: str


# Fingerprints of the lexicon defs in the shared app.bsky/com.atproto set these structs follow;
# tests/lexicon/test_types.py fails when the lexicons change, so the structs are updated too.
TYPED_RECORDS: dict[str, TypedRecord] = {
    "app.bsky.actor.profile": TypedRecord(
        Profile, "literal:self", "96f196b61ecd78836289f702e5b4464d90126bfd6eb1bfca19850b17a6231dc7"
    ),
    "app.bsky.feed.post": TypedRecord(
        Post, "tid", "8ce92670b9735580115d9204abc4621c42115656538a1ac0a75eb0be394109c8"
    ),
    "app.bsky.feed.like": TypedRecord(
        Like, "tid", "d96d82f2effe13f28d8a02f22996ea6f3aef157ca15a759b26bde99135481020"
    ),
    "app.bsky.feed.repost": TypedRecord(
        Repost, "tid", "a0c81ad39e9debd17ed625316c837f2c25aa91b24787e9c3edbdb8564b2062d6"
    ),
    "app.bsky.graph.follow": TypedRecord(
        Follow, "tid", "ff69df7571c9de9e174938095bdb9b545bbf45e20b2ff508351c21aafce4f379"
    ),
    "app.bsky.graph.block": TypedRecord(
        Block, "tid", "943bc6bcdb0297d7edd5ce70d793aafd8eb7e30c573a0dcb1df7ae9905d044d7"
    ),
}


def record_key_check(key_type: str) -> Callable[[str], bool]:
    """The check of a record-key type (a record lexicon's ``key``)."""
    if key_type.startswith("literal:"):
        return key_type.removeprefix("literal:").__eq__
    return FORMAT_CHECKS["record-key" if key_type == "any" else key_type]


def check_record_key(key_type: str, rkey: str) -> None:
    """Raise :class:`LexiconValidationError` (at ``rkey``) when ``rkey`` is not a record key of
    the type ``key_type``."""
    if not record_key_check(key_type)(rkey):
        raise LexiconValidationError(f"record key {rkey!r} is not a valid {key_type}", "rkey")


def decode_record(collection: str, data: bytes | Any) -> LexObject:
    """The typed struct of a record of ``collection`` (one of :data:`TYPED_RECORDS`), from
    DAG-CBOR bytes or a decoded value; checks ``$type`` and every lexicon rule."""
    value = decode(data) if isinstance(data, bytes | bytearray | memoryview) else data
    if type(value) is not dict or value.get("$type") != collection:
        raise LexiconValidationError(f"a record needs $type {collection!r}", "$.$type")
    return convert(value, TYPED_RECORDS[collection].struct)


def decode_message(message_type: str, data: bytes | Any) -> LexObject:
    """The typed payload of a ``subscribeRepos`` message (``message_type`` is the frame
    header's ``t``, e.g. ``#commit``), from DAG-CBOR bytes or a decoded value."""
    cls = MESSAGES.get(message_type)
    if cls is None:
        raise LexiconValidationError(f"unknown subscribeRepos message type {message_type!r}", "t")
    value = decode(data) if isinstance(data, bytes | bytearray | memoryview) else data
    return convert(value, cls)


__all__ = [
    "MESSAGES",
    "TYPED_RECORDS",
    "Account",
    "AspectRatio",
    "Blob",
    "Block",
    "ByteSlice",
    "Caption",
    "Commit",
    "Entity",
    "External",
    "ExternalLink",
    "Facet",
    "Follow",
    "Gallery",
    "GalleryImage",
    "Identity",
    "Image",
    "Images",
    "Info",
    "LegacyBlob",
    "LexObject",
    "Like",
    "Link",
    "Mention",
    "Post",
    "Profile",
    "Record",
    "RecordWithMedia",
    "ReplyRef",
    "RepoOp",
    "Repost",
    "SelfLabel",
    "SelfLabels",
    "StrongRef",
    "Sync",
    "Tag",
    "TextSlice",
    "TypedRecord",
    "Video",
    "check_record_key",
    "decode_message",
    "decode_record",
    "record_key_check",
]
