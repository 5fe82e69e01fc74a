"""``com.atproto.admin.*`` on the PDS, for the operator (HTTP Basic ``admin:<token>`` from
``--admin-token-file``): takedowns and their reversal, account views, handle, email and
password changes, account deletion, and invite management.

The actions are :mod:`strato.pds.admin` (takedowns, email, password, deletion) and
:mod:`strato.pds.invites`; a handle change follows the rules and steps of ``updateHandle``
(:mod:`strato.pds.handles`). Record takedowns are not supported (the repository keeps no
per-record moderation state): a record subject is refused.
"""

from __future__ import annotations

from typing import Any, Final

from strato.errors import AccountNotFoundError
from strato.firehose.messages import now_iso
from strato.pds import admin as actions
from strato.pds import invites
from strato.pds.accounts import Account
from strato.pds.context import PdsContext
from strato.pds.handles import change_handle, new_handle
from strato.pds.routes.invites import invite_view
from strato.pds.routes.server_shared import iso_from_ms
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.errors import invalid_request
from strato.xrpc.types import admin as types

UNSET: Final = types.UNSET


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the methods of this namespace to ``router``."""
    _register_status(router, ctx)
    _register_accounts(router, ctx)
    _register_invites(router, ctx)


def _register_status(router: XrpcRouter, ctx: PdsContext) -> None:
    admin = ctx.auth.admin()

    @router.method("com.atproto.admin.updateSubjectStatus", auth=admin)
    async def update_subject_status(
        request: XrpcRequest[None, types.UpdateSubjectStatusInput],
    ) -> types.UpdateSubjectStatusOutput:
        body = request.input
        subject = body.subject
        takedown = body.takedown
        if isinstance(subject, types.RecordRef):
            raise invalid_request("record takedowns are not supported by this PDS")
        if not isinstance(subject, types.RepoRef | types.RepoBlobRef):
            raise invalid_request("Invalid subject")
        if isinstance(takedown, types.StatusAttr):
            ref = _takedown_ref(takedown) if takedown.applied else None
            if isinstance(subject, types.RepoRef):
                await actions.set_account_takedown(ctx, subject.did, ref)
            else:
                await actions.set_blob_takedown(ctx, subject.did, subject.cid, ref)
        return types.UpdateSubjectStatusOutput(subject=subject, takedown=takedown)

    @router.method("com.atproto.admin.getSubjectStatus", auth=admin)
    async def get_subject_status(
        request: XrpcRequest[types.GetSubjectStatusParams, None],
    ) -> types.GetSubjectStatusOutput:
        params = request.params
        if isinstance(params.blob, str):
            if not isinstance(params.did, str):
                raise invalid_request("Must provide a did to request blob state")
            if not ctx.blobs.exists(params.did, params.blob):
                raise invalid_request("Subject not found", "NotFound")
            ref = ctx.blobs.takedown_ref(params.did, params.blob)
            return types.GetSubjectStatusOutput(
                subject=types.RepoBlobRef(did=params.did, cid=params.blob),
                takedown=_status(ref),
            )
        if isinstance(params.uri, str):
            raise invalid_request("record takedowns are not supported by this PDS")
        if not isinstance(params.did, str):
            raise invalid_request("No provided subject")
        account = _account(ctx, params.did, "Subject not found")
        deactivated = types.StatusAttr(applied=account.deactivated_at is not None)
        return types.GetSubjectStatusOutput(
            subject=types.RepoRef(did=account.did),
            takedown=_status(account.takedown_ref),
            deactivated=deactivated,
        )


def _takedown_ref(takedown: types.StatusAttr) -> str:
    return takedown.ref if isinstance(takedown.ref, str) and takedown.ref else now_iso()


def _status(ref: str | None) -> types.StatusAttr:
    if ref is None:
        return types.StatusAttr(applied=False)
    return types.StatusAttr(applied=True, ref=ref)


def _account(ctx: PdsContext, identifier: str, message: str) -> Account:
    try:
        return ctx.accounts.resolve(identifier)
    except (AccountNotFoundError, ValueError):
        raise invalid_request(message, "NotFound") from None


def _register_accounts(router: XrpcRouter, ctx: PdsContext) -> None:
    admin = ctx.auth.admin()

    @router.method("com.atproto.admin.getAccountInfo", auth=admin)
    async def get_account_info(
        request: XrpcRequest[types.GetAccountInfoParams, None],
    ) -> types.AccountView:
        return account_view(ctx, _account(ctx, request.params.did, "Account not found"))

    @router.method("com.atproto.admin.getAccountInfos", auth=admin)
    async def get_account_infos(
        request: XrpcRequest[types.GetAccountInfosParams, None],
    ) -> types.GetAccountInfosOutput:
        views = []
        for did in dict.fromkeys(request.params.dids):
            try:
                views.append(account_view(ctx, ctx.accounts.get(did)))
            except AccountNotFoundError:
                continue
        return types.GetAccountInfosOutput(infos=views)

    @router.method("com.atproto.admin.updateAccountHandle", auth=admin)
    async def update_account_handle(
        request: XrpcRequest[None, types.UpdateAccountHandleInput],
    ) -> None:
        body = request.input
        account = _existing(ctx, body.did)
        handle = await new_handle(ctx, account.did, body.handle)
        await change_handle(ctx, account.did, handle)

    @router.method("com.atproto.admin.updateAccountEmail", auth=admin)
    async def update_account_email(
        request: XrpcRequest[None, types.UpdateAccountEmailInput],
    ) -> None:
        body = request.input
        await actions.set_email(ctx, _existing(ctx, body.account).did, body.email)

    @router.method("com.atproto.admin.updateAccountPassword", auth=admin)
    async def update_account_password(
        request: XrpcRequest[None, types.UpdateAccountPasswordInput],
    ) -> None:
        body = request.input
        await actions.set_password(ctx, _existing(ctx, body.did).did, body.password)

    @router.method("com.atproto.admin.deleteAccount", auth=admin)
    async def delete_account(request: XrpcRequest[None, types.DeleteAccountInput]) -> None:
        account = _existing(ctx, request.input.did)
        await actions.delete_account(ctx, account.did, account.handle)


def _existing(ctx: PdsContext, identifier: str) -> Account:
    try:
        return ctx.accounts.resolve(identifier)
    except (AccountNotFoundError, ValueError):
        raise invalid_request(f"Account does not exist: {identifier}") from None


def account_view(ctx: PdsContext, account: Account) -> types.AccountView:
    """``com.atproto.admin.defs#accountView`` of ``account``."""
    fields: dict[str, Any] = {}
    if account.email is not None:
        fields["email"] = account.email
    if account.email_confirmed_at is not None:
        fields["email_confirmed_at"] = iso_from_ms(account.email_confirmed_at)
    if account.deactivated_at is not None:
        fields["deactivated_at"] = iso_from_ms(account.deactivated_at)
    invited_by = ctx.accounts.invited_by(account.did)
    if invited_by is not None:
        fields["invited_by"] = invite_view(invited_by)
    invites = ctx.accounts.account_invite_codes(account.did)
    return types.AccountView(
        did=account.did,
        handle=account.handle,
        indexed_at=iso_from_ms(account.created_at),
        invites=[invite_view(code) for code in invites],
        invites_disabled=account.invites_disabled,
        **fields,
    )


def _register_invites(router: XrpcRouter, ctx: PdsContext) -> None:
    admin = ctx.auth.admin()

    @router.method("com.atproto.admin.enableAccountInvites", auth=admin)
    async def enable_account_invites(request: XrpcRequest[None, types.AccountInvitesInput]) -> None:
        await invites.set_account_invites(ctx, request.input.account, False)

    @router.method("com.atproto.admin.disableAccountInvites", auth=admin)
    async def disable_account_invites(
        request: XrpcRequest[None, types.AccountInvitesInput],
    ) -> None:
        await invites.set_account_invites(ctx, request.input.account, True)

    @router.method("com.atproto.admin.disableInviteCodes", auth=admin)
    async def disable_invite_codes(
        request: XrpcRequest[None, types.DisableInviteCodesInput],
    ) -> None:
        body = request.input
        codes = body.codes if isinstance(body.codes, list) else []
        accounts = body.accounts if isinstance(body.accounts, list) else []
        await invites.disable_codes(ctx, codes, accounts)

    @router.method("com.atproto.admin.getInviteCodes", auth=admin)
    async def get_invite_codes(
        request: XrpcRequest[types.GetInviteCodesParams, None],
    ) -> types.GetInviteCodesOutput:
        params = request.params
        cursor = params.cursor if isinstance(params.cursor, str) else None
        page, following = invites.list_codes(ctx, params.sort, cursor, params.limit)
        return types.GetInviteCodesOutput(
            codes=[invite_view(code) for code in page],
            cursor=UNSET if following is None else following,
        )
