"""``com.atproto.server.*`` invite codes on the PDS: createInviteCode and createInviteCodes
(admin auth) and getAccountInviteCodes (an account's own codes), over
:mod:`strato.pds.invites`.

As the reference PDS, codes the operator creates belong to ``admin`` unless
``forAccount(s)`` names accounts. This PDS has no schedule of "earned" invites, so
``createAvailable`` creates nothing.
"""

from __future__ import annotations

from strato.pds import invites
from strato.pds.accounts import ADMIN, InviteCodeInfo
from strato.pds.context import PdsContext
from strato.pds.routes.common import requester
from strato.pds.routes.server_shared import iso_from_ms
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.types import invites as types


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the invite-code methods to ``router``."""

    @router.method("com.atproto.server.createInviteCode", auth=ctx.auth.admin())
    async def create_invite_code(
        request: XrpcRequest[None, types.CreateInviteCodeInput],
    ) -> types.CreateInviteCodeOutput:
        body = request.input
        account = body.for_account if isinstance(body.for_account, str) else ADMIN
        ((_, codes),) = await invites.create_codes(ctx, [account], 1, body.use_count)
        return types.CreateInviteCodeOutput(code=codes[0])

    @router.method("com.atproto.server.createInviteCodes", auth=ctx.auth.admin())
    async def create_invite_codes(
        request: XrpcRequest[None, types.CreateInviteCodesInput],
    ) -> types.CreateInviteCodesOutput:
        body = request.input
        accounts = body.for_accounts if isinstance(body.for_accounts, list) else [ADMIN]
        made = await invites.create_codes(ctx, accounts or [ADMIN], body.code_count, body.use_count)
        return types.CreateInviteCodesOutput(
            codes=[types.AccountCodes(account=account, codes=codes) for account, codes in made]
        )

    @router.method(
        "com.atproto.server.getAccountInviteCodes", auth=ctx.auth.access(check_takedown=True)
    )
    async def get_account_invite_codes(
        request: XrpcRequest[types.GetAccountInviteCodesParams, None],
    ) -> types.GetAccountInviteCodesOutput:
        codes = invites.account_codes(
            ctx, requester(request), include_used=request.params.include_used
        )
        return types.GetAccountInviteCodesOutput(codes=[invite_view(code) for code in codes])


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
