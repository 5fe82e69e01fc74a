"""The account lifecycle in ``com.atproto.server.*``: activateAccount, deactivateAccount,
checkAccountStatus, requestAccountDelete and deleteAccount.

As the reference PDS: activation and deactivation take a full-access session; asking for a
deletion code takes a full-access session of an account not taken down, and deleting takes no
session but the DID, the account password and that code. The changes are
:mod:`strato.pds.account_lifecycle`'s; the code is emailed by :mod:`strato.pds.email_flows`.
"""

from __future__ import annotations

from typing import Final

from strato.pds import account_lifecycle, email_flows
from strato.pds.accounts import EmailTokenPurpose
from strato.pds.context import PdsContext
from strato.pds.routes.common import requester
from strato.pds.routes.server_shared import ms_from_iso
from strato.xrpc import RouteLimit, XrpcRequest, XrpcRouter, by_account, by_ip
from strato.xrpc.auth import ACCESS_FULL, ACCESS_STANDARD
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
        await account_lifecycle.activate_account(ctx, requester(request))

    @router.method("com.atproto.server.deactivateAccount", auth=ctx.auth.access(ACCESS_FULL))
    async def deactivate_account(request: XrpcRequest[None, types.DeactivateAccountInput]) -> None:
        did = requester(request)
        given = request.input.delete_after
        delete_after = ms_from_iso(given) if isinstance(given, str) else None
        await account_lifecycle.deactivate_account(ctx, did, delete_after)

    @router.method("com.atproto.server.checkAccountStatus", auth=ctx.auth.access(ACCESS_STANDARD))
    async def check_account_status(
        request: XrpcRequest[None, None],
    ) -> types.CheckAccountStatusOutput:
        report = await account_lifecycle.account_report(ctx, requester(request))
        repo = report.repo
        return types.CheckAccountStatusOutput(
            activated=report.activated, valid_did=report.did_problem is None,
            repo_commit=repo.commit, repo_rev=repo.rev, repo_blocks=repo.blocks,
            indexed_records=repo.records, private_state_values=0,
            expected_blobs=report.expected_blobs, imported_blobs=report.imported_blobs,
        )  # fmt: skip


def _register_deletion(router: XrpcRouter, ctx: PdsContext) -> None:
    @router.method(
        "com.atproto.server.requestAccountDelete",
        auth=ctx.auth.access(ACCESS_FULL, check_takedown=True),
        limits=[RouteLimit(limit, by_account) for limit in REQUEST_DELETE_LIMITS],
    )
    async def request_account_delete(request: XrpcRequest[None, None]) -> None:
        await email_flows.request_code(ctx, requester(request), EmailTokenPurpose.DELETE_ACCOUNT)

    @router.method(
        "com.atproto.server.deleteAccount", limits=[RouteLimit(DELETE_ACCOUNT_LIMIT, by_ip)]
    )
    async def delete_account(request: XrpcRequest[None, types.DeleteAccountInput]) -> None:
        body = request.input
        await account_lifecycle.delete_account(ctx, body.did, body.password, body.token)
