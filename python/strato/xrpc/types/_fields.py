"""Field checks the XRPC structs share beyond :mod:`strato.lexicon.types._base`."""

from __future__ import annotations

from typing import Any

from strato.lexicon._invalid import FieldError, key_segment


def unknown(value: dict[str, Any], name: str) -> None:
    """An ``unknown`` field (typed ``dict[str, Any]``, so an object): not a blob, ``$bytes``
    or ``$link``."""
    if value.get("$type") == "blob":
        raise FieldError("a blob is not allowed where the type is unknown", key_segment(name))
    if "$bytes" in value or "$link" in value:
        raise FieldError(
            "bytes or a link are not allowed where the type is unknown", key_segment(name)
        )
