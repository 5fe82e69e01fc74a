"""``com.atproto.identity.*``: resolveHandle, updateHandle, getRecommendedDidCredentials,
requestPlcOperationSignature, signPlcOperation and submitPlcOperation."""

from __future__ import annotations

from typing import Any

import msgspec

from strato.lexicon.types._base import LexObject, text
from strato.syntax import is_did, is_handle
from strato.xrpc.method import MethodTypes
from strato.xrpc.types._fields import unknown

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


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


class UpdateHandleInput(LexObject):
    """``com.atproto.identity.updateHandle`` input."""

    handle: str

    def __post_init__(self) -> None:
        text(self.handle, "handle", check=is_handle, fmt="handle")


class DidCredentials(LexObject):
    """``com.atproto.identity.getRecommendedDidCredentials`` output: the DID document fields
    this PDS needs (also the optional fields of ``signPlcOperation``'s input)."""

    rotation_keys: list[str] | Unset = UNSET
    also_known_as: list[str] | Unset = UNSET
    verification_methods: dict[str, Any] | Unset = UNSET
    services: dict[str, Any] | Unset = UNSET

    def __post_init__(self) -> None:
        if self.verification_methods is not UNSET:
            unknown(self.verification_methods, "verificationMethods")
        if self.services is not UNSET:
            unknown(self.services, "services")


class SignPlcOperationInput(DidCredentials):
    """``com.atproto.identity.signPlcOperation`` input: the emailed token and the fields to
    change."""

    token: str | Unset = UNSET


class SignPlcOperationOutput(LexObject):
    """``com.atproto.identity.signPlcOperation`` output."""

    operation: dict[str, Any]

    def __post_init__(self) -> None:
        unknown(self.operation, "operation")


class SubmitPlcOperationInput(LexObject):
    """``com.atproto.identity.submitPlcOperation`` input."""

    operation: dict[str, Any]

    def __post_init__(self) -> None:
        unknown(self.operation, "operation")


#: The methods of this namespace strato serves, with their types.
METHODS: dict[str, MethodTypes] = {
    "com.atproto.identity.resolveHandle": MethodTypes(
        "query", params=ResolveHandleParams, output=ResolveHandleOutput
    ),
    "com.atproto.identity.updateHandle": MethodTypes("procedure", input=UpdateHandleInput),
    "com.atproto.identity.getRecommendedDidCredentials": MethodTypes(
        "query", output=DidCredentials
    ),
    "com.atproto.identity.requestPlcOperationSignature": MethodTypes("procedure"),
    "com.atproto.identity.signPlcOperation": MethodTypes(
        "procedure", input=SignPlcOperationInput, output=SignPlcOperationOutput
    ),
    "com.atproto.identity.submitPlcOperation": MethodTypes(
        "procedure", input=SubmitPlcOperationInput
    ),
}
