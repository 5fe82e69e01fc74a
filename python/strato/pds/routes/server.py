"""``com.atproto.server.*`` on the PDS: describeServer, createAccount and the session methods;
:func:`register` also adds the namespace's other modules (:mod:`.server_app_passwords`,
:mod:`.server_account`, :mod:`.server_service_auth`, :mod:`.server_email`).

Account creation: the handle is checked (one label under a configured domain), the password
hashed (argon2id, off the event loop), a k256 signing key made, and a did:plc registered at the
PLC directory with the recovery key (if given) and the PDS's rotation key. Then one group
transaction stores the account, its sealed key, the repository's first commit, its refresh
token and the ``#identity``, ``#account`` and ``#commit`` events, as the reference sequences
them.

An existing identity moving here (``did`` given) must prove itself with a service token from
that DID for this PDS and ``createAccount``. Its account is created deactivated, with the key
reserved for the DID (reserveSigningKey) or a new one, an empty repository and no events: it
goes live with activateAccount once its repository and DID document have moved.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import httpx

from strato.crypto import K256, PrivateKey
from strato.errors import (
    AccountExistsError,
    AccountNotFoundError,
    IdentityError,
    InvalidTokenError,
    PlcDirectoryError,
    PlcValidationError,
)
from strato.firehose.messages import account_message, commit_message, identity_message
from strato.identity.plc import create_genesis
from strato.pds.accounts import (
    Account,
    AccountStatus,
    AppPassword,
    RefreshGrant,
    hash_password,
    invites,
    normalize_email,
)
from strato.pds.context import PdsContext
from strato.pds.handles import check_handle
from strato.pds.routes import (
    server_account,
    server_app_passwords,
    server_email,
    server_service_auth,
)
from strato.pds.routes.common import requester
from strato.storage import WriteTxn
from strato.xrpc import RouteLimit, XrpcRequest, XrpcRouter, by_ip
from strato.xrpc.auth import (
    ACCESS_PRIVILEGED,
    AuthScope,
    RefreshCredentials,
    ServiceCredentials,
    SessionTokens,
    create_session_tokens,
)
from strato.xrpc.errors import XrpcError, auth_required, invalid_request
from strato.xrpc.ratelimit import RateLimit
from strato.xrpc.types import server as types

logger = logging.getLogger("strato.pds.routes.server")

#: Handle label lengths the reference PDS allows under its domains.
#: The reference's login limits: 30 per 5 minutes and 300 per day, per account identifier.
LOGIN_LIMITS: Final = (
    RateLimit("login-5m", 30, 300.0),
    RateLimit("login-day", 300, 86_400.0),
)
CREATE_ACCOUNT_LIMIT: Final = RateLimit("create-account", 100, 300.0)
#: The least time a login answer takes, so a wrong password and an unknown account look alike.
LOGIN_FLOOR_SECONDS: Final = 0.35


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
        password_hash = await asyncio.to_thread(hash_password, body.password)
        if _handle_taken(ctx, handle):
            raise invalid_request(f"Handle already taken: {handle}", "HandleNotAvailable")
        email = body.email if isinstance(body.email, str) else None
        invite = body.invite_code if isinstance(body.invite_code, str) else None
        _check_email_and_invite(ctx, email, invite)
        if moving is None:
            signing_key = PrivateKey.generate(K256)
            did = await _create_plc_did(ctx, handle, signing_key, body.recovery_key)
        else:
            did = moving
            reserved = ctx.keys.reserved_signing_key(did)
            signing_key = reserved if reserved is not None else PrivateKey.generate(K256)
        tokens = create_session_tokens(ctx.auth.jwt_secret, settings.service_did, did)

        def work(txn: WriteTxn) -> None:
            ctx.accounts.create_account(
                txn, did=did, handle=handle, email=email, password_hash=password_hash,
                invite_code=invite, deactivated=moving is not None,
            )  # fmt: skip
            ctx.keys.store_signing_key(did, signing_key, txn)
            commit = ctx.repos.create(txn, did, signing_key)
            ctx.accounts.store_refresh_token(
                did, tokens.refresh_id, tokens.refresh_expires_at * 1000, txn=txn
            )
            if moving is not None:
                ctx.keys.clear_reserved_key(did, signing_key.public_key.did_key(), txn=txn)
                return
            ctx.sequencer.append(
                txn,
                [
                    identity_message(did, handle),
                    account_message(did, AccountStatus.ACTIVE.event_status),
                    commit_message(commit),
                ],
            )

        try:
            await ctx.writer.submit(work)
        except AccountExistsError:
            raise invalid_request(f"An account already exists for {did}") from None
        except Exception:
            if moving is None:  # the DID was made for this account: end it
                await _tombstone(ctx, did)
            raise
        return types.CreateAccountOutput(
            access_jwt=tokens.access_jwt, refresh_jwt=tokens.refresh_jwt, handle=handle, did=did
        )


async def _create_plc_did(
    ctx: PdsContext, handle: str, signing_key: PrivateKey, recovery_key: object
) -> str:
    """Register a new did:plc for ``handle`` at the PLC directory; returns it."""
    rotation_keys = [ctx.keys.rotation_key().public_key.did_key()]
    if isinstance(recovery_key, str):
        rotation_keys.insert(0, recovery_key)
    operation, did = create_genesis(
        signing_key=signing_key.public_key.did_key(),
        rotation_keys=rotation_keys,
        handle=handle,
        pds_endpoint=ctx.settings.public_url,
        signer=ctx.keys.rotation_key(),
    )
    try:
        await ctx.plc.submit(did, operation)
    except PlcValidationError as err:
        raise invalid_request(f"the PLC directory refused the DID: {err}") from None
    except (PlcDirectoryError, OSError) as err:
        raise XrpcError(502, "UpstreamFailure", f"PLC directory: {err}") from None
    return did


async def _tombstone(ctx: PdsContext, did: str) -> None:
    """End a did:plc whose account could not be stored (best effort: logged on failure)."""
    try:
        await ctx.plc.tombstone(did, ctx.keys.rotation_key())
    except (PlcDirectoryError, PlcValidationError, IdentityError, httpx.HTTPError, OSError) as err:
        logger.warning("could not tombstone %s after a failed account creation: %s", did, err)


def _check_email_and_invite(ctx: PdsContext, email: str | None, invite: str | None) -> None:
    """The checks of the account store that can fail, made before a DID is registered."""
    if email is not None:
        address = normalize_email(email)
        try:
            ctx.accounts.get_by_email(address)
        except AccountNotFoundError:
            pass
        else:
            raise invalid_request(f"Email already taken: {address}")
    if invite is None:
        if ctx.accounts.invite_code_required:
            raise invalid_request("No invite code provided", "InvalidInviteCode")
        return
    with ctx.store.read() as txn:
        invites.check(txn, invite)


def _register_sessions(router: XrpcRouter, ctx: PdsContext) -> None:
    settings = ctx.settings

    @router.method(
        "com.atproto.server.createSession",
        limits=[RouteLimit(limit, _login_key) for limit in LOGIN_LIMITS],
    )
    async def create_session(
        request: XrpcRequest[None, types.CreateSessionInput],
    ) -> types.CreateSessionOutput:
        body = request.input
        started = asyncio.get_running_loop().time()
        try:
            login = await asyncio.to_thread(
                ctx.accounts.login, body.identifier.strip().lower(), body.password
            )
        except Exception:  # every refusal takes as long (AuthenticationError, ...)
            await _pad(started)
            raise
        account = login.account
        if account.takedown_ref is not None and body.allow_takendown is not True:
            raise auth_required("Account has been taken down", "AccountTakedown")
        tokens = await issue_session(ctx, account, login.app_password)
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
        account = ctx.accounts.get(credentials.did)

        def rotate(txn: WriteTxn) -> RefreshGrant:
            return ctx.accounts.rotate_refresh_token(credentials.token_id, txn)

        try:
            grant = await ctx.writer.submit(rotate)
        except InvalidTokenError:  # revoked, unknown or expired: the reference's answer
            raise invalid_request("Token has been revoked", "ExpiredToken") from None
        scope = _scope(account, _privileged(ctx, account.did, grant.app_password_name))
        tokens = create_session_tokens(
            ctx.auth.jwt_secret, settings.service_did, account.did,
            scope=scope, refresh_id=grant.jti,
        )  # fmt: skip
        return types.RefreshSessionOutput(
            **session_fields(ctx, account),
            access_jwt=tokens.access_jwt,
            refresh_jwt=tokens.refresh_jwt,
        )

    @router.method("com.atproto.server.deleteSession", auth=ctx.auth.refresh(allow_expired=True))
    async def delete_session(request: XrpcRequest[None, None]) -> None:
        credentials = request.auth
        assert isinstance(credentials, RefreshCredentials)
        token_id = credentials.token_id
        await ctx.writer.submit(lambda txn: ctx.accounts.revoke_refresh_token(token_id, txn))


#: Scopes that may read their own session: every access scope, and a taken-down account's.
_ANY_SESSION: Final = ACCESS_PRIVILEGED | {AuthScope.APP_PASS, AuthScope.TAKENDOWN}


def _handle_taken(ctx: PdsContext, handle: str) -> bool:
    try:
        ctx.accounts.get_by_handle(handle)
    except AccountNotFoundError:
        return False
    return True


def _scope(account: Account, privileged: bool | None) -> AuthScope:
    """The session scope of ``account`` logged in with its password (``privileged`` None) or
    with an app password (privileged or not)."""
    if account.takedown_ref is not None:
        return AuthScope.TAKENDOWN
    if privileged is None:
        return AuthScope.ACCESS
    return AuthScope.APP_PASS_PRIVILEGED if privileged else AuthScope.APP_PASS


def _privileged(ctx: PdsContext, did: str, name: str | None) -> bool | None:
    """Whether the app password ``name`` of ``did`` is privileged (None: no app password; one
    revoked since counts as unprivileged)."""
    if name is None:
        return None
    passwords = ctx.accounts.list_app_passwords(did)
    return any(item.privileged for item in passwords if item.name == name)


async def issue_session(
    ctx: PdsContext, account: Account, app_password: AppPassword | None
) -> SessionTokens:
    """New tokens for ``account``, its refresh token recorded (durably) before they are
    handed out."""
    tokens = create_session_tokens(
        ctx.auth.jwt_secret, ctx.settings.service_did, account.did,
        scope=_scope(account, None if app_password is None else app_password.privileged),
    )  # fmt: skip
    name = app_password.name if app_password is not None else None

    def work(txn: WriteTxn) -> None:
        ctx.accounts.store_refresh_token(
            account.did, tokens.refresh_id, tokens.refresh_expires_at * 1000,
            app_password_name=name, txn=txn,
        )  # fmt: skip

    await ctx.writer.submit(work)
    return tokens


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


async def _pad(started: float) -> None:
    loop = asyncio.get_running_loop()
    remaining = LOGIN_FLOOR_SECONDS - (loop.time() - started)
    if remaining > 0:
        await asyncio.sleep(remaining)
