"""The account lifecycle in ``com.atproto.server.*``: activateAccount, deactivateAccount,
checkAccountStatus, requestAccountDelete and deleteAccount.

As the reference PDS: activation and deactivation take a full-access session; activation first
checks that the DID document points here (:func:`.server_shared.did_doc_problem`), then emits
``#account``, ``#identity`` and ``#sync`` (the reference over-emits, for consumers that missed
the migration); deactivation emits ``#account`` with status ``deactivated`` and keeps the
``deleteAfter`` the user asked for. Deletion is a two-step flow: ``requestAccountDelete`` emails
a code, ``deleteAccount`` takes the DID, the account password (not an app password) and that
code, and removes in one transaction the repository, the signing key, the blob rows, the
account and its credentials, with the ``#account`` event saying ``deleted``; the blob files go
after the commit. Each change and its events share one writer transaction, so a refused request
writes nothing.
"""

from __future__ import annotations

import asyncio
from typing import Final

from strato.errors import AccountNotFoundError
from strato.firehose.messages import account_message, identity_message, sync_message
from strato.pds import deletion
from strato.pds.accounts import EmailTokenPurpose
from strato.pds.context import PdsContext
from strato.pds.routes.common import requester
from strato.pds.routes.server_shared import did_doc_problem, email_token, live_account, ms_from_iso
from strato.storage import WriteTxn
from strato.xrpc import RouteLimit, XrpcRequest, XrpcRouter, by_account, by_ip
from strato.xrpc.auth import ACCESS_FULL, ACCESS_STANDARD
from strato.xrpc.errors import auth_required, invalid_request
from strato.xrpc.ratelimit import RateLimit
from strato.xrpc.types import server as types

#: The reference's limits on asking for a deletion code (per account) and on deleting.
REQUEST_DELETE_LIMITS: Final = (
    RateLimit("request-account-delete-day", 15, 86_400.0),
    RateLimit("request-account-delete-hour", 5, 3_600.0),
)
DELETE_ACCOUNT_LIMIT: Final = RateLimit("delete-account", 50, 300.0)


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the account lifecycle methods to ``router``."""
    _register_status(router, ctx)
    _register_deletion(router, ctx)


def _register_status(router: XrpcRouter, ctx: PdsContext) -> None:

    @router.method("com.atproto.server.activateAccount", auth=ctx.auth.access(ACCESS_FULL))
    async def activate_account(request: XrpcRequest[None, None]) -> None:
        did = requester(request)
        ctx.accounts.get(did)
        problem = await did_doc_problem(ctx, did)
        if problem is not None:
            raise invalid_request(problem)

        def work(txn: WriteTxn) -> None:
            account = ctx.accounts.activate(did, txn)
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

    @router.method("com.atproto.server.deactivateAccount", auth=ctx.auth.access(ACCESS_FULL))
    async def deactivate_account(request: XrpcRequest[None, types.DeactivateAccountInput]) -> None:
        did = requester(request)
        given = request.input.delete_after
        delete_after = ms_from_iso(given) if isinstance(given, str) else None

        def work(txn: WriteTxn) -> None:
            account = ctx.accounts.deactivate(did, delete_after=delete_after, txn=txn)
            ctx.sequencer.append(txn, [account_message(did, account.status.event_status)])

        await ctx.writer.submit(work)

    @router.method("com.atproto.server.checkAccountStatus", auth=ctx.auth.access(ACCESS_STANDARD))
    async def check_account_status(
        request: XrpcRequest[None, None],
    ) -> types.CheckAccountStatusOutput:
        did = requester(request)
        account = ctx.accounts.get(did)
        counts = await asyncio.to_thread(_repo_counts, ctx, did)
        expected, imported = await asyncio.to_thread(ctx.blobs.blob_counts, did)
        commit, rev, blocks, records = counts
        problem = await did_doc_problem(ctx, did)
        return types.CheckAccountStatusOutput(
            activated=account.deactivated_at is None, valid_did=problem is None,
            repo_commit=commit, repo_rev=rev, repo_blocks=blocks, indexed_records=records,
            private_state_values=0, expected_blobs=expected, imported_blobs=imported,
        )  # fmt: skip


def _register_deletion(router: XrpcRouter, ctx: PdsContext) -> None:
    @router.method(
        "com.atproto.server.requestAccountDelete",
        auth=ctx.auth.access(ACCESS_FULL, check_takedown=True),
        limits=[RouteLimit(limit, by_account) for limit in REQUEST_DELETE_LIMITS],
    )
    async def request_account_delete(request: XrpcRequest[None, None]) -> None:
        account = live_account(ctx, request)
        if account.email is None:
            raise invalid_request("account does not have an email address")
        await email_token(ctx, account, EmailTokenPurpose.DELETE_ACCOUNT)

    @router.method(
        "com.atproto.server.deleteAccount", limits=[RouteLimit(DELETE_ACCOUNT_LIMIT, by_ip)]
    )
    async def delete_account(request: XrpcRequest[None, types.DeleteAccountInput]) -> None:
        body = request.input
        did = body.did
        try:
            ctx.accounts.get(did)
        except AccountNotFoundError:
            raise invalid_request("account not found") from None
        if not await asyncio.to_thread(ctx.accounts.verify_password, did, body.password):
            raise auth_required("Invalid did or password")

        def work(txn: WriteTxn) -> list[str]:
            ctx.accounts.use_email_token(did, EmailTokenPurpose.DELETE_ACCOUNT, body.token, txn)
            return deletion.delete_account(ctx, txn, did)

        blob_cids = await ctx.writer.submit(work)
        await asyncio.to_thread(ctx.blobs.delete_files, blob_cids)


def _repo_counts(ctx: PdsContext, did: str) -> tuple[str, str, int, int]:
    """The repository's commit CID and rev, how many blocks it holds and how many records
    are indexed."""
    with ctx.store.read() as txn:
        head = ctx.repos.latest(txn, did)
        blocks, records = ctx.repos.counts(txn, did)
    return head.commit.encode(), head.rev, blocks, records
