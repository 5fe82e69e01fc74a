"""``com.atproto.identity.*``: resolveHandle."""

from __future__ import annotations

from strato.lexicon.types._base import LexObject, text
from strato.syntax import is_did, is_handle
from strato.xrpc.method import MethodTypes


class ResolveHandleParams(LexObject):
    """``com.atproto.identity.resolveHandle`` params."""

    handle: str

    def __post_init__(self) -> None:
        text(self.handle, "handle", check=is_handle, fmt="handle")


class ResolveHandleOutput(LexObject):
    """``com.atproto.identity.resolveHandle`` output."""

    did: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


#: The methods of this namespace strato serves, with their types.
METHODS: dict[str, MethodTypes] = {
    "com.atproto.identity.resolveHandle": MethodTypes(
        "query", params=ResolveHandleParams, output=ResolveHandleOutput
    ),
}
