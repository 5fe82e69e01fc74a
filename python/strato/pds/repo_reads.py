"""Reads of hosted repositories' records (``com.atproto.repo.getRecord``, ``listRecords`` and
``describeRepo``'s collections), each in one read transaction of its own.

As the reference PDS, a taken-down account's records are not served: :func:`get_record` finds
no record and :func:`list_records` no page for it.
"""

from __future__ import annotations

from strato.pds.accounts import AccountStatus
from strato.pds.context import PdsContext
from strato.repo import RecordData, RecordPage


def get_record(
    ctx: PdsContext, did: str, collection: str, rkey: str, *, cid: str | None = None
) -> RecordData | None:
    """The record at ``collection/rkey`` (and at the CID ``cid`` when given), or None."""
    if taken_down(ctx, did):
        return None
    with ctx.store.read() as txn:
        record = ctx.repos.get_record(txn, did, collection, rkey)
    if record is None or (cid is not None and record.cid.encode() != cid):
        return None
    return record


def list_records(
    ctx: PdsContext, did: str, collection: str, *, limit: int, cursor: str | None, reverse: bool
) -> RecordPage | None:
    """A page of the records of ``collection``, or None when the account is taken down."""
    if taken_down(ctx, did):
        return None
    with ctx.store.read() as txn:
        return ctx.repos.list_records(
            txn, did, collection, limit=limit, cursor=cursor, reverse=reverse
        )


def collections(ctx: PdsContext, did: str) -> list[str]:
    """The collections the repository of ``did`` holds records in."""
    with ctx.store.read() as txn:
        return ctx.repos.collections(txn, did)


def taken_down(ctx: PdsContext, did: str) -> bool:
    """The reference's record reads treat a taken-down account as not hosted here."""
    return ctx.accounts.status(did) is AccountStatus.TAKENDOWN
