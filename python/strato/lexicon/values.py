"""Checks for the data-model values that have two spellings: bytes, CID links and blobs.

Data reaches the validators either as atproto JSON (``{"$bytes": "..."}``, ``{"$link": "..."}``,
blob objects whose ``ref`` is a ``$link``) or as data-model values (what
:func:`strato.dagcbor.decode` returns: ``bytes`` and :class:`strato.CID`). Each function here
accepts both and raises :class:`~strato.lexicon._invalid.FieldError` otherwise. :func:`check_data`
walks a value of type ``unknown`` to make sure it is a data-model value at all;
:func:`utf8_length` and :func:`graphemes` measure strings for the length rules.
"""

from __future__ import annotations

import binascii
from typing import Any

from strato import CID
from strato._core import grapheme_count
from strato.lexicon._invalid import FieldError, key_segment


def utf8_length(text: str) -> int:
    """The UTF-8 length of a string (a lone surrogate, which JSON can carry, is not text)."""
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        raise FieldError("string is not valid Unicode (lone surrogate)") from None


def graphemes(text: str) -> int:
    """The number of extended grapheme clusters in a string."""
    try:
        return grapheme_count(text)
    except UnicodeEncodeError:
        raise FieldError("string is not valid Unicode (lone surrogate)") from None


def byte_length(value: Any) -> int:
    """The length of a bytes value (``bytes`` or ``{"$bytes": base64}``)."""
    if isinstance(value, bytes):
        return len(value)
    if type(value) is dict and len(value) == 1:
        encoded = value.get("$bytes")
        if type(encoded) is str:
            try:
                return len(
                    binascii.a2b_base64(encoded + "=" * (-len(encoded) % 4), strict_mode=True)
                )
            except binascii.Error:
                raise FieldError("invalid base64 in $bytes") from None
    raise FieldError("expected bytes")


def check_cid_link(value: Any) -> CID:
    """The CID of a link (a :class:`CID` or ``{"$link": "<CID>"}``)."""
    if type(value) is CID:
        return value
    if type(value) is dict and len(value) == 1:
        text = value.get("$link")
        if type(text) is str:
            try:
                return CID.decode(text)
            except ValueError:
                raise FieldError("invalid CID in $link") from None
    raise FieldError("expected a CID link")


def check_blob(value: Any) -> tuple[str, int | None]:
    """The MIME type and size of a blob object (size ``None`` for the legacy form)."""
    if type(value) is not dict:
        raise FieldError("expected a blob")
    kind = value.get("$type")
    if kind == "blob":
        try:
            check_cid_link(value.get("ref"))
        except FieldError as err:
            raise FieldError(err.reason, ".ref") from None
        mime = value.get("mimeType")
        if type(mime) is not str or not mime:
            raise FieldError("a blob needs a mimeType", ".mimeType")
        size = value.get("size")
        if type(size) is not int or size < 0:
            raise FieldError("a blob size must be a non-negative integer", ".size")
        return mime, size
    if kind is None and "cid" in value:
        # legacy blob: {"cid": "<CID string>", "mimeType": "..."}, read-only
        text, mime = value.get("cid"), value.get("mimeType")
        if type(text) is not str:
            raise FieldError("a legacy blob cid must be a string", ".cid")
        try:
            CID.decode(text)
        except ValueError:
            raise FieldError("invalid CID in legacy blob", ".cid") from None
        if type(mime) is not str or not mime:
            raise FieldError("a blob needs a mimeType", ".mimeType")
        return mime, None
    raise FieldError("expected a blob")


def check_data(value: Any) -> None:
    """Check that a value is a data-model value (no floats, str keys, well-formed $-objects)."""
    kind = type(value)
    if kind in (str, int, bool, bytes, CID) or value is None:
        return
    if kind is list:
        for i, item in enumerate(value):
            try:
                check_data(item)
            except FieldError as err:
                err.segments.append(f"[{i}]")
                raise
        return
    if kind is dict:
        if "$link" in value:
            check_cid_link(value)
            return
        if "$bytes" in value:
            byte_length(value)
            return
        if "$type" in value and (type(value["$type"]) is not str or not value["$type"]):
            raise FieldError("$type must be a non-empty string", ".$type")
        for key, item in value.items():
            if type(key) is not str or not key:
                raise FieldError("object keys must be non-empty strings")
            try:
                check_data(item)
            except FieldError as err:
                err.segments.append(key_segment(key))
                raise
        return
    if kind is float:
        raise FieldError("floats are not allowed in the atproto data model")
    raise FieldError(f"{kind.__name__} is not a data-model value")
