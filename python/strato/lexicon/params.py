"""XRPC query parameters: decoding query-string values by their lexicon types, then checking them.

Parameters arrive as strings (``?limit=50&reverse=true``, a repeated name for an array). A
compiled params validator turns each declared parameter into its lexicon type (``"true"`` /
``"false"`` for booleans, a decimal for integers), fills in ``default`` values, checks
``required`` and every constraint with the same field validators records use, and returns the
decoded mapping. Values that are already typed (a Python ``int``, ``bool`` or list) are taken
as they are. Parameters the lexicon does not declare are left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from strato.lexicon._invalid import FieldError, key_segment
from strato.lexicon.codegen import Check
from strato.lexicon.codegen import Source as Resolver
from strato.lexicon.compiler import compile_def

ParamsCheck = Callable[[Mapping[str, Any]], dict[str, Any]]

_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


def compile_params(definition: dict[str, Any] | None, nsid: str, resolver: Resolver) -> ParamsCheck:
    """The validator for a ``params`` def (``None``: a method that takes no parameters)."""
    properties = definition["properties"] if definition else {}
    required = frozenset(definition.get("required", ())) if definition else frozenset()
    fields: list[tuple[str, Callable[[Any], Any], Check, bool, Any]] = []
    for name, field in properties.items():
        decode = _decoder(field)
        fields.append(
            (
                name,
                decode,
                compile_def(field, nsid, resolver),
                name in required,
                field.get("default"),
            )
        )

    def check(params: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, decode, field_check, is_required, default in fields:
            raw = params.get(name)
            if raw is None:
                if default is not None:
                    result[name] = default
                elif is_required:
                    raise FieldError(f"required parameter {name!r} is missing")
                continue
            try:
                value = decode(raw)
                field_check(value)
            except FieldError as err:
                err.segments.append(key_segment(name))
                raise
            result[name] = value
        return result

    return check


def _decoder(field: dict[str, Any]) -> Callable[[Any], Any]:
    if field["type"] == "array":
        item = _SCALARS[field["items"]["type"]]

        def array(raw: Any) -> list[Any]:
            values = list(raw) if isinstance(raw, list | tuple) else [raw]
            return [item(v) for v in values]

        return array
    return _SCALARS[field["type"]]


def _boolean(raw: Any) -> Any:
    if raw == "true":
        return True
    if raw == "false":
        return False
    return raw


def _integer(raw: Any) -> Any:
    if type(raw) is str:
        if _INTEGER.fullmatch(raw) is None:
            raise FieldError("expected an integer")
        return int(raw)
    return raw


def _as_is(raw: Any) -> Any:
    return raw


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "boolean": _boolean,
    "integer": _integer,
    "string": _as_is,
    "unknown": _as_is,
}
