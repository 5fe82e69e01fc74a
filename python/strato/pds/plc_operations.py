"""The did:plc operations an account has this PDS sign or submit for it, to move its identity
(``com.atproto.identity.signPlcOperation`` / ``submitPlcOperation``).

As the reference PDS: signing an operation needs the code emailed for
:data:`PURPOSE` and uses it up; the operation follows the DID's last one, with the fields the
account gives and the others kept, signed with the PDS's rotation key. Submitting one checks
that it keeps this PDS (its rotation key, endpoint, the account's signing key and handle); once
the PLC directory has it, the ``#identity`` event is appended and the identity cache forgets
the DID. Refusals are :class:`PlcOperationRefusedError`, a PLC directory that fails
:class:`~strato.pds.handles.PlcUnavailableError` (:mod:`strato.pds.routes.errors` answers
them).
"""

from __future__ import annotations

from typing import Any, Final

from strato.errors import IdentityError, PlcDirectoryError, PlcValidationError
from strato.firehose.messages import identity_message
from strato.identity.plc import operation_cid, parse_operation, sign_operation
from strato.identity.plc.operations import (
    ATPROTO_KEY_ID,
    ATPROTO_PDS_ID,
    ATPROTO_PDS_TYPE,
    OPERATION,
    Operation,
    ensure_at_prefix,
    is_tombstone,
    normalize_operation,
)
from strato.pds.accounts import EmailTokenPurpose
from strato.pds.context import PdsContext
from strato.pds.handles import PlcUnavailableError, forget
from strato.storage import WriteTxn

#: The emailed code that lets an account have an operation signed.
PURPOSE: Final = EmailTokenPurpose.PLC_OPERATION
#: The fields of an operation an account may set when it has one signed.
FIELDS: Final = ("rotationKeys", "verificationMethods", "alsoKnownAs", "services")


class PlcOperationRefusedError(Exception):
    """An operation this PDS will not sign or submit; the message says why."""


async def sign_update(ctx: PdsContext, did: str, token: str, changes: dict[str, Any]) -> Operation:
    """The operation after ``did``'s last one with the :data:`FIELDS` in ``changes``, signed
    with the PDS's rotation key; ``token`` (the emailed code) is checked, and used up once
    the operation is signed."""
    ctx.accounts.check_email_token(did, PURPOSE, token)
    _require_plc(did)
    last = await _last_operation(ctx, did)
    operation = _signed_update(ctx, last, changes)
    await ctx.writer.submit(lambda txn: ctx.accounts.use_email_token(txn, did, PURPOSE, token))
    return operation


async def submit(ctx: PdsContext, did: str, given: Any) -> None:
    """Send ``did``'s operation ``given`` (as the account sent it) to the PLC directory when it
    keeps this PDS, then announce the identity and forget the cached one."""
    _require_plc(did)
    try:
        operation = parse_operation(given)
    except PlcValidationError as err:
        raise PlcOperationRefusedError(f"Invalid operation: {err}") from None
    if operation["type"] != OPERATION:
        raise PlcOperationRefusedError("Invalid operation: only a plc_operation may be submitted")
    account = ctx.accounts.get(did)
    signing_key = ctx.keys.signing_key(did).public_key.did_key()
    _check_keeps_this_pds(ctx, operation, signing_key, account.handle)
    try:
        await ctx.plc.submit(did, operation)
    except PlcValidationError as err:
        raise PlcOperationRefusedError(f"the PLC directory refused the operation: {err}") from None
    except PlcDirectoryError as err:
        raise PlcUnavailableError(f"PLC directory: {err}") from None

    def work(txn: WriteTxn) -> None:
        ctx.sequencer.append(txn, [identity_message(did, account.handle)])

    await ctx.writer.submit(work)
    await forget(ctx, did, account.handle)


def _require_plc(did: str) -> None:
    if not did.startswith("did:plc:"):
        raise PlcOperationRefusedError(
            "this account's DID is not a did:plc: it has no PLC operations"
        )


async def _last_operation(ctx: PdsContext, did: str) -> Operation:
    try:
        last = await ctx.plc.get_last_operation(did)
    except (PlcDirectoryError, IdentityError) as err:
        raise PlcUnavailableError(f"PLC directory: {err}") from None
    if is_tombstone(last):
        raise PlcOperationRefusedError("Did is tombstoned")
    return last


def _signed_update(ctx: PdsContext, last: Operation, changes: dict[str, Any]) -> Operation:
    """The operation after ``last`` with ``changes``, signed with the PDS's rotation key
    (refused when the result is not a valid operation)."""
    current = normalize_operation(last)
    unsigned: Operation = {"type": OPERATION, "prev": operation_cid(last)}
    for name in FIELDS:
        unsigned[name] = changes[name] if name in changes else current[name]
    try:
        parse_operation(unsigned, allow_unsigned=True)
    except PlcValidationError as err:
        raise PlcOperationRefusedError(f"Invalid operation: {err}") from None
    return sign_operation(unsigned, ctx.keys.rotation_key())


def _check_keeps_this_pds(
    ctx: PdsContext, operation: Operation, signing_key: str, handle: str
) -> None:
    """Refuse an operation that would move the account off this PDS (as the reference)."""
    rotation_key = ctx.keys.rotation_key().public_key.did_key()
    if rotation_key not in operation["rotationKeys"]:
        raise PlcOperationRefusedError("Rotation keys do not include server's rotation key")
    service = operation["services"].get(ATPROTO_PDS_ID)
    if service is None or service.get("type") != ATPROTO_PDS_TYPE:
        raise PlcOperationRefusedError("Missing atproto_pds service type")
    if service.get("endpoint") != ctx.settings.public_url:
        raise PlcOperationRefusedError("Incorrect endpoint on atproto_pds service")
    if operation["verificationMethods"].get(ATPROTO_KEY_ID) != signing_key:
        raise PlcOperationRefusedError("Incorrect signing key")
    aliases = operation["alsoKnownAs"]
    if not aliases or aliases[0] != ensure_at_prefix(handle):
        raise PlcOperationRefusedError("Incorrect handle in alsoKnownAs")
