"""``app.bsky.actor.*`` methods the PDS serves itself: getPreferences and putPreferences.

A preference is an open-union item (``app.bsky.actor.defs#preferences``): an object with a
``$type``; its fields are the client's business and are kept as sent."""

from __future__ import annotations

from typing import Any

from strato.lexicon._invalid import FieldError, key_segment
from strato.lexicon.types._base import LexObject
from strato.xrpc.method import MethodTypes
from strato.xrpc.types._fields import unknown


def _preferences(value: Any, name: str) -> list[dict[str, Any]]:
    if type(value) is not list:
        raise FieldError("expected an array", key_segment(name))
    for i, item in enumerate(value):
        if type(item) is not dict:
            raise FieldError("expected an object (a union variant)", f"[{i}]", key_segment(name))
        kind = item.get("$type")
        if type(kind) is not str or not kind:
            raise FieldError("a union variant needs a $type", f"[{i}]", key_segment(name))
        unknown(item, "")
    return value


class _Preferences(LexObject):
    #: Typed loosely (resolved in ``__post_init__``): a list of preference objects.
    preferences: Any

    def __post_init__(self) -> None:
        self.preferences = _preferences(self.preferences, "preferences")


class GetPreferencesOutput(_Preferences):
    """``app.bsky.actor.getPreferences`` output."""


class PutPreferencesInput(_Preferences):
    """``app.bsky.actor.putPreferences`` input."""


#: The methods of this namespace strato serves, with their types.
METHODS: dict[str, MethodTypes] = {
    "app.bsky.actor.getPreferences": MethodTypes("query", output=GetPreferencesOutput),
    "app.bsky.actor.putPreferences": MethodTypes("procedure", input=PutPreferencesInput),
}
