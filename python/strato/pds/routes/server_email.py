"""Email in ``com.atproto.server.*``: requestEmailConfirmation, confirmEmail,
requestEmailUpdate, updateEmail, requestPasswordReset and resetPassword.

Codes are made and kept by the account store and sent by :mod:`strato.pds.mailer` (or logged,
with no SMTP server). As the reference PDS: asking for a code and confirming take any session
of an account not taken down; changing the address takes a full-access one, and the emailed
``update_email`` code once the current address is confirmed (``TokenRequired``); a password
reset needs no session, only the code sent to the account's address, and ends every session of
the account.
"""

from __future__ import annotations

import asyncio
from typing import Final

from strato.errors import (
    AccountNotFoundError,
    InvalidEmailError,
    InvalidPasswordError,
)
from strato.pds.accounts import EmailTokenPurpose, hash_password, normalize_email
from strato.pds.context import PdsContext
from strato.pds.routes.server_shared import email_token, live_account
from strato.storage import WriteTxn
from strato.xrpc import RouteLimit, XrpcRequest, XrpcRouter, by_account, by_ip
from strato.xrpc.auth import ACCESS_FULL, ACCESS_STANDARD
from strato.xrpc.errors import invalid_request
from strato.xrpc.ratelimit import RateLimit
from strato.xrpc.types import server as types

#: The reference's limits: emailing a code, per account and method; a password reset, per
#: address.
EMAIL_LIMITS: Final = ((15, 86_400.0, "day"), (5, 3_600.0, "hour"))
RESET_REQUEST_LIMITS: Final = (
    RateLimit("password-reset-request-day", 50, 86_400.0),
    RateLimit("password-reset-request-hour", 15, 3_600.0),
)
RESET_LIMIT: Final = RateLimit("password-reset", 50, 300.0)
_NO_EMAIL: Final = "account does not have an email address"
_UNSUPPORTED: Final = "This email address is not supported, please use a different email."


def _per_account(method: str) -> list[RouteLimit]:
    return [
        RouteLimit(RateLimit(f"{method}-{name}", points, seconds), by_account)
        for points, seconds, name in EMAIL_LIMITS
    ]


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the email methods to ``router``."""
    _register_confirmation(router, ctx)
    _register_update(router, ctx)
    _register_reset(router, ctx)


def _register_confirmation(router: XrpcRouter, ctx: PdsContext) -> None:

    @router.method(
        "com.atproto.server.requestEmailConfirmation",
        auth=ctx.auth.access(ACCESS_STANDARD, check_takedown=True),
        limits=_per_account("request-email-confirmation"),
    )
    async def request_email_confirmation(request: XrpcRequest[None, None]) -> None:
        account = live_account(ctx, request)
        if account.email is None:
            raise invalid_request(_NO_EMAIL)
        await email_token(ctx, account, EmailTokenPurpose.CONFIRM_EMAIL)

    @router.method(
        "com.atproto.server.confirmEmail",
        auth=ctx.auth.access(ACCESS_STANDARD, check_takedown=True),
    )
    async def confirm_email(request: XrpcRequest[None, types.ConfirmEmailInput]) -> None:
        account = live_account(ctx, request)
        body = request.input
        if account.email is None or account.email != body.email.strip().lower():
            raise invalid_request("invalid email", "InvalidEmail")

        def work(txn: WriteTxn) -> None:
            ctx.accounts.confirm_email(account.did, body.email, body.token, txn)

        await ctx.writer.submit(work)


def _register_update(router: XrpcRouter, ctx: PdsContext) -> None:
    @router.method(
        "com.atproto.server.requestEmailUpdate",
        auth=ctx.auth.access(ACCESS_STANDARD, check_takedown=True),
        limits=_per_account("request-email-update"),
    )
    async def request_email_update(
        request: XrpcRequest[None, None],
    ) -> types.RequestEmailUpdateOutput:
        account = live_account(ctx, request)
        if account.email is None:
            raise invalid_request(_NO_EMAIL)
        token_required = account.email_confirmed_at is not None
        if token_required:
            await email_token(ctx, account, EmailTokenPurpose.UPDATE_EMAIL)
        return types.RequestEmailUpdateOutput(token_required=token_required)

    @router.method(
        "com.atproto.server.updateEmail", auth=ctx.auth.access(ACCESS_FULL, check_takedown=True)
    )
    async def update_email(request: XrpcRequest[None, types.UpdateEmailInput]) -> None:
        account = live_account(ctx, request)
        body = request.input
        try:
            address = normalize_email(body.email)
        except InvalidEmailError:
            raise invalid_request(_UNSUPPORTED) from None
        token = body.token if isinstance(body.token, str) else None
        if account.email_confirmed_at is not None and token is None:
            raise invalid_request("confirmation token required", "TokenRequired")

        def work(txn: WriteTxn) -> None:
            ctx.accounts.update_email(account.did, address, token, txn)

        await ctx.writer.submit(work)


def _register_reset(router: XrpcRouter, ctx: PdsContext) -> None:
    @router.method(
        "com.atproto.server.requestPasswordReset",
        limits=[RouteLimit(limit, by_ip) for limit in RESET_REQUEST_LIMITS],
    )
    async def request_password_reset(
        request: XrpcRequest[None, types.RequestPasswordResetInput],
    ) -> None:
        try:
            account = ctx.accounts.get_by_email(request.input.email)
        except AccountNotFoundError:
            raise invalid_request(_NO_EMAIL) from None
        await email_token(ctx, account, EmailTokenPurpose.RESET_PASSWORD)

    @router.method("com.atproto.server.resetPassword", limits=[RouteLimit(RESET_LIMIT, by_ip)])
    async def reset_password(request: XrpcRequest[None, types.ResetPasswordInput]) -> None:
        body = request.input
        try:
            password_hash = await asyncio.to_thread(hash_password, body.password)
        except InvalidPasswordError:
            raise invalid_request("Invalid password length.") from None

        def work(txn: WriteTxn) -> None:
            ctx.accounts.reset_password(body.token, password_hash, txn)

        await ctx.writer.submit(work)
