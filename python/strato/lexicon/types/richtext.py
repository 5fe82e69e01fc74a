"""Typed structs for ``app.bsky.richtext.facet``: byte ranges of a post's text annotated with
mentions, links and hashtags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from strato.lexicon.types._base import LexObject, text, variants
from strato.syntax import is_did, is_uri


class ByteSlice(LexObject):
    """``app.bsky.richtext.facet#byteSlice``: UTF-8 byte offsets, end exclusive."""

    byte_start: Annotated[int, msgspec.Meta(ge=0)]
    byte_end: Annotated[int, msgspec.Meta(ge=0)]


class Mention(LexObject, tag_field="$type", tag="app.bsky.richtext.facet#mention"):
    """A mention of an account, by DID."""

    did: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class Link(LexObject, tag_field="$type", tag="app.bsky.richtext.facet#link"):
    """A link to a URI."""

    uri: str

    def __post_init__(self) -> None:
        text(self.uri, "uri", check=is_uri, fmt="uri")


class Tag(LexObject, tag_field="$type", tag="app.bsky.richtext.facet#tag"):
    """A hashtag (without the ``#``)."""

    tag: str

    def __post_init__(self) -> None:
        text(self.tag, "tag", max_bytes=640, max_graphemes=64)


FEATURES: dict[str, type[LexObject]] = {
    "app.bsky.richtext.facet#mention": Mention,
    "app.bsky.richtext.facet#link": Link,
    "app.bsky.richtext.facet#tag": Tag,
}

if TYPE_CHECKING:
    Feature = Mention | Link | Tag | dict[str, Any]
else:
    Feature = Any  # an open union: resolved in Facet.__post_init__


class Facet(LexObject):
    """``app.bsky.richtext.facet``: a byte range and what it means."""

    index: ByteSlice
    features: list[Feature]

    def __post_init__(self) -> None:
        self.features = variants(self.features, "features", FEATURES)
