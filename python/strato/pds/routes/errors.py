"""The PDS's domain errors as XRPC answers: :data:`ERRORS`, the table its router is built with
(:class:`strato.xrpc.ErrorMap`). The names and messages are those the reference PDS answers
with, which its clients match on.

An error a class here does not cover is a logged 500 (a bug, not a refusal).
"""

from __future__ import annotations

from typing import Any, Final

from strato import CID
from strato.errors import (
    AccountError,
    AccountNotFoundError,
    AuthenticationError,
    BlobError,
    BlobMimeTypeMismatchError,
    BlobNotFoundError,
    BlobSizeMismatchError,
    BlobTooLargeError,
    BlockNotFoundError,
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
from strato.pds.account_creation import DidRefusedError
from strato.pds.account_lifecycle import LifecycleRefusedError, WrongPasswordError
from strato.pds.accounts.app_passwords import AppPasswordError
from strato.pds.email_flows import EmailMismatchError, EmailRefusedError, EmailTokenRequiredError
from strato.pds.handles import (
    HandleRefusedError,
    InvalidHandleError,
    PlcUnavailableError,
    UnsupportedDomainError,
)
from strato.pds.invites import InviteCodesRefusedError
from strato.pds.mailer import MailError
from strato.pds.plc_operations import PlcOperationRefusedError
from strato.pds.preferences import PreferencesError
from strato.pds.repo_writes import (
    NotOwnRepoError,
    WriteAccountDeactivatedError,
    WriteAccountNotFoundError,
    WriteAccountTakendownError,
)
from strato.pds.sessions import LoginTakendownError
from strato.xrpc import ErrorMap


def reason(err: Exception) -> str:
    """The error's short reason (its text when it has none)."""
    text = getattr(err, "reason", None)
    return str(text) if text else str(err)


def _missing_blocks(err: BlockNotFoundError) -> str:
    """getBlocks' message: the CIDs it could not find."""
    missing = ",".join(c.encode() if isinstance(c, CID) else str(c) for c in err.missing)
    return f"Could not find cids: {missing}"


def _refused(kind: type[Exception], error: str | None = None) -> ErrorMap[Any]:
    """A 400 with the error's reason as the message."""
    return ErrorMap(kind, 400, error, reason)


ERRORS: Final[tuple[ErrorMap[Any], ...]] = (
    ErrorMap(RepoNotFoundError, 400, "RepoNotFound", lambda err: f"Could not find repo: {err}"),
    ErrorMap(
        RecordNotFoundError, 400, "RecordNotFound", lambda err: f"Could not locate record: {err}"
    ),
    ErrorMap(BlockNotFoundError, 400, None, _missing_blocks),
    ErrorMap(AccountNotFoundError, 400, "AccountNotFound", lambda err: str(err.reason)),
    ErrorMap(AuthenticationError, 401, None, lambda err: "Invalid identifier or password"),
    ErrorMap(LexiconValidationError, 400, None, lambda err: f"Invalid record: {err}"),
    ErrorMap(
        AppPasswordError,
        400,
        None,
        lambda err: f"could not create app-specific password: {err.reason}",
    ),
    _refused(AccountError),  # activating a taken-down account, a takedown without a reference
    _refused(InvalidSwapError, "InvalidSwap"),
    _refused(RecordExistsError),
    _refused(InvalidWriteError),
    _refused(ImportInProgressError),
    _refused(IdentifierError),
    _refused(HandleNotAvailableError, "HandleNotAvailable"),
    _refused(EmailNotAvailableError),
    _refused(InvalidEmailError),
    _refused(InvalidInviteCodeError, "InvalidInviteCode"),
    _refused(InvalidPasswordError, "InvalidPassword"),
    _refused(ExpiredTokenError, "ExpiredToken"),
    _refused(InvalidTokenError, "InvalidToken"),
    _refused(TokenRequiredError),
    _refused(BlobTooLargeError, "BlobTooLarge"),
    _refused(BlobNotFoundError, "BlobNotFound"),
    _refused(BlobMimeTypeMismatchError, "InvalidMimeType"),
    _refused(BlobSizeMismatchError, "InvalidSize"),
    _refused(BlobError),
    _refused(HandleRefusedError),
    _refused(InvalidHandleError, "InvalidHandle"),
    _refused(UnsupportedDomainError, "UnsupportedDomain"),
    ErrorMap(PlcUnavailableError, 502, "UpstreamFailure"),
    _refused(PreferencesError),
    _refused(InviteCodesRefusedError),
    _refused(PlcOperationRefusedError),
    ErrorMap(WriteAccountNotFoundError, 403, "AccountNotFound"),
    ErrorMap(WriteAccountTakendownError, 401, "AccountTakedown"),
    ErrorMap(WriteAccountDeactivatedError, 401, "AccountDeactivated"),
    ErrorMap(NotOwnRepoError, 401),
    ErrorMap(LoginTakendownError, 401, "AccountTakedown"),
    ErrorMap(WrongPasswordError, 401),
    _refused(DidRefusedError),
    _refused(LifecycleRefusedError),
    _refused(EmailRefusedError),
    _refused(EmailMismatchError, "InvalidEmail"),
    _refused(EmailTokenRequiredError, "TokenRequired"),
    ErrorMap(MailError, 500, "InternalServerError"),
)
