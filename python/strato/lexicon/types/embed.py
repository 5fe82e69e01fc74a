"""Typed structs for post embeds: ``app.bsky.embed.images``, ``video``, ``gallery``,
``external``, ``record`` and ``recordWithMedia``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from strato.lexicon.types._base import (
    Blob,
    LegacyBlob,
    LexObject,
    blob,
    referenced,
    text,
    variant,
    variants,
)
from strato.lexicon.types.common import AspectRatio, StrongRef
from strato.syntax import is_language, is_uri

if TYPE_CHECKING:
    BlobField = Blob | LegacyBlob
else:
    BlobField = Any  # typed or legacy form: resolved in __post_init__


class Image(LexObject):
    """``app.bsky.embed.images#image``."""

    image: BlobField
    alt: str
    aspect_ratio: AspectRatio | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        self.image = blob(self.image, "image", ("image/*",), 2_000_000)


class Images(LexObject, tag_field="$type", tag="app.bsky.embed.images"):
    """``app.bsky.embed.images``: up to four images."""

    images: Annotated[list[Image], msgspec.Meta(max_length=4)]


class Caption(LexObject):
    """``app.bsky.embed.video#caption``: a WebVTT file in one language."""

    lang: str
    file: BlobField

    def __post_init__(self) -> None:
        text(self.lang, "lang", check=is_language, fmt="language")
        self.file = blob(self.file, "file", ("text/vtt",), 20_000)


class Video(LexObject, tag_field="$type", tag="app.bsky.embed.video"):
    """``app.bsky.embed.video``: one mp4 video."""

    video: BlobField
    captions: Annotated[list[Caption], msgspec.Meta(max_length=20)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    alt: str | msgspec.UnsetType = msgspec.UNSET
    aspect_ratio: AspectRatio | msgspec.UnsetType = msgspec.UNSET
    presentation: str | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        self.video = blob(self.video, "video", ("video/mp4",), 300_000_000)


class GalleryImage(LexObject, tag_field="$type", tag="app.bsky.embed.gallery#image"):
    """``app.bsky.embed.gallery#image``."""

    image: BlobField
    alt: str
    aspect_ratio: AspectRatio

    def __post_init__(self) -> None:
        self.image = blob(self.image, "image", ("image/*",), 2_000_000)


if TYPE_CHECKING:
    GalleryItem = GalleryImage | dict[str, Any]
else:
    GalleryItem = Any  # an open union: resolved in Gallery.__post_init__


class Gallery(LexObject, tag_field="$type", tag="app.bsky.embed.gallery"):
    """``app.bsky.embed.gallery``: up to 20 media items."""

    items: Annotated[list[GalleryItem], msgspec.Meta(max_length=20)]

    def __post_init__(self) -> None:
        self.items = variants(self.items, "items", {"app.bsky.embed.gallery#image": GalleryImage})


class ExternalLink(LexObject):
    """``app.bsky.embed.external#external``: a link card."""

    uri: str
    title: str
    description: str
    thumb: BlobField | msgspec.UnsetType = msgspec.UNSET
    associated_refs: list[StrongRef] | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        text(self.uri, "uri", check=is_uri, fmt="uri")
        if self.thumb is not msgspec.UNSET:
            self.thumb = blob(self.thumb, "thumb", ("image/*",), 1_000_000)


class External(LexObject, tag_field="$type", tag="app.bsky.embed.external"):
    """``app.bsky.embed.external``."""

    external: ExternalLink


class Record(LexObject, tag_field="$type", tag="app.bsky.embed.record"):
    """``app.bsky.embed.record``: a quoted record."""

    record: StrongRef


if TYPE_CHECKING:
    Media = Images | Video | Gallery | External | dict[str, Any]
else:
    Media = Any  # an open union: resolved in RecordWithMedia.__post_init__

MEDIA: dict[str, type[LexObject]] = {
    "app.bsky.embed.images": Images,
    "app.bsky.embed.video": Video,
    "app.bsky.embed.gallery": Gallery,
    "app.bsky.embed.external": External,
}


if TYPE_CHECKING:
    RecordRef = Record
else:
    RecordRef = Any  # a plain ref: any $type it carries is ignored, see __post_init__


class RecordWithMedia(LexObject, tag_field="$type", tag="app.bsky.embed.recordWithMedia"):
    """``app.bsky.embed.recordWithMedia``: a quoted record plus media."""

    record: RecordRef
    media: Media

    def __post_init__(self) -> None:
        self.record = referenced(self.record, "record", Record)
        self.media = variant(self.media, "media", MEDIA)


POST_EMBEDS: dict[str, type[LexObject]] = {
    **MEDIA,
    "app.bsky.embed.record": Record,
    "app.bsky.embed.recordWithMedia": RecordWithMedia,
}
