"""What the PDS's route modules share: the domain errors as XRPC answers, the requesting
account, and naming a hosted repository.

:func:`xrpc_errors` turns the building blocks' exceptions into the errors the reference PDS
answers with (the names its clients match on): a handler wraps its work in it rather than
catching each error itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from strato.errors import (
    AccountNotFoundError,
    AuthenticationError,
    BlobError,
    BlobMimeTypeMismatchError,
    BlobNotFoundError,
    BlobSizeMismatchError,
    BlobTooLargeError,
    EmailNotAvailableError,
    ExpiredTokenError,
    HandleNotAvailableError,
    IdentifierError,
    ImportInProgressError,
    InvalidEmailError,
    InvalidInviteCodeError,
    InvalidPasswordError,
    InvalidSwapError,
    InvalidTokenError,
    InvalidWriteError,
    LexiconValidationError,
    RecordExistsError,
    RecordNotFoundError,
    RepoNotFoundError,
    TokenRequiredError,
)
from strato.pds.accounts import Account, AccountStatus
from strato.pds.context import PdsContext
from strato.xrpc import XrpcError, XrpcRequest
from strato.xrpc.auth import AccessCredentials
from strato.xrpc.errors import auth_required, invalid_request

_BAD_REQUEST: dict[type[Exception], str | None] = {
    InvalidSwapError: "InvalidSwap",
    RecordExistsError: None,
    InvalidWriteError: None,
    ImportInProgressError: None,
    IdentifierError: None,
    HandleNotAvailableError: "HandleNotAvailable",
    EmailNotAvailableError: None,
    InvalidEmailError: None,
    InvalidInviteCodeError: "InvalidInviteCode",
    InvalidPasswordError: "InvalidPassword",
    ExpiredTokenError: "ExpiredToken",
    InvalidTokenError: "InvalidToken",
    TokenRequiredError: None,
    BlobTooLargeError: "BlobTooLarge",
    BlobNotFoundError: "BlobNotFound",
    BlobMimeTypeMismatchError: "InvalidMimeType",
    BlobSizeMismatchError: "InvalidSize",
    BlobError: None,  # after its subclasses: the first match names the error
}


@contextlib.contextmanager
def xrpc_errors() -> Iterator[None]:
    """Answer the building blocks' errors as XRPC errors."""
    try:
        yield
    except XrpcError:
        raise
    except RepoNotFoundError as err:
        raise invalid_request(f"Could not find repo: {err}", "RepoNotFound") from None
    except RecordNotFoundError as err:
        raise invalid_request(f"Could not locate record: {err}", "RecordNotFound") from None
    except AccountNotFoundError as err:
        raise invalid_request(str(err.reason), "AccountNotFound") from None
    except AuthenticationError:
        raise auth_required("Invalid identifier or password") from None
    except LexiconValidationError as err:
        raise invalid_request(f"Invalid record: {err}") from None
    except Exception as err:
        for kind, name in _BAD_REQUEST.items():
            if isinstance(err, kind):
                raise invalid_request(_reason(err), name) from None
        raise


def _reason(err: Exception) -> str:
    reason = getattr(err, "reason", None)
    return str(reason) if reason else str(err)


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


def hosted_did(ctx: PdsContext, handle: str) -> str | None:
    """The DID of the hosted account holding ``handle``, None when no account here does."""
    try:
        return ctx.accounts.get_by_handle(handle).did
    except (AccountNotFoundError, ValueError):
        return None
