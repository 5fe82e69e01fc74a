"""``com.atproto.admin.*``: subject status (takedowns), account views and changes, invite
management; and the ``com.atproto.admin.defs`` objects they share."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from strato.lexicon.types._base import LexObject, each_text, text, variant
from strato.syntax import is_at_identifier, is_at_uri, is_cid, is_datetime, is_did, is_handle
from strato.xrpc.method import MethodTypes
from strato.xrpc.types._fields import unknown
from strato.xrpc.types.invites import InviteCode

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class StatusAttr(LexObject):
    """``com.atproto.admin.defs#statusAttr``: whether a status applies, and its reference."""

    applied: bool
    ref: str | Unset = UNSET


class RepoRef(LexObject, tag_field="$type", tag="com.atproto.admin.defs#repoRef"):
    """``com.atproto.admin.defs#repoRef``: an account."""

    did: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class RecordRef(LexObject, tag_field="$type", tag="com.atproto.repo.strongRef"):
    """``com.atproto.repo.strongRef`` as a subject: a record."""

    uri: str
    cid: str

    def __post_init__(self) -> None:
        text(self.uri, "uri", check=is_at_uri, fmt="at-uri")
        text(self.cid, "cid", check=is_cid, fmt="cid")


class RepoBlobRef(LexObject, tag_field="$type", tag="com.atproto.admin.defs#repoBlobRef"):
    """``com.atproto.admin.defs#repoBlobRef``: a blob of an account."""

    did: str
    cid: str
    record_uri: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        text(self.cid, "cid", check=is_cid, fmt="cid")
        if self.record_uri is not UNSET:
            text(self.record_uri, "recordUri", check=is_at_uri, fmt="at-uri")


#: The subject union's variants by ``$type``.
SUBJECTS: dict[str, type[Any]] = {
    "com.atproto.admin.defs#repoRef": RepoRef,
    "com.atproto.repo.strongRef": RecordRef,
    "com.atproto.admin.defs#repoBlobRef": RepoBlobRef,
}


def _subject(value: Any) -> Any:
    """A subject built in code passes; an object is built by its ``$type``."""
    if isinstance(value, RepoRef | RecordRef | RepoBlobRef):
        return value
    return variant(value, "subject", SUBJECTS)


class UpdateSubjectStatusInput(LexObject):
    """``com.atproto.admin.updateSubjectStatus`` input."""

    #: One of :data:`SUBJECTS` (an unknown ``$type`` stays a dict); resolved in __post_init__.
    subject: Any
    takedown: StatusAttr | Unset = UNSET
    deactivated: StatusAttr | Unset = UNSET

    def __post_init__(self) -> None:
        self.subject = _subject(self.subject)


class UpdateSubjectStatusOutput(LexObject):
    """``com.atproto.admin.updateSubjectStatus`` output."""

    subject: Any
    takedown: StatusAttr | Unset = UNSET

    def __post_init__(self) -> None:
        self.subject = _subject(self.subject)


class GetSubjectStatusParams(LexObject):
    """``com.atproto.admin.getSubjectStatus`` params."""

    did: str | Unset = UNSET
    uri: str | Unset = UNSET
    blob: str | Unset = UNSET

    def __post_init__(self) -> None:
        if self.did is not UNSET:
            text(self.did, "did", check=is_did, fmt="did")
        if self.uri is not UNSET:
            text(self.uri, "uri", check=is_at_uri, fmt="at-uri")
        if self.blob is not UNSET:
            text(self.blob, "blob", check=is_cid, fmt="cid")


class GetSubjectStatusOutput(LexObject):
    """``com.atproto.admin.getSubjectStatus`` output."""

    subject: Any
    takedown: StatusAttr | Unset = UNSET
    deactivated: StatusAttr | Unset = UNSET

    def __post_init__(self) -> None:
        self.subject = _subject(self.subject)


class ThreatSignature(LexObject):
    """``com.atproto.admin.defs#threatSignature``."""

    property: str
    value: str


class AccountView(LexObject, kw_only=True):
    """``com.atproto.admin.defs#accountView``."""

    did: str
    handle: str
    email: str | Unset = UNSET
    related_records: list[dict[str, Any]] | Unset = UNSET
    indexed_at: str
    invited_by: InviteCode | Unset = UNSET
    invites: list[InviteCode] | Unset = UNSET
    invites_disabled: bool | Unset = UNSET
    email_confirmed_at: str | Unset = UNSET
    invite_note: str | Unset = UNSET
    deactivated_at: str | Unset = UNSET
    threat_signatures: list[ThreatSignature] | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        text(self.handle, "handle", check=is_handle, fmt="handle")
        text(self.indexed_at, "indexedAt", check=is_datetime, fmt="datetime")
        if self.related_records is not UNSET:
            for record in self.related_records:
                unknown(record, "relatedRecords")
        for name in ("email_confirmed_at", "deactivated_at"):
            value = getattr(self, name)
            if value is not UNSET:
                camel = "emailConfirmedAt" if name == "email_confirmed_at" else "deactivatedAt"
                text(value, camel, check=is_datetime, fmt="datetime")


class GetAccountInfoParams(LexObject):
    """``com.atproto.admin.getAccountInfo`` params."""

    did: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class GetAccountInfosParams(LexObject):
    """``com.atproto.admin.getAccountInfos`` params."""

    dids: list[str]

    def __post_init__(self) -> None:
        each_text(self.dids, "dids", is_did, "did")


class GetAccountInfosOutput(LexObject):
    """``com.atproto.admin.getAccountInfos`` output."""

    infos: list[AccountView]


class UpdateAccountHandleInput(LexObject):
    """``com.atproto.admin.updateAccountHandle`` input."""

    did: str
    handle: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        text(self.handle, "handle", check=is_handle, fmt="handle")


class UpdateAccountEmailInput(LexObject):
    """``com.atproto.admin.updateAccountEmail`` input."""

    account: str
    email: str

    def __post_init__(self) -> None:
        text(self.account, "account", check=is_at_identifier, fmt="at-identifier")


class UpdateAccountPasswordInput(LexObject):
    """``com.atproto.admin.updateAccountPassword`` input."""

    did: str
    password: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class DeleteAccountInput(LexObject):
    """``com.atproto.admin.deleteAccount`` input."""

    did: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class AccountInvitesInput(LexObject):
    """``com.atproto.admin.enableAccountInvites`` / ``disableAccountInvites`` input."""

    account: str
    note: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.account, "account", check=is_did, fmt="did")


class DisableInviteCodesInput(LexObject):
    """``com.atproto.admin.disableInviteCodes`` input."""

    codes: list[str] | Unset = UNSET
    accounts: list[str] | Unset = UNSET


class GetInviteCodesParams(LexObject):
    """``com.atproto.admin.getInviteCodes`` params."""

    sort: str = "recent"
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 100
    cursor: str | Unset = UNSET


class GetInviteCodesOutput(LexObject, kw_only=True):
    """``com.atproto.admin.getInviteCodes`` output."""

    cursor: str | Unset = UNSET
    codes: list[InviteCode]


#: The methods of this namespace strato serves, with their types.
METHODS: dict[str, MethodTypes] = {
    "com.atproto.admin.updateSubjectStatus": MethodTypes(
        "procedure", input=UpdateSubjectStatusInput, output=UpdateSubjectStatusOutput
    ),
    "com.atproto.admin.getSubjectStatus": MethodTypes(
        "query", params=GetSubjectStatusParams, output=GetSubjectStatusOutput
    ),
    "com.atproto.admin.getAccountInfo": MethodTypes(
        "query", params=GetAccountInfoParams, output=AccountView
    ),
    "com.atproto.admin.getAccountInfos": MethodTypes(
        "query", params=GetAccountInfosParams, output=GetAccountInfosOutput
    ),
    "com.atproto.admin.updateAccountHandle": MethodTypes(
        "procedure", input=UpdateAccountHandleInput
    ),
    "com.atproto.admin.updateAccountEmail": MethodTypes("procedure", input=UpdateAccountEmailInput),
    "com.atproto.admin.updateAccountPassword": MethodTypes(
        "procedure", input=UpdateAccountPasswordInput
    ),
    "com.atproto.admin.deleteAccount": MethodTypes("procedure", input=DeleteAccountInput),
    "com.atproto.admin.enableAccountInvites": MethodTypes("procedure", input=AccountInvitesInput),
    "com.atproto.admin.disableAccountInvites": MethodTypes("procedure", input=AccountInvitesInput),
    "com.atproto.admin.disableInviteCodes": MethodTypes("procedure", input=DisableInviteCodesInput),
    "com.atproto.admin.getInviteCodes": MethodTypes(
        "query", params=GetInviteCodesParams, output=GetInviteCodesOutput
    ),
}
