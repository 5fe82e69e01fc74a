"""``com.atproto.server.*`` on the PDS: describeServer, createAccount and the session methods;
:func:`register` also adds the namespace's other modules (:mod:`.server_app_passwords`,
:mod:`.server_account`, :mod:`.server_service_auth`, :mod:`.server_email`).

Account creation is :mod:`strato.pds.account_creation`'s; this module checks the request: the
handle (one label under a configured domain), a password, no ``plcOp``, and for an existing
identity moving here (``did`` given) a service token from that DID for this PDS and
``createAccount``. Sessions are :mod:`strato.pds.sessions`'; a login answer is padded to the
same least time whether it succeeds or not.
"""

from __future__ import annotations

from typing import Any, Final

from strato.pds import account_creation, sessions
from strato.pds.accounts import Account, AccountStatus
from strato.pds.context import PdsContext
from strato.pds.handles import check_handle
from strato.pds.routes import (
    server_account,
    server_app_passwords,
    server_email,
    server_service_auth,
)
from strato.pds.routes.common import requester
from strato.xrpc import RouteLimit, XrpcRequest, XrpcRouter, by_ip
from strato.xrpc.auth import (
    ACCESS_PRIVILEGED,
    AuthScope,
    RefreshCredentials,
    ServiceCredentials,
)
from strato.xrpc.errors import auth_required, invalid_request
from strato.xrpc.ratelimit import RateLimit
from strato.xrpc.types import server as types

#: The reference's login limits: 30 per 5 minutes and 300 per day, per account identifier.
LOGIN_LIMITS: Final = (
    RateLimit("login-5m", 30, 300.0),
    RateLimit("login-day", 300, 86_400.0),
)
CREATE_ACCOUNT_LIMIT: Final = RateLimit("create-account", 100, 300.0)


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the methods of this namespace to ``router``."""
    _register_accounts(router, ctx)
    _register_sessions(router, ctx)
    server_app_passwords.register(router, ctx)
    server_account.register(router, ctx)
    server_service_auth.register(router, ctx)
    server_email.register(router, ctx)


def _register_accounts(router: XrpcRouter, ctx: PdsContext) -> None:
    settings = ctx.settings

    @router.method("com.atproto.server.describeServer")
    async def describe_server(request: XrpcRequest[None, None]) -> types.DescribeServerOutput:
        return types.DescribeServerOutput(
            did=settings.service_did,
            available_user_domains=list(settings.handle_domains),
            invite_code_required=settings.invite_code_required,
            phone_verification_required=False,
            blob_upload_limit=settings.blob_limit,
        )

    @router.method(
        "com.atproto.server.createAccount",
        auth=ctx.auth.service(optional=True),
        limits=[RouteLimit(CREATE_ACCOUNT_LIMIT, by_ip)],
    )
    async def create_account(
        request: XrpcRequest[None, types.CreateAccountInput],
    ) -> types.CreateAccountOutput:
        body = request.input
        handle = check_handle(ctx, body.handle)
        moving = body.did if isinstance(body.did, str) else None
        if moving is not None:
            credentials = request.auth
            if not isinstance(credentials, ServiceCredentials) or credentials.did != moving:
                raise auth_required(f"Missing auth to create account with did: {moving}")
        if isinstance(body.plc_op, dict):
            raise invalid_request('Unsupported input: "plcOp"')
        if not isinstance(body.password, str):
            raise invalid_request("A password is required", "InvalidPassword")
        did, tokens = await account_creation.create_account(
            ctx, handle=handle, password=body.password,
            email=body.email if isinstance(body.email, str) else None,
            invite=body.invite_code if isinstance(body.invite_code, str) else None,
            moving=moving, recovery_key=body.recovery_key,
        )  # fmt: skip
        return types.CreateAccountOutput(
            access_jwt=tokens.access_jwt, refresh_jwt=tokens.refresh_jwt, handle=handle, did=did
        )


def _register_sessions(router: XrpcRouter, ctx: PdsContext) -> None:
    @router.method(
        "com.atproto.server.createSession",
        limits=[RouteLimit(limit, _login_key) for limit in LOGIN_LIMITS],
    )
    async def create_session(
        request: XrpcRequest[None, types.CreateSessionInput],
    ) -> types.CreateSessionOutput:
        body = request.input
        account, tokens = await sessions.create_session(
            ctx, body.identifier.strip().lower(), body.password,
            allow_takendown=body.allow_takendown is True,
        )  # fmt: skip
        return types.CreateSessionOutput(
            **session_fields(ctx, account),
            access_jwt=tokens.access_jwt,
            refresh_jwt=tokens.refresh_jwt,
        )

    @router.method("com.atproto.server.getSession", auth=ctx.auth.access(_ANY_SESSION))
    async def get_session(request: XrpcRequest[None, None]) -> types.GetSessionOutput:
        account = ctx.accounts.get(requester(request))
        return types.GetSessionOutput(**session_fields(ctx, account))

    @router.method("com.atproto.server.refreshSession", auth=ctx.auth.refresh(check_takedown=True))
    async def refresh_session(request: XrpcRequest[None, None]) -> types.RefreshSessionOutput:
        credentials = request.auth
        assert isinstance(credentials, RefreshCredentials)
        account, tokens = await sessions.refresh_session(ctx, credentials.did, credentials.token_id)
        return types.RefreshSessionOutput(
            **session_fields(ctx, account),
            access_jwt=tokens.access_jwt,
            refresh_jwt=tokens.refresh_jwt,
        )

    @router.method("com.atproto.server.deleteSession", auth=ctx.auth.refresh(allow_expired=True))
    async def delete_session(request: XrpcRequest[None, None]) -> None:
        credentials = request.auth
        assert isinstance(credentials, RefreshCredentials)
        await sessions.delete_session(ctx, credentials.token_id)


#: Scopes that may read their own session: every access scope, and a taken-down account's.
_ANY_SESSION: Final = ACCESS_PRIVILEGED | {AuthScope.APP_PASS, AuthScope.TAKENDOWN}


def session_fields(ctx: PdsContext, account: Account) -> dict[str, Any]:
    """The account fields every session answer carries."""
    status = ctx.accounts.status(account.did)
    fields: dict[str, Any] = {
        "handle": account.handle,
        "did": account.did,
        "active": status is AccountStatus.ACTIVE,
    }
    if account.email is not None:
        fields["email"] = account.email
        fields["email_confirmed"] = account.email_confirmed_at is not None
        fields["email_auth_factor"] = False
    if status is not AccountStatus.ACTIVE:
        fields["status"] = str(status)
    return fields


def _login_key(request: XrpcRequest[Any, Any]) -> str | None:
    body = request.input
    identifier = getattr(body, "identifier", None)
    return identifier.strip().lower() if isinstance(identifier, str) else request.client_ip
