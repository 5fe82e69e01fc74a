"""Sessions of hosted accounts and the app passwords that open them: logging in (every refusal
padded to :data:`LOGIN_FLOOR_SECONDS`), issuing, rotating and ending sessions, and creating and
revoking app passwords.

A session's refresh token is recorded (durably, on the writer) before its tokens are handed
out; its scope follows the reference PDS: a taken-down account's session is ``TAKENDOWN``, one
opened with an app password ``APP_PASS`` (or ``APP_PASS_PRIVILEGED``), any other ``ACCESS``.
Refusals are :class:`LoginTakendownError` and the :class:`strato.errors.AccountError` family
(:mod:`strato.pds.routes.errors` answers them).
"""

from __future__ import annotations

import asyncio
from typing import Final

from strato.errors import ExpiredTokenError, InvalidTokenError
from strato.pds.accounts import Account, AppPassword, NewAppPassword, RefreshGrant
from strato.pds.context import PdsContext
from strato.storage import WriteTxn
from strato.xrpc.auth import AuthScope, SessionTokens, create_session_tokens

#: The least time a login answer takes, so a wrong password and an unknown account look alike.
LOGIN_FLOOR_SECONDS: Final = 0.35


class LoginTakendownError(Exception):
    """A login to a taken-down account that did not say it may be one."""


async def create_session(
    ctx: PdsContext, identifier: str, password: str, *, allow_takendown: bool
) -> tuple[Account, SessionTokens]:
    """Log in by DID, handle or email with the account password or an app password: the
    account and its new session's tokens."""
    started = asyncio.get_running_loop().time()
    try:
        login = await asyncio.to_thread(ctx.accounts.login, identifier, password)
    except Exception:  # every refusal takes as long (AuthenticationError, ...)
        await _pad(started)
        raise
    account = login.account
    if account.takedown_ref is not None and not allow_takendown:
        raise LoginTakendownError("Account has been taken down")
    return account, await issue_session(ctx, account, login.app_password)


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
            txn,
            account.did,
            tokens.refresh_id,
            tokens.refresh_expires_at * 1000,
            app_password_name=name,
        )  # fmt: skip

    await ctx.writer.submit(work)
    return tokens


async def refresh_session(
    ctx: PdsContext, did: str, token_id: str
) -> tuple[Account, SessionTokens]:
    """Rotate the refresh token ``token_id`` of ``did``: the account and the successor's
    tokens (:class:`ExpiredTokenError` when revoked, unknown or expired)."""
    account = ctx.accounts.get(did)

    def rotate(txn: WriteTxn) -> RefreshGrant:
        return ctx.accounts.rotate_refresh_token(txn, token_id)

    try:
        grant = await ctx.writer.submit(rotate)
    except InvalidTokenError:  # revoked, unknown or expired: the reference's answer
        raise ExpiredTokenError("Token has been revoked") from None
    scope = _scope(account, _privileged(ctx, account.did, grant.app_password_name))
    tokens = create_session_tokens(
        ctx.auth.jwt_secret, ctx.settings.service_did, account.did,
        scope=scope, refresh_id=grant.jti,
    )  # fmt: skip
    return account, tokens


async def delete_session(ctx: PdsContext, token_id: str) -> None:
    """End the session of the refresh token ``token_id`` (and the tokens it was rotated
    from)."""
    await ctx.writer.submit(lambda txn: ctx.accounts.revoke_refresh_token(txn, token_id))


async def create_app_password(
    ctx: PdsContext, did: str, name: str, *, privileged: bool
) -> NewAppPassword:
    """A new app password ``name`` for ``did`` (its text is only in the result)."""

    def work(txn: WriteTxn) -> NewAppPassword:
        return ctx.accounts.create_app_password(txn, did, name, privileged=privileged)

    return await ctx.writer.submit(work)


async def revoke_app_password(ctx: PdsContext, did: str, name: str) -> None:
    """Revoke the app password ``name`` of ``did`` and end the sessions opened with it."""
    await ctx.writer.submit(lambda txn: ctx.accounts.revoke_app_password(txn, did, name))


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


async def _pad(started: float) -> None:
    loop = asyncio.get_running_loop()
    remaining = LOGIN_FLOOR_SECONDS - (loop.time() - started)
    if remaining > 0:
        await asyncio.sleep(remaining)
