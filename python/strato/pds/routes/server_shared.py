"""What the ``com.atproto.server.*`` route modules share: the requester's account, emailing a
fresh code, timestamps as the outputs write them, and whether an account's DID document points
here.

:func:`did_doc_problem` is the reference's check before an account goes live (activateAccount)
and the ``validDid`` of checkAccountStatus: the document must name this PDS's public URL as
``#atproto_pds``, the account's signing key here as ``#atproto`` and, for a did:plc, this PDS's
rotation key among the rotation keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from strato.errors import IdentityError, KeyStoreError, PlcDirectoryError
from strato.pds.accounts import Account, EmailTokenPurpose
from strato.pds.context import PdsContext
from strato.pds.mailer import MailError
from strato.pds.routes.common import requester
from strato.storage import WriteTxn
from strato.xrpc import XrpcError, XrpcRequest


def iso_from_ms(ms: int) -> str:
    """A time in milliseconds as an atproto datetime (UTC, milliseconds, ``Z``)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_from_iso(value: str) -> int:
    """An atproto datetime (already checked by the input type) in milliseconds."""
    return int(datetime.fromisoformat(value).timestamp() * 1000)


def live_account(ctx: PdsContext, request: XrpcRequest[Any, Any]) -> Account:
    """The requester's account (a route that refuses a taken-down one says so in its
    verifier: ``check_takedown``, the reference's name)."""
    return ctx.accounts.get(requester(request))


async def email_token(ctx: PdsContext, account: Account, purpose: EmailTokenPurpose) -> None:
    """Make a new ``purpose`` code for ``account`` (replacing the last) and email it to the
    account's address (or log it, with no SMTP server configured)."""
    assert account.email is not None

    def work(txn: WriteTxn) -> str:
        return ctx.accounts.create_email_token(account.did, purpose, txn)

    token = await ctx.writer.submit(work)
    try:
        await ctx.mailer.send_token(
            purpose, token, did=account.did, handle=account.handle, to=account.email
        )
    except MailError as err:
        raise XrpcError(500, "InternalServerError", str(err)) from None


async def did_doc_problem(ctx: PdsContext, did: str) -> str | None:
    """Why ``did``'s current DID document does not let this PDS host it, or None when it
    does (resolved afresh, not from the cache)."""
    try:
        signing_key = ctx.keys.signing_key(did).public_key.did_key()
    except KeyStoreError:
        return "no signing key is stored for this account"
    try:
        if did.startswith("did:plc:"):
            data = await ctx.plc.get_data(did)
            rotation_keys = data.get("rotationKeys") or []
            if ctx.keys.rotation_key().public_key.did_key() not in rotation_keys:
                return "Server rotation key not included in PLC DID data"
            endpoint = ((data.get("services") or {}).get("atproto_pds") or {}).get("endpoint")
            declared = (data.get("verificationMethods") or {}).get("atproto")
        else:
            await ctx.identity.purge(did)
            doc = await ctx.identity.resolve_did(did)
            endpoint, declared = doc.pds_endpoint(), doc.signing_key()
    except (IdentityError, PlcDirectoryError, httpx.HTTPError, OSError) as err:
        return f"Could not resolve DID: {err}"
    if endpoint != ctx.settings.public_url:
        return "DID document atproto_pds service endpoint does not match PDS public url"
    if declared != signing_key:
        return "DID document verification method does not match expected signing key"
    return None
