"""Account deletion: everything the PDS holds for an account goes in one transaction (the
repository, its signing key, its blob rows, its preferences and the account itself) together
with the ``#account`` event saying it is deleted. The blob files are removed after the commit,
by the caller (:meth:`strato.pds.blobs.BlobStore.delete_files`), so a crash in between leaves
only unreferenced files, which the blob GC collects."""

from __future__ import annotations

from strato.firehose.messages import account_message
from strato.pds.accounts import AccountStatus
from strato.pds.context import PdsContext
from strato.pds.preferences import delete_preferences
from strato.storage import WriteTxn


def delete_account(ctx: PdsContext, txn: WriteTxn, did: str) -> list[str]:
    """Delete ``did``'s account inside ``txn``; returns the CIDs of the blob files to remove
    once it has committed."""
    ctx.repos.destroy(txn, did)
    ctx.keys.delete_signing_key(txn, did)
    blob_cids = ctx.blobs.delete_account_blobs(txn, did)
    delete_preferences(txn, did)
    ctx.accounts.delete_account(txn, did)
    ctx.sequencer.append(txn, [account_message(did, AccountStatus.DELETED.event_status)])
    return blob_cids
