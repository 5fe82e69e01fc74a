"""Email in ``com.atproto.server.*``: requestEmailConfirmation, confirmEmail,
requestEmailUpdate, updateEmail, requestPasswordReset and resetPassword.

The flows are :mod:`strato.pds.email_flows`'. As the reference PDS: asking for a code and
confirming take any session of an account not taken down; changing the address takes a
full-access one, and the emailed ``update_email`` code once the current address is confirmed
(``TokenRequired``); a password reset needs no session, only the code sent to the account's
address, and ends every session of the account.
"""

from __future__ import annotations

from typing import Final

from strato.pds import email_flows
from strato.pds.accounts import EmailTokenPurpose
from strato.pds.context import PdsContext
from strato.pds.routes.common import requester
from strato.xrpc import RouteLimit, XrpcRequest, XrpcRouter, by_account, by_ip
from strato.xrpc.auth import ACCESS_FULL, ACCESS_STANDARD
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
        await email_flows.request_code(ctx, requester(request), EmailTokenPurpose.CONFIRM_EMAIL)

    @router.method(
        "com.atproto.server.confirmEmail",
        auth=ctx.auth.access(ACCESS_STANDARD, check_takedown=True),
    )
    async def confirm_email(request: XrpcRequest[None, types.ConfirmEmailInput]) -> None:
        body = request.input
        await email_flows.confirm_email(ctx, requester(request), body.email, body.token)


def _register_update(router: XrpcRouter, ctx: PdsContext) -> None:
    @router.method(
        "com.atproto.server.requestEmailUpdate",
        auth=ctx.auth.access(ACCESS_STANDARD, check_takedown=True),
        limits=_per_account("request-email-update"),
    )
    async def request_email_update(
        request: XrpcRequest[None, None],
    ) -> types.RequestEmailUpdateOutput:
        token_required = await email_flows.request_email_update(ctx, requester(request))
        return types.RequestEmailUpdateOutput(token_required=token_required)

    @router.method(
        "com.atproto.server.updateEmail", auth=ctx.auth.access(ACCESS_FULL, check_takedown=True)
    )
    async def update_email(request: XrpcRequest[None, types.UpdateEmailInput]) -> None:
        body = request.input
        token = body.token if isinstance(body.token, str) else None
        await email_flows.update_email(ctx, requester(request), body.email, token)


def _register_reset(router: XrpcRouter, ctx: PdsContext) -> None:
    @router.method(
        "com.atproto.server.requestPasswordReset",
        limits=[RouteLimit(limit, by_ip) for limit in RESET_REQUEST_LIMITS],
    )
    async def request_password_reset(
        request: XrpcRequest[None, types.RequestPasswordResetInput],
    ) -> None:
        await email_flows.request_password_reset(ctx, request.input.email)

    @router.method("com.atproto.server.resetPassword", limits=[RouteLimit(RESET_LIMIT, by_ip)])
    async def reset_password(request: XrpcRequest[None, types.ResetPasswordInput]) -> None:
        body = request.input
        await email_flows.reset_password(ctx, body.token, body.password)
