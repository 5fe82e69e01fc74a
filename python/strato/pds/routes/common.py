"""What the PDS's route modules share: the requesting account, and naming a hosted
repository (the domain errors' answers are :mod:`strato.pds.routes.errors`)."""

from __future__ import annotations

from typing import Any

from strato.errors import (
    AccountNotFoundError,
)
from strato.pds.accounts import Account, AccountStatus
from strato.pds.context import PdsContext
from strato.xrpc import XrpcRequest
from strato.xrpc.auth import AccessCredentials
from strato.xrpc.errors import auth_required, invalid_request


def requester(request: XrpcRequest[Any, Any]) -> str:
    """The DID of the account an access token names (the routes that take one)."""
    credentials = request.auth
    if not isinstance(credentials, AccessCredentials):
        raise auth_required()
    return credentials.did


def hosted_account(ctx: PdsContext, repo: str) -> Account:
    """The hosted account a ``repo`` parameter (a DID or a handle) names; 400 ``RepoNotFound``
    when none."""
    try:
        return ctx.accounts.resolve(repo)
    except AccountNotFoundError:
        raise invalid_request(f"Could not find repo: {repo}", "RepoNotFound") from None


def require_active(ctx: PdsContext, account: Account) -> None:
    """Refuse to serve a repository that is not active, with the status as the error (as
    ``com.atproto.sync.*`` answers)."""
    status = ctx.accounts.status(account.did)
    if status is AccountStatus.TAKENDOWN:
        raise invalid_request(f"Repo has been takendown: {account.did}", "RepoTakendown")
    if status is AccountStatus.DEACTIVATED:
        raise invalid_request(f"Repo has been deactivated: {account.did}", "RepoDeactivated")
