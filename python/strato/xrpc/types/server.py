"""``com.atproto.server.*``: describeServer, createAccount, the session methods, app passwords,
the account lifecycle (activation, status, deletion), service auth, reserved signing keys and
the email methods (confirmation, change, password reset)."""

from __future__ import annotations

from typing import Any

import msgspec

from strato.lexicon.types._base import LexObject, text
from strato.syntax import is_cid, is_datetime, is_did, is_handle, is_nsid, is_uri
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


class CreateAppPasswordInput(LexObject):
    """``com.atproto.server.createAppPassword`` input."""

    name: str
    privileged: bool | Unset = UNSET


class CreatedAppPassword(LexObject):
    """``com.atproto.server.createAppPassword#appPassword``: shown once, with the password."""

    name: str
    password: str
    created_at: str
    privileged: bool | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.created_at, "createdAt", check=is_datetime, fmt="datetime")


class ListedAppPassword(LexObject):
    """``com.atproto.server.listAppPasswords#appPassword``."""

    name: str
    created_at: str
    privileged: bool | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.created_at, "createdAt", check=is_datetime, fmt="datetime")


class ListAppPasswordsOutput(LexObject):
    """``com.atproto.server.listAppPasswords`` output."""

    passwords: list[ListedAppPassword]


class RevokeAppPasswordInput(LexObject):
    """``com.atproto.server.revokeAppPassword`` input."""

    name: str


class DeactivateAccountInput(LexObject):
    """``com.atproto.server.deactivateAccount`` input."""

    delete_after: str | Unset = UNSET

    def __post_init__(self) -> None:
        if self.delete_after is not UNSET:
            text(self.delete_after, "deleteAfter", check=is_datetime, fmt="datetime")


class CheckAccountStatusOutput(LexObject):
    """``com.atproto.server.checkAccountStatus`` output: what a migration has brought over."""

    activated: bool
    valid_did: bool
    repo_commit: str
    repo_rev: str
    repo_blocks: int
    indexed_records: int
    private_state_values: int
    expected_blobs: int
    imported_blobs: int

    def __post_init__(self) -> None:
        text(self.repo_commit, "repoCommit", check=is_cid, fmt="cid")


class DeleteAccountInput(LexObject):
    """``com.atproto.server.deleteAccount`` input: the account, its password and the emailed
    token."""

    did: str
    password: str
    token: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class GetServiceAuthParams(LexObject):
    """``com.atproto.server.getServiceAuth`` params."""

    aud: str
    exp: int | Unset = UNSET
    lxm: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.aud, "aud", max_bytes=2048)
        if self.lxm is not UNSET:
            text(self.lxm, "lxm", check=is_nsid, fmt="nsid")


class GetServiceAuthOutput(LexObject):
    """``com.atproto.server.getServiceAuth`` output."""

    token: str


class ReserveSigningKeyInput(LexObject):
    """``com.atproto.server.reserveSigningKey`` input."""

    did: str | Unset = UNSET

    def __post_init__(self) -> None:
        if self.did is not UNSET:
            text(self.did, "did", check=is_did, fmt="did")


class ReserveSigningKeyOutput(LexObject):
    """``com.atproto.server.reserveSigningKey`` output: the reserved key as a did:key."""

    signing_key: str


class ConfirmEmailInput(LexObject):
    """``com.atproto.server.confirmEmail`` input."""

    email: str
    token: str


class RequestEmailUpdateOutput(LexObject):
    """``com.atproto.server.requestEmailUpdate`` output."""

    token_required: bool


class UpdateEmailInput(LexObject):
    """``com.atproto.server.updateEmail`` input."""

    email: str
    email_auth_factor: bool | Unset = UNSET
    token: str | Unset = UNSET


class RequestPasswordResetInput(LexObject):
    """``com.atproto.server.requestPasswordReset`` input."""

    email: str


class ResetPasswordInput(LexObject):
    """``com.atproto.server.resetPassword`` input."""

    token: str
    password: str


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
    "com.atproto.server.createAppPassword": MethodTypes(
        "procedure", input=CreateAppPasswordInput, output=CreatedAppPassword
    ),
    "com.atproto.server.listAppPasswords": MethodTypes("query", output=ListAppPasswordsOutput),
    "com.atproto.server.revokeAppPassword": MethodTypes("procedure", input=RevokeAppPasswordInput),
    "com.atproto.server.activateAccount": MethodTypes("procedure"),
    "com.atproto.server.deactivateAccount": MethodTypes("procedure", input=DeactivateAccountInput),
    "com.atproto.server.checkAccountStatus": MethodTypes("query", output=CheckAccountStatusOutput),
    "com.atproto.server.requestAccountDelete": MethodTypes("procedure"),
    "com.atproto.server.deleteAccount": MethodTypes("procedure", input=DeleteAccountInput),
    "com.atproto.server.getServiceAuth": MethodTypes(
        "query", params=GetServiceAuthParams, output=GetServiceAuthOutput
    ),
    "com.atproto.server.reserveSigningKey": MethodTypes(
        "procedure", input=ReserveSigningKeyInput, output=ReserveSigningKeyOutput
    ),
    "com.atproto.server.requestEmailConfirmation": MethodTypes("procedure"),
    "com.atproto.server.confirmEmail": MethodTypes("procedure", input=ConfirmEmailInput),
    "com.atproto.server.requestEmailUpdate": MethodTypes(
        "procedure", output=RequestEmailUpdateOutput
    ),
    "com.atproto.server.updateEmail": MethodTypes("procedure", input=UpdateEmailInput),
    "com.atproto.server.requestPasswordReset": MethodTypes(
        "procedure", input=RequestPasswordResetInput
    ),
    "com.atproto.server.resetPassword": MethodTypes("procedure", input=ResetPasswordInput),
}
