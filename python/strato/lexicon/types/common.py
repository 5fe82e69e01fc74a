"""Typed structs for the small shared lexicon objects: ``com.atproto.repo.strongRef``,
``com.atproto.label.defs#selfLabels`` and ``app.bsky.embed.defs#aspectRatio``."""

from __future__ import annotations

from typing import Annotated

import msgspec

from strato.lexicon.types._base import LexObject, text
from strato.syntax import is_at_uri, is_cid


class StrongRef(LexObject):
    """``com.atproto.repo.strongRef``: a record by AT-URI and CID."""

    uri: str
    cid: str

    def __post_init__(self) -> None:
        text(self.uri, "uri", check=is_at_uri, fmt="at-uri")
        text(self.cid, "cid", check=is_cid, fmt="cid")


class SelfLabel(LexObject):
    """``com.atproto.label.defs#selfLabel``."""

    val: str

    def __post_init__(self) -> None:
        text(self.val, "val", max_bytes=128)


class SelfLabels(LexObject, tag_field="$type", tag="com.atproto.label.defs#selfLabels"):
    """``com.atproto.label.defs#selfLabels``: labels an author puts on their own record."""

    values: Annotated[list[SelfLabel], msgspec.Meta(max_length=10)]


class AspectRatio(LexObject):
    """``app.bsky.embed.defs#aspectRatio``: width:height, both at least 1."""

    width: Annotated[int, msgspec.Meta(ge=1)]
    height: Annotated[int, msgspec.Meta(ge=1)]


LABELS: dict[str, type[LexObject]] = {"com.atproto.label.defs#selfLabels": SelfLabels}
