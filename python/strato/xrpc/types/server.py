"""``com.atproto.server.*``: describeServer and the session methods (createSession,
getSession, refreshSession, deleteSession)."""

from __future__ import annotations

from typing import Any

import msgspec

from strato.lexicon.types._base import LexObject, text
from strato.syntax import is_did, is_handle, is_uri
from strato.xrpc.method import MethodTypes
from strato.xrpc.types._fields import unknown

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class Links(LexObject):
    """``com.atproto.server.describeServer#links``: service policy documents."""

    privacy_policy: str | Unset = UNSET
    terms_of_service: str | Unset = UNSET

    def __post_init__(self) -> None:
        if self.privacy_policy is not UNSET:
            text(self.privacy_policy, "privacyPolicy", check=is_uri, fmt="uri")
        if self.terms_of_service is not UNSET:
            text(self.terms_of_service, "termsOfService", check=is_uri, fmt="uri")


class Contact(LexObject):
    """``com.atproto.server.describeServer#contact``."""

    email: str | Unset = UNSET


class DescribeServerOutput(LexObject):
    """``com.atproto.server.describeServer`` output."""

    did: str
    available_user_domains: list[str]
    invite_code_required: bool | Unset = UNSET
    phone_verification_required: bool | Unset = UNSET
    blob_upload_limit: int | Unset = UNSET
    links: Links | Unset = UNSET
    contact: Contact | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class CreateSessionInput(LexObject):
    """``com.atproto.server.createSession`` input: a handle, DID or email, and a password (or
    an app password)."""

    identifier: str
    password: str
    auth_factor_token: str | Unset = UNSET
    allow_takendown: bool | Unset = UNSET


class _Account(LexObject, kw_only=True):
    """The account fields the session outputs share."""

    handle: str
    did: str
    did_doc: dict[str, Any] | Unset = UNSET
    email: str | Unset = UNSET
    email_confirmed: bool | Unset = UNSET
    email_auth_factor: bool | Unset = UNSET
    active: bool | Unset = UNSET
    status: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.handle, "handle", check=is_handle, fmt="handle")
        text(self.did, "did", check=is_did, fmt="did")
        if self.did_doc is not UNSET:
            unknown(self.did_doc, "didDoc")


class CreateSessionOutput(_Account, kw_only=True):
    """``com.atproto.server.createSession`` output: the account and the session's tokens."""

    access_jwt: str
    refresh_jwt: str


class RefreshSessionOutput(_Account, kw_only=True):
    """``com.atproto.server.refreshSession`` output: the account and the new tokens."""

    access_jwt: str
    refresh_jwt: str


class GetSessionOutput(_Account):
    """``com.atproto.server.getSession`` output."""


class CreateAccountInput(LexObject):
    """``com.atproto.server.createAccount`` input. With ``did``, an existing identity moves
    here (service auth from the account proves it); without, a did:plc is created."""

    handle: str
    email: str | Unset = UNSET
    did: str | Unset = UNSET
    invite_code: str | Unset = UNSET
    verification_code: str | Unset = UNSET
    verification_phone: str | Unset = UNSET
    password: str | Unset = UNSET
    recovery_key: str | Unset = UNSET
    plc_op: dict[str, Any] | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.handle, "handle", check=is_handle, fmt="handle")
        if self.did is not UNSET:
            text(self.did, "did", check=is_did, fmt="did")
        if self.plc_op is not UNSET:
            unknown(self.plc_op, "plcOp")


class CreateAccountOutput(LexObject, kw_only=True):
    """``com.atproto.server.createAccount`` output: the new account's session."""

    access_jwt: str
    refresh_jwt: str
    handle: str
    did: str
    did_doc: dict[str, Any] | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.handle, "handle", check=is_handle, fmt="handle")
        text(self.did, "did", check=is_did, fmt="did")
        if self.did_doc is not UNSET:
            unknown(self.did_doc, "didDoc")


#: The methods of this namespace strato serves, with their types.
METHODS: dict[str, MethodTypes] = {
    "com.atproto.server.describeServer": MethodTypes("query", output=DescribeServerOutput),
    "com.atproto.server.createAccount": MethodTypes(
        "procedure", input=CreateAccountInput, output=CreateAccountOutput
    ),
    "com.atproto.server.createSession": MethodTypes(
        "procedure", input=CreateSessionInput, output=CreateSessionOutput
    ),
    "com.atproto.server.getSession": MethodTypes("query", output=GetSessionOutput),
    "com.atproto.server.refreshSession": MethodTypes("procedure", output=RefreshSessionOutput),
    "com.atproto.server.deleteSession": MethodTypes("procedure"),
}
