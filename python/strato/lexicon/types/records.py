"""Typed structs for the app.bsky records strato writes and indexes: ``actor.profile``,
``feed.post``, ``feed.like``, ``feed.repost``, ``graph.follow`` and ``graph.block``.

Each is built by :func:`strato.lexicon.types.decode_record` (or ``msgspec.convert`` with
:func:`~strato.lexicon.types._base.dec_hook`), which checks it against its lexicon on the way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from strato.lexicon.types._base import Blob, LegacyBlob, LexObject, blob, each_text, text, variant
from strato.lexicon.types.common import LABELS, SelfLabels, StrongRef
from strato.lexicon.types.embed import (
    POST_EMBEDS,
    External,
    Gallery,
    Images,
    Record,
    RecordWithMedia,
    Video,
)
from strato.lexicon.types.richtext import Facet
from strato.syntax import is_datetime, is_did, is_language, is_uri

if TYPE_CHECKING:
    Labels = SelfLabels | dict[str, Any]
    PostEmbed = Images | Video | Gallery | External | Record | RecordWithMedia | dict[str, Any]
    BlobField = Blob | LegacyBlob
else:  # open unions and blobs: resolved in __post_init__
    Labels = PostEmbed = BlobField = Any

PROFILE_IMAGE_TYPES = ("image/png", "image/jpeg")


class Profile(LexObject, tag_field="$type", tag="app.bsky.actor.profile"):
    """``app.bsky.actor.profile`` (record key ``self``)."""

    display_name: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    pronouns: str | msgspec.UnsetType = msgspec.UNSET
    website: str | msgspec.UnsetType = msgspec.UNSET
    avatar: BlobField | msgspec.UnsetType = msgspec.UNSET
    banner: BlobField | msgspec.UnsetType = msgspec.UNSET
    labels: Labels | msgspec.UnsetType = msgspec.UNSET
    joined_via_starter_pack: StrongRef | msgspec.UnsetType = msgspec.UNSET
    pinned_post: StrongRef | msgspec.UnsetType = msgspec.UNSET
    created_at: str | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        unset = msgspec.UNSET
        if self.display_name is not unset:
            text(self.display_name, "displayName", max_bytes=640, max_graphemes=64)
        if self.description is not unset:
            text(self.description, "description", max_bytes=2560, max_graphemes=256)
        if self.pronouns is not unset:
            text(self.pronouns, "pronouns", max_bytes=200, max_graphemes=20)
        if self.website is not unset:
            text(self.website, "website", check=is_uri, fmt="uri")
        if self.avatar is not unset:
            self.avatar = blob(self.avatar, "avatar", PROFILE_IMAGE_TYPES, 1_000_000)
        if self.banner is not unset:
            self.banner = blob(self.banner, "banner", PROFILE_IMAGE_TYPES, 1_000_000)
        if self.labels is not unset:
            self.labels = variant(self.labels, "labels", LABELS)
        if self.created_at is not unset:
            text(self.created_at, "createdAt", check=is_datetime, fmt="datetime")


class ReplyRef(LexObject):
    """``app.bsky.feed.post#replyRef``: the thread root and the direct parent."""

    root: StrongRef
    parent: StrongRef


class TextSlice(LexObject):
    """``app.bsky.feed.post#textSlice`` (deprecated, of ``entities``)."""

    start: Annotated[int, msgspec.Meta(ge=0)]
    end: Annotated[int, msgspec.Meta(ge=0)]


class Entity(LexObject):
    """``app.bsky.feed.post#entity`` (deprecated: facets replace it)."""

    index: TextSlice
    type: str
    value: str


class Post(LexObject, tag_field="$type", tag="app.bsky.feed.post"):
    """``app.bsky.feed.post`` (record key: a TID)."""

    text: str
    created_at: str
    entities: list[Entity] | msgspec.UnsetType = msgspec.UNSET
    facets: list[Facet] | msgspec.UnsetType = msgspec.UNSET
    reply: ReplyRef | msgspec.UnsetType = msgspec.UNSET
    embed: PostEmbed | msgspec.UnsetType = msgspec.UNSET
    langs: Annotated[list[str], msgspec.Meta(max_length=3)] | msgspec.UnsetType = msgspec.UNSET
    labels: Labels | msgspec.UnsetType = msgspec.UNSET
    tags: Annotated[list[str], msgspec.Meta(max_length=8)] | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        unset = msgspec.UNSET
        text(self.text, "text", max_bytes=3000, max_graphemes=300)
        text(self.created_at, "createdAt", check=is_datetime, fmt="datetime")
        if self.embed is not unset:
            self.embed = variant(self.embed, "embed", POST_EMBEDS)
        if self.langs is not unset:
            each_text(self.langs, "langs", is_language, "language")
        if self.labels is not unset:
            self.labels = variant(self.labels, "labels", LABELS)
        if self.tags is not unset:
            each_text(self.tags, "tags", _any_text, "", max_bytes=640, max_graphemes=64)


def _any_text(value: str) -> bool:
    return True


class Like(LexObject, tag_field="$type", tag="app.bsky.feed.like"):
    """``app.bsky.feed.like``: a like of a post (or another record)."""

    subject: StrongRef
    created_at: str
    via: StrongRef | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        text(self.created_at, "createdAt", check=is_datetime, fmt="datetime")


class Repost(LexObject, tag_field="$type", tag="app.bsky.feed.repost"):
    """``app.bsky.feed.repost``."""

    subject: StrongRef
    created_at: str
    via: StrongRef | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        text(self.created_at, "createdAt", check=is_datetime, fmt="datetime")


class Follow(LexObject, tag_field="$type", tag="app.bsky.graph.follow"):
    """``app.bsky.graph.follow``: follow an account, by DID."""

    subject: str
    created_at: str
    via: StrongRef | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        text(self.subject, "subject", check=is_did, fmt="did")
        text(self.created_at, "createdAt", check=is_datetime, fmt="datetime")


class Block(LexObject, tag_field="$type", tag="app.bsky.graph.block"):
    """``app.bsky.graph.block``: block an account, by DID."""

    subject: str
    created_at: str

    def __post_init__(self) -> None:
        text(self.subject, "subject", check=is_did, fmt="did")
        text(self.created_at, "createdAt", check=is_datetime, fmt="datetime")
