"""``com.atproto.identity.*`` on the PDS: handle resolution and changes, and the did:plc
operation flow an account uses to move its identity (getRecommendedDidCredentials,
requestPlcOperationSignature, signPlcOperation and submitPlcOperation, over
:mod:`strato.pds.plc_operations`).

As the reference PDS: a handle under this PDS's domains is answered from the account store
alone; a new handle is either one of ours (the createAccount rules) or an external one that
already resolves to the account's DID. A did:plc is updated at the PLC directory with the
PDS's rotation key before the account changes; the change and its ``#identity`` event are one
transaction, then the identity cache forgets the DID. resolveDid, resolveIdentity and
refreshIdentity answer through the PDS's identity resolver (hosted handles from the account
store). Signing an operation for the user needs the code emailed by
requestPlcOperationSignature; submitting one checks that it keeps this PDS.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from strato.errors import (
    DidNotFoundError,
    IdentifierError,
    IdentityError,
    IdentityUnavailableError,
)
from strato.identity.plc.operations import (
    ATPROTO_KEY_ID,
    ATPROTO_PDS_ID,
    ATPROTO_PDS_TYPE,
    ensure_at_prefix,
)
from strato.pds import plc_operations
from strato.pds.context import PdsContext
from strato.pds.email_flows import email_token
from strato.pds.handles import change_handle, hosted_did, new_handle, under_our_domains
from strato.pds.routes.common import requester
from strato.syntax import Handle
from strato.xrpc import RouteLimit, XrpcRequest, XrpcRouter, by_account
from strato.xrpc.auth import ACCESS_FULL
from strato.xrpc.errors import XrpcError, invalid_request
from strato.xrpc.ratelimit import RateLimit
from strato.xrpc.types import identity as types

#: The reference's updateHandle limits: 10 per 5 minutes and 50 per day, per account.
UPDATE_HANDLE_LIMITS: Final = (
    RateLimit("update-handle-5m", 10, 300.0),
    RateLimit("update-handle-day", 50, 86_400.0),
)
#: The handle of an identity whose handle does not verify both ways.
INVALID_HANDLE: Final = "handle.invalid"


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the methods of this namespace to ``router``."""
    _register_handles(router, ctx)
    _register_credentials(router, ctx)
    _register_operations(router, ctx)
    _register_lookups(router, ctx)


def _register_handles(router: XrpcRouter, ctx: PdsContext) -> None:
    @router.method("com.atproto.identity.resolveHandle")
    async def resolve_handle(
        request: XrpcRequest[types.ResolveHandleParams, None],
    ) -> types.ResolveHandleOutput:
        return types.ResolveHandleOutput(did=await resolve(ctx, request.params.handle))

    @router.method(
        "com.atproto.identity.updateHandle",
        auth=ctx.auth.access(check_takedown=True),
        limits=[RouteLimit(limit, by_account) for limit in UPDATE_HANDLE_LIMITS],
    )
    async def update_handle(request: XrpcRequest[None, types.UpdateHandleInput]) -> None:
        did = requester(request)
        handle = await new_handle(ctx, did, request.input.handle)
        await change_handle(ctx, did, handle)


async def resolve(ctx: PdsContext, value: str) -> str:
    """The DID of a handle: a hosted one from the account store, one under this PDS's domains
    nowhere else, any other through identity resolution (400 ``HandleNotFound`` when none)."""
    handle = value.strip().lower()
    handle = str(Handle(handle))
    did = hosted_did(ctx, handle)
    if did is not None:
        return did
    if not under_our_domains(ctx, handle):
        try:
            return await ctx.identity.resolve_handle(handle)
        except IdentityUnavailableError as err:
            raise XrpcError(502, "UpstreamFailure", f"handle resolution: {err}") from None
        except (IdentityError, IdentifierError):
            pass
    raise invalid_request("Unable to resolve handle", "HandleNotFound")


def _register_credentials(router: XrpcRouter, ctx: PdsContext) -> None:
    settings = ctx.settings

    @router.method("com.atproto.identity.getRecommendedDidCredentials", auth=ctx.auth.access())
    async def get_recommended_did_credentials(
        request: XrpcRequest[None, None],
    ) -> types.DidCredentials:
        did = requester(request)
        account = ctx.accounts.get(did)
        signing_key = ctx.keys.signing_key(did).public_key.did_key()
        return types.DidCredentials(
            rotation_keys=[ctx.keys.rotation_key().public_key.did_key()],
            also_known_as=[ensure_at_prefix(account.handle)],
            verification_methods={ATPROTO_KEY_ID: signing_key},
            services={ATPROTO_PDS_ID: {"type": ATPROTO_PDS_TYPE, "endpoint": settings.public_url}},
        )

    @router.method(
        "com.atproto.identity.requestPlcOperationSignature", auth=ctx.auth.access(ACCESS_FULL)
    )
    async def request_plc_operation_signature(request: XrpcRequest[None, None]) -> None:
        account = ctx.accounts.get(requester(request))
        if account.email is None:
            raise invalid_request("account does not have an email address")
        await email_token(ctx, account, plc_operations.PURPOSE)


def _register_operations(router: XrpcRouter, ctx: PdsContext) -> None:

    @router.method("com.atproto.identity.signPlcOperation", auth=ctx.auth.access(ACCESS_FULL))
    async def sign_plc_operation(
        request: XrpcRequest[None, types.SignPlcOperationInput],
    ) -> types.SignPlcOperationOutput:
        body = request.input
        if not isinstance(body.token, str) or not body.token:
            raise invalid_request("email confirmation token required to sign PLC operations")
        given = {
            "rotationKeys": body.rotation_keys,
            "verificationMethods": body.verification_methods,
            "alsoKnownAs": body.also_known_as,
            "services": body.services,
        }
        changes = {name: value for name, value in given.items() if value is not types.UNSET}
        operation = await plc_operations.sign_update(ctx, requester(request), body.token, changes)
        return types.SignPlcOperationOutput(operation=operation)

    @router.method("com.atproto.identity.submitPlcOperation", auth=ctx.auth.access(ACCESS_FULL))
    async def submit_plc_operation(
        request: XrpcRequest[None, types.SubmitPlcOperationInput],
    ) -> None:
        await plc_operations.submit(ctx, requester(request), request.input.operation)


def _register_lookups(router: XrpcRouter, ctx: PdsContext) -> None:
    @router.method("com.atproto.identity.resolveDid")
    async def resolve_did(
        request: XrpcRequest[types.ResolveDidParams, None],
    ) -> types.ResolveDidOutput:
        return types.ResolveDidOutput(did_doc=await _document(ctx, request.params.did))

    @router.method("com.atproto.identity.resolveIdentity")
    async def resolve_identity(
        request: XrpcRequest[types.ResolveIdentityParams, None],
    ) -> types.IdentityInfo:
        return await identity_info(ctx, request.params.identifier)

    @router.method("com.atproto.identity.refreshIdentity", auth=ctx.auth.access())
    async def refresh_identity(
        request: XrpcRequest[None, types.RefreshIdentityInput],
    ) -> types.IdentityInfo:
        identifier = request.input.identifier
        await ctx.identity.purge(identifier)
        return await identity_info(ctx, identifier)


async def identity_info(ctx: PdsContext, identifier: str) -> types.IdentityInfo:
    """The DID, verified handle (``handle.invalid`` when it does not match both ways) and DID
    document of a DID or handle; 400 ``HandleNotFound`` for a handle that names no DID or
    one whose document does not declare it, ``DidNotFound`` for a DID without a document."""
    given_handle = None if identifier.startswith("did:") else identifier.strip().lower()
    did = identifier if given_handle is None else await resolve(ctx, given_handle)
    doc = await _document(ctx, did)
    found = (await ctx.identity.resolve_did(did)).declared_handle()
    declared = None if found is None else str(found)
    if given_handle is not None and declared != given_handle:
        raise invalid_request("the DID document does not declare this handle", "HandleNotFound")
    handle = INVALID_HANDLE
    if declared is not None:
        try:
            verified = await resolve(ctx, declared) == did
        except XrpcError:
            verified = False
        if verified:
            handle = declared
    return types.IdentityInfo(did=did, handle=handle, did_doc=doc)


async def _document(ctx: PdsContext, did: str) -> dict[str, Any]:
    try:
        raw = await ctx.identity.resolve_did_json(did)
    except DidNotFoundError as err:
        raise invalid_request(f"DID not found: {err.reason}", "DidNotFound") from None
    except IdentityUnavailableError as err:
        raise XrpcError(502, "UpstreamFailure", f"DID resolution: {err}") from None
    except (IdentityError, IdentifierError) as err:
        raise invalid_request(f"DID could not be resolved: {err}") from None
    document: dict[str, Any] = msgspec.json.decode(raw)
    return document
