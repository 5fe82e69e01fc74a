"""What the operator does to hosted accounts (``com.atproto.admin.*``): takedowns of accounts
and blobs and their reversal, email and password changes, and account deletion.

As the reference PDS: an account takedown (or its reversal) and its ``#account`` event are one
transaction; a blob takedown stops the blob being served; deleting an account removes
everything it holds in one transaction (:mod:`strato.pds.deletion`), then its blob files, and
the identity cache forgets it.
"""

from __future__ import annotations

import asyncio

from strato.firehose.messages import account_message
from strato.pds import deletion
from strato.pds.accounts import hash_password
from strato.pds.context import PdsContext
from strato.pds.handles import forget
from strato.storage import WriteTxn


async def set_account_takedown(ctx: PdsContext, did: str, ref: str | None) -> None:
    """Take ``did`` down under ``ref`` (None: reverse it), with its ``#account`` event in the
    same transaction."""

    def work(txn: WriteTxn) -> None:
        account = ctx.accounts.set_takedown(txn, did, ref)
        ctx.sequencer.append(txn, [account_message(did, account.status.event_status)])

    await ctx.writer.submit(work)


async def set_blob_takedown(ctx: PdsContext, did: str, cid: str, ref: str | None) -> None:
    """Take ``did``'s blob ``cid`` down under ``ref`` (None: reverse it)."""
    await asyncio.to_thread(ctx.blobs.set_takedown, did, cid, ref)


async def set_email(ctx: PdsContext, did: str, email: str) -> None:
    """Give ``did`` the address ``email``, unconfirmed."""
    await ctx.writer.submit(lambda txn: ctx.accounts.set_email(txn, did, email))


async def set_password(ctx: PdsContext, did: str, password: str) -> None:
    """Give ``did`` the password ``password`` (its sessions end)."""
    password_hash = await asyncio.to_thread(hash_password, password)
    await ctx.writer.submit(lambda txn: ctx.accounts.set_password(txn, did, password_hash))


async def delete_account(ctx: PdsContext, did: str, handle: str) -> None:
    """Delete ``did`` (whose handle is ``handle``) and everything it holds."""
    cids = await ctx.writer.submit(lambda txn: deletion.delete_account(ctx, txn, did))
    await asyncio.to_thread(ctx.blobs.delete_files, cids)
    await forget(ctx, did, handle)
