"""What the typed lexicon structs share: struct bases, conversion with lexicon errors, and the
checks msgspec constraints cannot express.

msgspec checks JSON types, required fields, integer bounds and array lengths while it builds a
struct. The rest of the lexicon rules run in each struct's ``__post_init__`` through the helpers
here: string lengths in UTF-8 bytes and graphemes, string formats, blobs (typed and legacy) with
their ``accept`` and ``maxSize``, and open unions (a known ``$type`` becomes its struct, an
unknown one stays a dict). Links are accepted as :class:`strato.CID` or ``{"$link": ...}`` and
always come out as :class:`strato.CID`.

Optional fields default to :data:`msgspec.UNSET`, so an explicit ``null`` for a non-nullable
field is rejected as the lexicon requires.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from strato import CID
from strato.errors import LexiconValidationError
from strato.lexicon._invalid import FieldError, key_segment
from strato.lexicon.values import graphemes, utf8_length

T = TypeVar("T")

# bytes are native in the data model: a str is never base64-decoded into a bytes field
_NATIVE = (bytes,)
_MSGSPEC_PATH = re.compile(r"^(?P<reason>.*) - at `(?P<path>\$[^`]*)`$", re.DOTALL)


class LexObject(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """Base of every lexicon object struct: lexicon field names are camelCase on the wire."""


class Blob(
    msgspec.Struct, kw_only=True, rename="camel", tag_field="$type", tag="blob", frozen=True
):
    """A blob reference: ``ref`` (a raw CID), ``mimeType``, ``size`` in bytes."""

    ref: CID
    mime_type: str
    size: int


class LegacyBlob(msgspec.Struct, kw_only=True, rename="camel", frozen=True):
    """The legacy blob form, read-only: ``{"cid": "<CID>", "mimeType": "..."}``, no size."""

    cid: str
    mime_type: str


def dec_hook(kind: type, obj: Any) -> Any:
    """msgspec hook for :class:`CID` fields: a CID passes, ``{"$link": "<CID>"}`` is parsed."""
    if isinstance(obj, kind):
        return obj
    if kind is CID and type(obj) is dict and len(obj) == 1 and type(obj.get("$link")) is str:
        return CID.decode(obj["$link"])
    raise TypeError("expected a CID link" if kind is CID else f"expected a {kind.__name__}")


def convert(data: Any, cls: type[T]) -> T:
    """Build ``cls`` from data-model values or atproto JSON, raising
    :class:`LexiconValidationError` with the path of the failing field."""
    try:
        return msgspec.convert(data, cls, dec_hook=dec_hook, builtin_types=_NATIVE)
    except msgspec.ValidationError as err:
        raise lexicon_error(err) from None


def lexicon_error(err: msgspec.ValidationError) -> LexiconValidationError:
    """The lexicon error for a msgspec validation error (the path is msgspec's, plus the
    segments a ``__post_init__`` check added)."""
    match = _MSGSPEC_PATH.match(str(err))
    reason, path = (match["reason"], match["path"]) if match else (str(err), "$")
    cause = err.__cause__
    if isinstance(cause, FieldError):
        return LexiconValidationError(cause.reason, path + "".join(reversed(cause.segments)))
    return LexiconValidationError(_reason(reason), path)


_TYPE_NAMES = {
    "str": "a string",
    "int": "an integer",
    "bool": "a boolean",
    "object": "an object",
    "array": "an array",
    "bytes": "bytes",
    "null": "null",
}
_EXPECTED_TYPE = re.compile(r"Expected `(\w+)(?: \| null)?`(?:, got `[\w |]+`)?")
_BOUND = re.compile(r"Expected `(\w+)` (?:of length )?([<>]=) (-?\d+)")
_MISSING_FIELD = re.compile(r"Object missing required field `(.*)`")
_BOUND_WORDS = {
    ("int", ">="): "must be at least {}",
    ("int", "<="): "must be at most {}",
    ("array", ">="): "must have at least {} items",
    ("array", "<="): "must have at most {} items",
    ("bytes", ">="): "must be at least {} bytes long",
    ("bytes", "<="): "must be at most {} bytes long",
}


def _reason(message: str) -> str:
    """msgspec's wording turned into the generic engine's, so both paths explain alike."""
    if match := _BOUND.fullmatch(message):
        words = _BOUND_WORDS.get((match[1], match[2]))
        if words:
            return words.format(match[3])
    if match := _EXPECTED_TYPE.fullmatch(message):
        name = _TYPE_NAMES.get(match[1])
        if name:
            return f"expected {name}"
    if match := _MISSING_FIELD.fullmatch(message):
        return f"required field {match[1]!r} is missing"
    return message[:1].lower() + message[1:]


def nested(data: Any, cls: type[T], *segments: str) -> T:
    """Build ``cls`` inside a ``__post_init__``; failures carry the path below ``segments``."""
    try:
        return msgspec.convert(data, cls, dec_hook=dec_hook, builtin_types=_NATIVE)
    except msgspec.ValidationError as err:
        inner = lexicon_error(err)
        raise FieldError(inner.reason, inner.path[1:], *reversed(segments)) from None


def text(
    value: str,
    name: str,
    *,
    max_bytes: int | None = None,
    max_graphemes: int | None = None,
    min_bytes: int = 0,
    check: Callable[[str], bool] | None = None,
    fmt: str = "",
) -> None:
    """Check a string field's UTF-8 length, grapheme count and format."""
    try:
        _text(
            value,
            max_bytes=max_bytes,
            max_graphemes=max_graphemes,
            min_bytes=min_bytes,
            check=check,
            fmt=fmt,
        )
    except FieldError as err:
        err.segments.append(key_segment(name))
        raise


def _text(
    value: str,
    *,
    max_bytes: int | None,
    max_graphemes: int | None,
    min_bytes: int,
    check: Callable[[str], bool] | None,
    fmt: str,
) -> None:
    n = len(value)
    if (min_bytes and n < min_bytes) or (max_bytes is not None and n > max_bytes // 4):
        size = utf8_length(value)
        if size < min_bytes:
            raise FieldError(f"must be at least {min_bytes} bytes long")
        if max_bytes is not None and size > max_bytes:
            raise FieldError(f"must be at most {max_bytes} bytes long")
    if max_graphemes is not None and n > max_graphemes and graphemes(value) > max_graphemes:
        raise FieldError(f"must be at most {max_graphemes} graphemes long")
    if check is not None and not check(value):
        raise FieldError(f"must be a valid {fmt}")


def each_text(
    values: list[str], name: str, check: Callable[[str], bool], fmt: str, **limits: Any
) -> None:
    """:func:`text` for every item of a string array."""
    for i, value in enumerate(values):
        try:
            text(value, "", check=check, fmt=fmt, **limits)
        except FieldError as err:
            err.segments[0] = f"[{i}]"
            err.segments.append(key_segment(name))
            raise


def blob(value: Any, name: str, accept: tuple[str, ...], max_size: int | None) -> Blob | LegacyBlob:
    """A blob field (typed or legacy form) checked against ``accept`` globs and ``max_size``."""
    if type(value) is dict and "$type" not in value and "cid" in value:
        legacy = nested(value, LegacyBlob, key_segment(name))
        try:
            CID.decode(legacy.cid)
        except ValueError:
            raise FieldError("invalid CID in legacy blob", ".cid", key_segment(name)) from None
        mime = legacy.mime_type
        result: Blob | LegacyBlob = legacy
        size = None
    else:
        if type(value) is not dict or value.get("$type") != "blob":
            raise FieldError("expected a blob", key_segment(name))
        typed = nested(value, Blob, key_segment(name))
        mime, size, result = typed.mime_type, typed.size, typed
        if size < 0:
            raise FieldError(
                "a blob size must be a non-negative integer", ".size", key_segment(name)
            )
    if not mime:
        raise FieldError("a blob needs a mimeType", ".mimeType", key_segment(name))
    if accept and not any(
        glob in ("*/*", mime) or (glob.endswith("/*") and mime.startswith(glob[:-1]))
        for glob in accept
    ):
        raise FieldError(
            f"blob type {mime!r} is not accepted ({', '.join(accept)})", key_segment(name)
        )
    if max_size is not None and size is not None and size > max_size:
        raise FieldError(
            f"blob is {size} bytes, more than the maximum {max_size}", key_segment(name)
        )
    return result


def variant(value: Any, name: str, variants: Mapping[str, type[Any]]) -> Any:
    """An open-union field: a known ``$type`` becomes its struct, an unknown one stays a dict."""
    if type(value) is not dict:
        raise FieldError("expected an object (a union variant)", key_segment(name))
    kind = value.get("$type")
    if type(kind) is not str or not kind:
        raise FieldError("a union variant needs a $type", key_segment(name))
    cls = variants.get(kind.removesuffix("#main"))
    if cls is None:
        return value
    if kind.endswith("#main"):
        value = {**value, "$type": kind[:-5]}
    return nested(value, cls, key_segment(name))


def variants(values: list[Any], name: str, kinds: Mapping[str, type[Any]]) -> list[Any]:
    """:func:`variant` for every item of an array of open-union values."""
    result = []
    for i, value in enumerate(values):
        try:
            result.append(variant(value, "", kinds))
        except FieldError as err:
            err.segments[-1] = f"[{i}]"
            err.segments.append(key_segment(name))
            raise
    return result


def referenced(value: Any, name: str, cls: type[T]) -> T:
    """An object reached through a plain ref, built as ``cls`` whatever ``$type`` it carries
    (only union variants are dispatched on ``$type``)."""
    if type(value) is dict and "$type" in value:
        value = {key: item for key, item in value.items() if key != "$type"}
    return nested(value, cls, key_segment(name))
