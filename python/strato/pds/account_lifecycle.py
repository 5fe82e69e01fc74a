"""An account's life after creation: going live (activate), pausing (deactivate), its status
as checkAccountStatus reports it, and deletion; and whether an account's DID document lets this
PDS host it (:func:`did_doc_problem`).

As the reference PDS: activation first checks that the DID document points here, then emits
``#account``, ``#identity`` and ``#sync`` (the reference over-emits, for consumers that missed
the migration); deactivation emits ``#account`` with status ``deactivated`` and keeps the
``deleteAfter`` the user asked for. Deletion takes the account password (not an app password)
and the emailed ``delete_account`` code, and removes in one transaction the repository, the
signing key, the blob rows, the account and its credentials, with the ``#account`` event saying
``deleted``; the blob files go after the commit. Each change and its events share one writer
transaction, so a refused request writes nothing.

:func:`did_doc_problem` is the reference's check before an account goes live and the
``validDid`` of checkAccountStatus: the document must name this PDS's public URL as
``#atproto_pds``, the account's signing key here as ``#atproto`` and, for a did:plc, this PDS's
rotation key among the rotation keys.

Refusals are :class:`LifecycleRefusedError`, :class:`WrongPasswordError` and the
:class:`strato.errors.AccountError` family (:mod:`strato.pds.routes.errors` answers them).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from strato.errors import AccountNotFoundError, IdentityError, KeyStoreError, PlcDirectoryError
from strato.firehose.messages import account_message, identity_message, sync_message
from strato.pds import deletion
from strato.pds.accounts import EmailTokenPurpose
from strato.pds.context import PdsContext
from strato.storage import WriteTxn


class LifecycleRefusedError(Exception):
    """A change of an account's life refused; the message says why."""


class WrongPasswordError(Exception):
    """An account deletion with a DID and password that do not match."""


@dataclass(frozen=True, slots=True)
class RepoCounts:
    """A repository's head (commit CID and rev), how many blocks it holds and how many records
    are indexed."""

    commit: str
    rev: str
    blocks: int
    records: int


@dataclass(frozen=True, slots=True)
class AccountReport:
    """An account's state as checkAccountStatus answers it: whether it is active, why its DID
    document does not let this PDS host it (None: it does), its repository and how many blobs
    its records name and how many of those are here."""

    activated: bool
    did_problem: str | None
    repo: RepoCounts
    expected_blobs: int
    imported_blobs: int


async def activate_account(ctx: PdsContext, did: str) -> None:
    """Put the account of ``did`` live, once its DID document points here."""
    ctx.accounts.get(did)
    problem = await did_doc_problem(ctx, did)
    if problem is not None:
        raise LifecycleRefusedError(problem)

    def work(txn: WriteTxn) -> None:
        account = ctx.accounts.activate(txn, did)
        head = ctx.repos.latest(txn, did)
        ctx.sequencer.append(
            txn,
            [
                account_message(did, account.status.event_status),
                identity_message(did, account.handle),
                sync_message(did, head.rev, ctx.repos.commit_car(txn, did)),
            ],
        )

    await ctx.writer.submit(work)


async def deactivate_account(ctx: PdsContext, did: str, delete_after: int | None) -> None:
    """Deactivate the account of ``did``, keeping ``delete_after`` (ms since the epoch)."""

    def work(txn: WriteTxn) -> None:
        account = ctx.accounts.deactivate(txn, did, delete_after=delete_after)
        ctx.sequencer.append(txn, [account_message(did, account.status.event_status)])

    await ctx.writer.submit(work)


async def account_report(ctx: PdsContext, did: str) -> AccountReport:
    """The state of the account of ``did`` (checkAccountStatus)."""
    account = ctx.accounts.get(did)
    repo = await asyncio.to_thread(_repo_counts, ctx, did)
    expected, imported = await asyncio.to_thread(ctx.blobs.blob_counts, did)
    problem = await did_doc_problem(ctx, did)
    return AccountReport(
        activated=account.deactivated_at is None, did_problem=problem, repo=repo,
        expected_blobs=expected, imported_blobs=imported,
    )  # fmt: skip


async def delete_account(ctx: PdsContext, did: str, password: str, token: str) -> None:
    """Delete the account of ``did`` given its password and the emailed deletion code."""
    try:
        ctx.accounts.get(did)
    except AccountNotFoundError:
        raise LifecycleRefusedError("account not found") from None
    if not await asyncio.to_thread(ctx.accounts.verify_password, did, password):
        raise WrongPasswordError("Invalid did or password")

    def work(txn: WriteTxn) -> list[str]:
        ctx.accounts.use_email_token(txn, did, EmailTokenPurpose.DELETE_ACCOUNT, token)
        return deletion.delete_account(ctx, txn, did)

    blob_cids = await ctx.writer.submit(work)
    await asyncio.to_thread(ctx.blobs.delete_files, blob_cids)


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


def _repo_counts(ctx: PdsContext, did: str) -> RepoCounts:
    with ctx.store.read() as txn:
        head = ctx.repos.latest(txn, did)
        blocks, records = ctx.repos.counts(txn, did)
    return RepoCounts(head.commit.encode(), head.rev, blocks, records)
