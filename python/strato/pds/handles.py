"""Handles of hosted accounts: which ones this PDS serves (:func:`check_handle`, the
createAccount rules), the handle an account may take next (:func:`new_handle`) and the change
itself (:func:`change_handle`).

As the reference PDS: a new handle is either one of ours (one label of 3-18 characters under a
configured domain, held by no other account) or an external one that already resolves to the
account's DID. A did:plc is updated at the PLC directory with the PDS's rotation key before the
account changes; the change and its ``#identity`` event are one transaction, then the identity
cache forgets the DID and both handles. Refusals are :class:`HandleRefusedError` (and its
subclasses), a PLC directory that fails :class:`PlcUnavailableError`
(:mod:`strato.pds.routes.errors` answers them).
"""

from __future__ import annotations

from typing import Final

from strato.errors import (
    AccountNotFoundError,
    IdentifierError,
    IdentityError,
    PlcDirectoryError,
    PlcValidationError,
)
from strato.firehose.messages import identity_message
from strato.identity.plc import create_update
from strato.identity.plc.operations import is_tombstone
from strato.pds.context import PdsContext
from strato.storage import WriteTxn
from strato.syntax import Handle

HANDLE_LABEL_MIN: Final = 3
HANDLE_LABEL_MAX: Final = 18


class HandleRefusedError(Exception):
    """A handle an account may not take; the message says why."""


class InvalidHandleError(HandleRefusedError):
    """A handle under this PDS's domains that breaks its rules (a dot or a bad length)."""


class UnsupportedDomainError(HandleRefusedError):
    """A new account's handle that is not under this PDS's domains."""


class PlcUnavailableError(Exception):
    """The PLC directory failed or could not be reached."""


def under_our_domains(ctx: PdsContext, handle: str) -> bool:
    """Whether ``handle`` is under (or is) one of this PDS's handle domains."""
    return any(
        handle.endswith(domain) or handle == domain[1:] for domain in ctx.settings.handle_domains
    )


def hosted_did(ctx: PdsContext, handle: str) -> str | None:
    """The DID of the hosted account holding ``handle``, None when no account here does."""
    try:
        return ctx.accounts.get_by_handle(handle).did
    except (AccountNotFoundError, ValueError):
        return None


def check_handle(ctx: PdsContext, value: str) -> str:
    """A new handle for this PDS, normalized: one label of 3-18 characters under a configured
    domain (:class:`InvalidHandleError` or :class:`UnsupportedDomainError` otherwise)."""
    handle = str(Handle(value.strip().lower()))
    for domain in ctx.settings.handle_domains:
        if handle.endswith(domain):
            label = handle[: -len(domain)]
            if "." in label:
                raise InvalidHandleError("Handle may not contain a dot before the domain")
            if not HANDLE_LABEL_MIN <= len(label) <= HANDLE_LABEL_MAX:
                raise InvalidHandleError(
                    f"Handle's first label is {HANDLE_LABEL_MIN}-{HANDLE_LABEL_MAX} characters"
                )
            return handle
    raise UnsupportedDomainError("Not a supported handle domain")


async def new_handle(ctx: PdsContext, did: str, value: str) -> str:
    """``value`` as ``did``'s next handle: one under this PDS's domains (the createAccount
    rules) that no other account holds, or an external one that resolves to ``did``."""
    normalized = str(Handle(value.strip().lower()))
    if under_our_domains(ctx, normalized):
        handle = check_handle(ctx, normalized)
    else:
        handle = normalized
        await ctx.identity.purge(handle)
        try:
            resolved = await ctx.identity.resolve_handle(handle)
        except (IdentityError, IdentifierError):
            resolved = None
        if resolved != did:
            raise HandleRefusedError("External handle did not resolve to DID")
    holder = hosted_did(ctx, handle)
    if holder is not None and holder != did:
        raise HandleRefusedError(f"Handle already taken: {handle}")
    return handle


async def change_handle(ctx: PdsContext, did: str, handle: str) -> None:
    """Give ``did`` the (checked) ``handle``: its did:plc document first, then the account and
    its ``#identity`` event in one transaction; the identity cache forgets the DID and both
    handles. A DID that is not a did:plc must declare the handle already. Setting the current
    handle again only re-announces it."""
    old = ctx.accounts.get(did).handle
    if old != handle:
        if did.startswith("did:plc:"):
            await _plc_update(ctx, did, handle)
        else:
            await _require_declared(ctx, did, handle)

    def work(txn: WriteTxn) -> None:
        ctx.accounts.update_handle(txn, did, handle)
        ctx.sequencer.append(txn, [identity_message(did, handle)])

    await ctx.writer.submit(work)
    await forget(ctx, did, old, handle)


async def forget(ctx: PdsContext, did: str, *handles: str) -> None:
    """Drop what the identity cache holds about ``did`` and ``handles``."""
    await ctx.identity.purge(did)
    for handle in handles:
        await ctx.identity.purge(handle)


async def _require_declared(ctx: PdsContext, did: str, handle: str) -> None:
    """A DID this PDS cannot update (a did:web) must already declare ``handle``."""
    await ctx.identity.purge(did)
    try:
        declared = (await ctx.identity.resolve_did(did)).declared_handle()
    except (IdentityError, IdentifierError):
        declared = None
    if declared != handle:
        raise HandleRefusedError("DID is not properly configured for handle")


async def _plc_update(ctx: PdsContext, did: str, handle: str) -> None:
    try:
        last = await ctx.plc.get_last_operation(did)
        if is_tombstone(last):
            raise HandleRefusedError("Did is tombstoned")
        await ctx.plc.submit(did, create_update(last, ctx.keys.rotation_key(), handle=handle))
    except PlcValidationError as err:
        raise HandleRefusedError(f"the PLC directory refused the operation: {err}") from None
    except (PlcDirectoryError, IdentityError) as err:
        raise PlcUnavailableError(f"PLC directory: {err}") from None
