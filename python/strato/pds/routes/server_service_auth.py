"""Service auth and signing keys in ``com.atproto.server.*``: getServiceAuth and
reserveSigningKey.

getServiceAuth mints a service JWT signed with the account's repo signing key, by the
reference's rules: ``exp`` (seconds since the epoch) must be in the future and at most an hour
ahead, or a minute for a token bound to no method (``lxm``); account-management methods
(:data:`PROTECTED_METHODS`) get no token; the methods of :data:`PRIVILEGED_METHODS` need a
full-access or privileged app-password session; a taken-down account may only get a token for
``createAccount`` (to migrate away).

reserveSigningKey keeps a new k256 key for an account about to move here (or under its own
did:key), answered as a did:key; ``createAccount`` with that DID then uses it
(:mod:`strato.pds.account_creation`).
"""

from __future__ import annotations

import time
from typing import Final

from strato.pds import account_creation
from strato.pds.context import PdsContext
from strato.pds.method_lists import PRIVILEGED_METHODS, PROTECTED_METHODS
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.auth import (
    ACCESS_PRIVILEGED,
    ACCESS_STANDARD,
    AccessCredentials,
    AuthScope,
    create_service_jwt,
)
from strato.xrpc.errors import invalid_request
from strato.xrpc.types import server as types

HOUR: Final = 3600
MINUTE: Final = 60
CREATE_ACCOUNT: Final = "com.atproto.server.createAccount"


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add getServiceAuth and reserveSigningKey to ``router``."""

    @router.method(
        "com.atproto.server.getServiceAuth",
        auth=ctx.auth.access(ACCESS_STANDARD | {AuthScope.TAKENDOWN}),
    )
    async def get_service_auth(
        request: XrpcRequest[types.GetServiceAuthParams, None],
    ) -> types.GetServiceAuthOutput:
        credentials = request.auth
        assert isinstance(credentials, AccessCredentials)
        params = request.params
        lxm = params.lxm if isinstance(params.lxm, str) else None
        exp = params.exp if isinstance(params.exp, int) else None
        if credentials.scope is AuthScope.TAKENDOWN and lxm != CREATE_ACCOUNT:
            raise invalid_request("Bad token scope", "InvalidToken")
        if (
            lxm in PRIVILEGED_METHODS
            and credentials.scope not in ACCESS_PRIVILEGED
            and credentials.scope is not AuthScope.TAKENDOWN
        ):
            raise invalid_request(
                f"insufficient access to request a service auth token for the following "
                f"method: {lxm}"
            )
        if exp is not None:
            _check_expiry(exp - time.time(), lxm)
        if lxm in PROTECTED_METHODS:
            raise invalid_request(
                f"cannot request a service auth token for the following protected method: {lxm}"
            )
        key = ctx.keys.signing_key(credentials.did)
        token = create_service_jwt(key, credentials.did, params.aud, lxm, exp=exp)
        return types.GetServiceAuthOutput(token=token)

    @router.method("com.atproto.server.reserveSigningKey")
    async def reserve_signing_key(
        request: XrpcRequest[None, types.ReserveSigningKeyInput],
    ) -> types.ReserveSigningKeyOutput:
        did = request.input.did if isinstance(request.input.did, str) else None
        return types.ReserveSigningKeyOutput(
            signing_key=await account_creation.reserve_signing_key(ctx, did)
        )


def _check_expiry(remaining: float, lxm: str | None) -> None:
    if remaining < 0:
        raise invalid_request("expiration is in past", "BadExpiration")
    if remaining > HOUR:
        raise invalid_request(
            "cannot request a token with an expiration more than an hour in the future",
            "BadExpiration",
        )
    if lxm is None and remaining > MINUTE:
        raise invalid_request(
            "cannot request a method-less token with an expiration more than a minute in the "
            "future",
            "BadExpiration",
        )
