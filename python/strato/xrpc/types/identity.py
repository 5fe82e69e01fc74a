"""``com.atproto.identity.*``: resolveHandle, updateHandle, getRecommendedDidCredentials,
requestPlcOperationSignature, signPlcOperation, submitPlcOperation, resolveDid,
resolveIdentity and refreshIdentity."""

from __future__ import annotations

from typing import Any

import msgspec

from strato.lexicon.types._base import LexObject, text
from strato.syntax import is_at_identifier, is_did, is_handle
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


class ResolveDidParams(LexObject):
    """``com.atproto.identity.resolveDid`` params."""

    did: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class ResolveDidOutput(LexObject):
    """``com.atproto.identity.resolveDid`` output."""

    did_doc: dict[str, Any]

    def __post_init__(self) -> None:
        unknown(self.did_doc, "didDoc")


class ResolveIdentityParams(LexObject):
    """``com.atproto.identity.resolveIdentity`` params."""

    identifier: str

    def __post_init__(self) -> None:
        text(self.identifier, "identifier", check=is_at_identifier, fmt="at-identifier")


class RefreshIdentityInput(LexObject):
    """``com.atproto.identity.refreshIdentity`` input."""

    identifier: str

    def __post_init__(self) -> None:
        text(self.identifier, "identifier", check=is_at_identifier, fmt="at-identifier")


class IdentityInfo(LexObject):
    """``com.atproto.identity.defs#identityInfo``: a DID, its handle if verified both ways
    (else ``handle.invalid``) and its document."""

    did: str
    handle: str
    did_doc: dict[str, Any]

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        text(self.handle, "handle", check=is_handle, fmt="handle")
        unknown(self.did_doc, "didDoc")


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
    "com.atproto.identity.resolveDid": MethodTypes(
        "query", params=ResolveDidParams, output=ResolveDidOutput
    ),
    "com.atproto.identity.resolveIdentity": MethodTypes(
        "query", params=ResolveIdentityParams, output=IdentityInfo
    ),
    "com.atproto.identity.refreshIdentity": MethodTypes(
        "procedure", input=RefreshIdentityInput, output=IdentityInfo
    ),
}
