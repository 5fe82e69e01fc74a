"""Query parameters into a params struct: decode the query string by the struct's field types,
then build the struct (which checks every constraint and format) in one step.

Parameters are strings on the wire (spec: XRPC, "Lexicon HTTP Endpoints"): an integer is a
decimal (``-?(0|[1-9][0-9]*)``) in the data model's signed 64-bit range (then the lexicon's
``minimum`` and ``maximum``), a boolean ``true`` or ``false``, an array a repeated name
(``?cids=a&cids=b``). An empty value (``?cursor=``) is no value, as the reference reads it: an
optional parameter given empty is absent, an empty item of an array is dropped. A scalar given
twice is an error; parameters the struct does not declare are ignored, as the reference does.
Failures raise :class:`strato.errors.LexiconValidationError` with the path of the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import msgspec.inspect as mi
from starlette.datastructures import QueryParams

from strato.datamodel import to_int64
from strato.errors import DataModelError, LexiconValidationError
from strato.lexicon.types._base import convert

_INTEGER: Final = re.compile(r"-?(0|[1-9][0-9]*)")


class ParamError(LexiconValidationError):
    """A query parameter that cannot be decoded to its declared type."""


def _integer(name: str, raw: str) -> int:
    if _INTEGER.fullmatch(raw) is None:
        raise ParamError("expected an integer", f"$.{name}")
    try:
        return to_int64(raw)
    except DataModelError as err:
        raise ParamError(err.reason, f"$.{name}") from None


def _boolean(name: str, raw: str) -> bool:
    if raw == "true":
        return True
    if raw == "false":
        return False
    raise ParamError("expected a boolean", f"$.{name}")


def _string(name: str, raw: str) -> str:
    return raw


def _scalar(info: Any, where: str) -> Callable[[str, str], Any]:
    if isinstance(info, mi.IntType):
        return _integer
    if isinstance(info, mi.BoolType):
        return _boolean
    if isinstance(info, mi.StrType):
        return _string
    raise TypeError(f"{where}: a query parameter is an integer, boolean, string or array")


class ParamsDecoder:
    """Decodes query strings into ``struct`` (a :class:`msgspec.Struct` of scalar and list
    fields, built once per method)."""

    def __init__(self, struct: type[Any]) -> None:
        info = mi.type_info(struct)
        if not isinstance(info, mi.StructType):
            raise TypeError(f"{struct!r} is not a msgspec struct")
        self.struct = struct
        self._fields: list[tuple[str, bool, Callable[[str, str], Any]]] = []
        for field in info.fields:
            kind = field.type
            where = f"{struct.__name__}.{field.name}"
            if isinstance(kind, mi.ListType):
                self._fields.append((field.encode_name, True, _scalar(kind.item_type, where)))
            else:
                self._fields.append((field.encode_name, False, _scalar(kind, where)))

    def decode(self, query: QueryParams) -> Any:
        """The struct for ``query``; raises :class:`LexiconValidationError`."""
        values: dict[str, Any] = {}
        for name, is_list, decode in self._fields:
            raw = [item for item in query.getlist(name) if item]
            if not raw:
                continue
            if is_list:
                values[name] = [decode(name, item) for item in raw]
            elif len(raw) > 1:
                raise ParamError("expected a single value", f"$.{name}")
            else:
                values[name] = decode(name, raw[0])
        return convert(values, self.struct)
