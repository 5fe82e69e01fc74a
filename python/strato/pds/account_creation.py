"""Creating accounts, and the signing keys reserved for accounts about to move here.

A new identity: the password is hashed (argon2id, off the event loop), the handle, email and
invite code checked, a k256 signing key made and a did:plc registered at the PLC directory with
the recovery key (if given) and the PDS's rotation key. Then one writer transaction stores the
account, its sealed key, the repository's first commit, its refresh token and the
``#identity``, ``#account`` and ``#commit`` events, as the reference sequences them; if that
fails, the new DID is tombstoned.

An existing identity moving here (its service token checked by the route) is created
deactivated, with the key reserved for its DID (:func:`reserve_signing_key`) or a new one, an
empty repository and no events: it goes live with activateAccount once its repository and DID
document have moved.

Refusals are :class:`strato.errors.AccountError` subclasses, :class:`DidRefusedError` and
:class:`strato.pds.handles.PlcUnavailableError` (:mod:`strato.pds.routes.errors` answers them).
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from strato.crypto import K256, PrivateKey
from strato.errors import (
    AccountExistsError,
    AccountNotFoundError,
    EmailNotAvailableError,
    HandleNotAvailableError,
    IdentityError,
    InvalidInviteCodeError,
    PlcDirectoryError,
    PlcValidationError,
)
from strato.firehose.messages import account_message, commit_message, identity_message
from strato.identity.plc import create_genesis
from strato.pds.accounts import AccountStatus, hash_password, invites, normalize_email
from strato.pds.context import PdsContext
from strato.pds.handles import PlcUnavailableError
from strato.storage import WriteTxn
from strato.xrpc.auth import SessionTokens, create_session_tokens

logger = logging.getLogger("strato.pds.account_creation")


class DidRefusedError(Exception):
    """The PLC directory refused a new account's genesis operation."""


async def create_account(
    ctx: PdsContext,
    *,
    handle: str,
    password: str,
    email: str | None,
    invite: str | None,
    moving: str | None,
    recovery_key: object,
) -> tuple[str, SessionTokens]:
    """Create the account of ``handle`` (already checked by
    :func:`strato.pds.handles.check_handle`): a new did:plc, or the DID ``moving`` here. Its
    DID and its first session's tokens."""
    password_hash = await asyncio.to_thread(hash_password, password)
    if _handle_taken(ctx, handle):
        raise HandleNotAvailableError(f"Handle already taken: {handle}")
    _check_email_and_invite(ctx, email, invite)
    if moving is None:
        signing_key = PrivateKey.generate(K256)
        did = await _create_plc_did(ctx, handle, signing_key, recovery_key)
    else:
        did = moving
        reserved = ctx.keys.reserved_signing_key(did)
        signing_key = reserved if reserved is not None else PrivateKey.generate(K256)
    tokens = create_session_tokens(ctx.auth.jwt_secret, ctx.settings.service_did, did)

    def work(txn: WriteTxn) -> None:
        ctx.accounts.create_account(
            txn, did=did, handle=handle, email=email, password_hash=password_hash,
            invite_code=invite, deactivated=moving is not None,
        )  # fmt: skip
        ctx.keys.store_signing_key(txn, did, signing_key)
        commit = ctx.repos.create(txn, did, signing_key)
        ctx.accounts.store_refresh_token(
            txn,
            did,
            tokens.refresh_id,
            tokens.refresh_expires_at * 1000,
        )
        if moving is not None:
            ctx.keys.clear_reserved_key(txn, did, signing_key.public_key.did_key())
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
        raise AccountExistsError(f"An account already exists for {did}") from None
    except Exception:
        if moving is None:  # the DID was made for this account: end it
            await _tombstone(ctx, did)
        raise
    return did, tokens


async def reserve_signing_key(ctx: PdsContext, did: str | None) -> str:
    """A new k256 key kept for ``did`` (about to move here; None: under its own did:key), as a
    did:key."""

    def work(txn: WriteTxn) -> str:
        return ctx.keys.reserve_signing_key(txn, did)

    return await ctx.writer.submit(work)


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
        raise DidRefusedError(f"the PLC directory refused the DID: {err}") from None
    except (PlcDirectoryError, OSError) as err:
        raise PlcUnavailableError(f"PLC directory: {err}") from None
    return did


async def _tombstone(ctx: PdsContext, did: str) -> None:
    """End a did:plc whose account could not be stored (best effort: logged on failure)."""
    try:
        await ctx.plc.tombstone(did, ctx.keys.rotation_key())
    except (PlcDirectoryError, PlcValidationError, IdentityError, httpx.HTTPError, OSError) as err:
        logger.warning("could not tombstone %s after a failed account creation: %s", did, err)


def _handle_taken(ctx: PdsContext, handle: str) -> bool:
    try:
        ctx.accounts.get_by_handle(handle)
    except AccountNotFoundError:
        return False
    return True


def _check_email_and_invite(ctx: PdsContext, email: str | None, invite: str | None) -> None:
    """The checks of the account store that can fail, made before a DID is registered."""
    if email is not None:
        address = normalize_email(email)
        try:
            ctx.accounts.get_by_email(address)
        except AccountNotFoundError:
            pass
        else:
            raise EmailNotAvailableError(f"Email already taken: {address}")
    if invite is None:
        if ctx.accounts.invite_code_required:
            raise InvalidInviteCodeError("No invite code provided")
        return
    with ctx.store.read() as txn:
        invites.check(txn, invite)
