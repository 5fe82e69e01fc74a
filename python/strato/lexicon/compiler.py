"""Compiling lexicon defs into validators: each def is turned into one Python function, once.

A validator is ``check(value) -> None`` that raises :class:`~strato.lexicon._invalid.FieldError`.
The schema dict is read only here, at compile time; a record is then checked by plain calls and
comparisons. Paths are added on the way out of a failure, so valid data builds no strings.
Objects get generated functions (:mod:`strato.lexicon.codegen`); the other types are closures.

Refs are resolved lazily through a :class:`Resolver` (the catalog): a ref to a document that is
not loaded yet fails only when data reaches it, and documents added later are picked up.

Rules worth knowing (lexicon spec, "Data validation"): string lengths count UTF-8 bytes and
graphemes count extended grapheme clusters; unexpected object fields are ignored; every union
variant carries ``$type`` (open unions accept unknown ones, closed unions do not); objects
reached through a plain ref need no ``$type``; ``unknown`` is any object that is not a blob or
a ``$bytes``/``$link`` value; ``knownValues`` never restricts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strato.lexicon._invalid import FieldError
from strato.lexicon.codegen import Check, normalize_ref, object_validator
from strato.lexicon.codegen import Source as Resolver
from strato.lexicon.values import (
    byte_length,
    check_blob,
    check_cid_link,
    check_data,
    graphemes,
    utf8_length,
)
from strato.syntax import FORMAT_CHECKS


def compile_def(definition: dict[str, Any], nsid: str, resolver: Resolver, ref: str = "") -> Check:
    """The validator for a def (``ref`` names it, if it is a named def) or a field; a record
    def checks its record object, an object def gets a generated function
    (:mod:`strato.lexicon.codegen`)."""
    kind = definition["type"]
    if kind == "record":
        return compile_def(definition["record"], nsid, resolver, ref)
    if kind == "object":
        return object_validator(definition, nsid, ref, resolver)
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise FieldError(f"a {kind} def cannot describe data")
    return builder(definition, nsid, resolver)


def compile_token(full_name: str) -> Check:
    """The validator for a ref to a token: the value must be the token's full name."""

    def check(value: Any) -> None:
        if value != full_name:
            raise FieldError(f"must be the token {full_name!r}")

    return check


def _null(definition: dict[str, Any], nsid: str, resolver: Resolver) -> Check:
    def check(value: Any) -> None:
        if value is not None:
            raise FieldError("expected null")

    return check


def _boolean(definition: dict[str, Any], nsid: str, resolver: Resolver) -> Check:
    const = definition.get("const")

    def check(value: Any) -> None:
        if type(value) is not bool:
            raise FieldError("expected a boolean")
        if const is not None and value is not const:
            raise FieldError(f"must be {str(const).lower()}")

    return check


def _integer(definition: dict[str, Any], nsid: str, resolver: Resolver) -> Check:
    const = definition.get("const")
    enum = frozenset(definition["enum"]) if "enum" in definition else None
    minimum = definition.get("minimum")
    maximum = definition.get("maximum")
    if const is None and enum is None and minimum is None and maximum is None:

        def plain(value: Any) -> None:
            if type(value) is not int:
                raise FieldError("expected an integer")

        return plain

    def check(value: Any) -> None:
        if type(value) is not int:
            raise FieldError("expected an integer")
        if const is not None and value != const:
            raise FieldError(f"must be {const}")
        if enum is not None and value not in enum:
            raise FieldError(f"must be one of {sorted(enum)}")
        if minimum is not None and value < minimum:
            raise FieldError(f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise FieldError(f"must be at most {maximum}")

    return check


def _string(definition: dict[str, Any], nsid: str, resolver: Resolver) -> Check:
    const = definition.get("const")
    enum = frozenset(definition["enum"]) if "enum" in definition else None
    min_len = definition.get("minLength", 0)
    max_len = definition.get("maxLength")
    min_gr = definition.get("minGraphemes", 0)
    max_gr = definition.get("maxGraphemes")
    fmt: str = definition.get("format", "")
    fmt_check = FORMAT_CHECKS[fmt] if fmt else None
    # every code point is 1-4 UTF-8 bytes and at least a part of one grapheme
    quick_max = max_len // 4 if max_len is not None else None

    if all(x is None for x in (const, enum, max_len, max_gr)) and not (min_len or min_gr):
        return _plain_string if fmt_check is None else _format_only(fmt_check, fmt)

    def check(value: Any) -> None:
        if type(value) is not str:
            raise FieldError("expected a string")
        if const is not None and value != const:
            raise FieldError(f"must be {const!r}")
        if enum is not None and value not in enum:
            raise FieldError(f"must be one of {sorted(enum)}")
        n = len(value)
        if (min_len and n < min_len) or (quick_max is not None and n > quick_max):
            size = utf8_length(value)
            if size < min_len:
                raise FieldError(f"must be at least {min_len} bytes long")
            if max_len is not None and size > max_len:
                raise FieldError(f"must be at most {max_len} bytes long")
        if min_gr and (n < min_gr or graphemes(value) < min_gr):
            raise FieldError(f"must be at least {min_gr} graphemes long")
        if max_gr is not None and n > max_gr and graphemes(value) > max_gr:
            raise FieldError(f"must be at most {max_gr} graphemes long")
        if fmt_check is not None and not fmt_check(value):
            raise FieldError(f"must be a valid {fmt}")

    return check


def _plain_string(value: Any) -> None:
    if type(value) is not str:
        raise FieldError("expected a string")


def _format_only(fmt_check: Callable[[str], bool], fmt: str) -> Check:
    def check(value: Any) -> None:
        if type(value) is not str:
            raise FieldError("expected a string")
        if not fmt_check(value):
            raise FieldError(f"must be a valid {fmt}")

    return check


def _bytes(definition: dict[str, Any], nsid: str, resolver: Resolver) -> Check:
    min_len = definition.get("minLength", 0)
    max_len = definition.get("maxLength")

    def check(value: Any) -> None:
        size = byte_length(value)
        if size < min_len:
            raise FieldError(f"must be at least {min_len} bytes long")
        if max_len is not None and size > max_len:
            raise FieldError(f"must be at most {max_len} bytes long")

    return check


def _cid_link(definition: dict[str, Any], nsid: str, resolver: Resolver) -> Check:
    def check(value: Any) -> None:
        check_cid_link(value)

    return check


def _blob(definition: dict[str, Any], nsid: str, resolver: Resolver) -> Check:
    accept = definition.get("accept")
    exact = frozenset(a for a in accept or () if not a.endswith("/*"))
    prefixes = tuple(a[:-1] for a in accept or () if a.endswith("/*") and a != "*/*")
    any_type = accept is None or "*/*" in accept
    max_size = definition.get("maxSize")

    def check(value: Any) -> None:
        mime, size = check_blob(value)
        if not any_type and mime not in exact and not mime.startswith(prefixes):
            raise FieldError(f"blob type {mime!r} is not accepted ({', '.join(accept or ())})")
        if max_size is not None and size is not None and size > max_size:
            raise FieldError(f"blob is {size} bytes, more than the maximum {max_size}")

    return check


def _array(definition: dict[str, Any], nsid: str, resolver: Resolver) -> Check:
    item = compile_def(definition["items"], nsid, resolver)
    min_len = definition.get("minLength", 0)
    max_len = definition.get("maxLength")

    def check(value: Any) -> None:
        if type(value) is not list:
            raise FieldError("expected an array")
        if len(value) < min_len:
            raise FieldError(f"must have at least {min_len} items")
        if max_len is not None and len(value) > max_len:
            raise FieldError(f"must have at most {max_len} items")
        i = 0
        try:
            for i, element in enumerate(value):  # noqa: B007 - i names the failing item
                item(element)
        except FieldError as err:
            err.segments.append(f"[{i}]")
            raise

    return check


def _ref(definition: dict[str, Any], nsid: str, resolver: Resolver) -> Check:
    target = normalize_ref(definition["ref"], nsid)
    resolve = resolver.resolve
    lookup = resolver.lookup

    def check(value: Any) -> None:
        (lookup(target) or resolve(target))(value)

    return check


def _union(definition: dict[str, Any], nsid: str, resolver: Resolver) -> Check:
    refs = tuple(normalize_ref(ref, nsid) for ref in definition["refs"])
    known = frozenset(refs)
    closed = definition.get("closed", False)
    resolve = resolver.resolve
    lookup = resolver.lookup

    def check(value: Any) -> None:
        if type(value) is not dict:
            raise FieldError("expected an object (a union variant)")
        kind = value.get("$type")
        if type(kind) is not str or not kind:
            raise FieldError("a union variant needs a $type")
        kind = kind.removesuffix("#main")
        if kind in known:
            (lookup(kind) or resolve(kind))(value)
        elif closed:
            raise FieldError(f"$type {kind!r} is not one of {', '.join(refs)}")

    return check


def _unknown(definition: dict[str, Any], nsid: str, resolver: Resolver) -> Check:
    def check(value: Any) -> None:
        if type(value) is not dict:
            raise FieldError("expected an object")
        if value.get("$type") == "blob":
            raise FieldError("a blob is not allowed where the type is unknown")
        if "$bytes" in value or "$link" in value:
            raise FieldError("bytes or a link are not allowed where the type is unknown")
        check_data(value)

    return check


_BUILDERS: dict[str, Callable[[dict[str, Any], str, Resolver], Check]] = {
    "null": _null,
    "boolean": _boolean,
    "integer": _integer,
    "string": _string,
    "bytes": _bytes,
    "cid-link": _cid_link,
    "blob": _blob,
    "array": _array,
    "ref": _ref,
    "union": _union,
    "unknown": _unknown,
}
