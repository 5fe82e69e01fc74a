"""``com.atproto.server.*`` invite codes on the PDS: createInviteCode and createInviteCodes
(admin auth) and getAccountInviteCodes (an account's own codes).

Codes are written through the group-commit writer. As the reference PDS, codes the operator
creates belong to ``admin`` unless ``forAccount(s)`` names accounts. The lexicon bounds neither
``codeCount`` nor the accounts, so one call makes at most :data:`MAX_NEW_CODES` codes (one
transaction holds them all: more would stall every write behind it). This PDS has no schedule
of "earned" invites, so ``createAvailable`` creates nothing.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from strato.pds.accounts import ADMIN, InviteCodeInfo
from strato.pds.accounts import invites as invite_table
from strato.pds.context import PdsContext
from strato.pds.routes.common import requester
from strato.pds.routes.server_shared import iso_from_ms
from strato.storage import WriteTxn
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.errors import invalid_request
from strato.xrpc.types import invites as types

#: The most codes one call creates (``codeCount`` times the accounts).
MAX_NEW_CODES: Final = 10_000


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the invite-code methods to ``router``."""

    @router.method("com.atproto.server.createInviteCode", auth=ctx.auth.admin())
    async def create_invite_code(
        request: XrpcRequest[None, types.CreateInviteCodeInput],
    ) -> types.CreateInviteCodeOutput:
        body = request.input
        account = body.for_account if isinstance(body.for_account, str) else ADMIN
        (codes,) = await create_codes(ctx, [account], 1, body.use_count)
        return types.CreateInviteCodeOutput(code=codes.codes[0])

    @router.method("com.atproto.server.createInviteCodes", auth=ctx.auth.admin())
    async def create_invite_codes(
        request: XrpcRequest[None, types.CreateInviteCodesInput],
    ) -> types.CreateInviteCodesOutput:
        body = request.input
        accounts = body.for_accounts if isinstance(body.for_accounts, list) else [ADMIN]
        return types.CreateInviteCodesOutput(
            codes=await create_codes(ctx, accounts or [ADMIN], body.code_count, body.use_count)
        )

    @router.method(
        "com.atproto.server.getAccountInviteCodes", auth=ctx.auth.access(check_takedown=True)
    )
    async def get_account_invite_codes(
        request: XrpcRequest[types.GetAccountInviteCodesParams, None],
    ) -> types.GetAccountInviteCodesOutput:
        did = requester(request)
        codes = ctx.accounts.account_invite_codes(did)
        if not request.params.include_used:
            codes = [code for code in codes if len(code.uses) < code.available]
        codes.sort(key=lambda code: (code.created_at, code.code), reverse=True)
        return types.GetAccountInviteCodesOutput(codes=[invite_view(code) for code in codes])


async def create_codes(
    ctx: PdsContext, accounts: list[str], count: int, use_count: int
) -> list[types.AccountCodes]:
    """``count`` new codes of ``use_count`` uses for each of ``accounts``, in one transaction."""
    if count < 1 or use_count < 1:
        raise invalid_request("codeCount and useCount must be at least 1")
    if count * len(accounts) > MAX_NEW_CODES:
        raise invalid_request(f"at most {MAX_NEW_CODES} codes at a time (codeCount x accounts)")
    hostname = urlsplit(ctx.settings.public_url).hostname or "pds"
    now = ctx.accounts.now()

    def work(txn: WriteTxn) -> list[types.AccountCodes]:
        made = []
        for account in accounts:
            codes = [invite_table.generate_code(hostname) for _ in range(count)]
            stored = invite_table.InviteCode(
                available=use_count, disabled=False, for_account=account, created_by=ADMIN,
                created_at=now,
            )  # fmt: skip
            for code in codes:
                invite_table.create(txn, code, stored)
            made.append(types.AccountCodes(account=account, codes=codes))
        return made

    return await ctx.writer.submit(work)


def invite_view(info: InviteCodeInfo) -> types.InviteCode:
    """``com.atproto.server.defs#inviteCode`` of a stored code."""
    return types.InviteCode(
        code=info.code,
        available=info.available,
        disabled=info.disabled,
        for_account=info.for_account,
        created_by=info.created_by,
        created_at=iso_from_ms(info.created_at),
        uses=[types.InviteCodeUse(used_by=use.used_by, used_at=iso_from_ms(use.used_at))
              for use in info.uses],
    )  # fmt: skip
