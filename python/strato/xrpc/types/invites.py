"""``com.atproto.server.*`` invite-code methods: createInviteCode, createInviteCodes (admin) and
getAccountInviteCodes, with ``com.atproto.server.defs#inviteCode`` (also in admin views)."""

from __future__ import annotations

import msgspec

from strato.lexicon.types._base import LexObject, each_text, text
from strato.syntax import is_datetime, is_did
from strato.xrpc.method import MethodTypes

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class InviteCodeUse(LexObject):
    """``com.atproto.server.defs#inviteCodeUse``."""

    used_by: str
    used_at: str

    def __post_init__(self) -> None:
        text(self.used_by, "usedBy", check=is_did, fmt="did")
        text(self.used_at, "usedAt", check=is_datetime, fmt="datetime")


class InviteCode(LexObject):
    """``com.atproto.server.defs#inviteCode``."""

    code: str
    available: int
    disabled: bool
    for_account: str
    created_by: str
    created_at: str
    uses: list[InviteCodeUse]

    def __post_init__(self) -> None:
        text(self.created_at, "createdAt", check=is_datetime, fmt="datetime")


class CreateInviteCodeInput(LexObject):
    """``com.atproto.server.createInviteCode`` input."""

    use_count: int
    for_account: str | Unset = UNSET

    def __post_init__(self) -> None:
        if self.for_account is not UNSET:
            text(self.for_account, "forAccount", check=is_did, fmt="did")


class CreateInviteCodeOutput(LexObject):
    """``com.atproto.server.createInviteCode`` output."""

    code: str


class CreateInviteCodesInput(LexObject):
    """``com.atproto.server.createInviteCodes`` input."""

    code_count: int
    use_count: int
    for_accounts: list[str] | Unset = UNSET

    def __post_init__(self) -> None:
        if self.for_accounts is not UNSET:
            each_text(self.for_accounts, "forAccounts", is_did, "did")


class AccountCodes(LexObject):
    """``com.atproto.server.createInviteCodes#accountCodes``."""

    account: str
    codes: list[str]


class CreateInviteCodesOutput(LexObject):
    """``com.atproto.server.createInviteCodes`` output."""

    codes: list[AccountCodes]


class GetAccountInviteCodesParams(LexObject):
    """``com.atproto.server.getAccountInviteCodes`` params."""

    include_used: bool = True
    create_available: bool = True


class GetAccountInviteCodesOutput(LexObject):
    """``com.atproto.server.getAccountInviteCodes`` output."""

    codes: list[InviteCode]


#: The methods of this module strato serves, with their types.
METHODS: dict[str, MethodTypes] = {
    "com.atproto.server.createInviteCode": MethodTypes(
        "procedure", input=CreateInviteCodeInput, output=CreateInviteCodeOutput
    ),
    "com.atproto.server.createInviteCodes": MethodTypes(
        "procedure", input=CreateInviteCodesInput, output=CreateInviteCodesOutput
    ),
    "com.atproto.server.getAccountInviteCodes": MethodTypes(
        "query", params=GetAccountInviteCodesParams, output=GetAccountInviteCodesOutput
    ),
}
