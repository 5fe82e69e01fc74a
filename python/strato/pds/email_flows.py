"""Emailed codes and what they unlock: sending a code (:func:`email_token`, also for account
deletion and PLC operations), confirming and changing the address, and resetting the password.

Codes are made and kept by the account store and sent by :mod:`strato.pds.mailer` (or logged,
with no SMTP server). As the reference PDS: changing a confirmed address takes the emailed
``update_email`` code; a password reset takes only the code sent to the account's address, and
ends every session of the account.

Refusals are :class:`EmailRefusedError` (and its subclasses), the
:class:`strato.errors.AccountError` family and :class:`strato.pds.mailer.MailError`
(:mod:`strato.pds.routes.errors` answers them).
"""

from __future__ import annotations

import asyncio
from typing import Final

from strato.errors import AccountNotFoundError, InvalidEmailError, InvalidPasswordError
from strato.pds.accounts import Account, EmailTokenPurpose, hash_password, normalize_email
from strato.pds.context import PdsContext
from strato.storage import WriteTxn

_NO_EMAIL: Final = "account does not have an email address"
_UNSUPPORTED: Final = "This email address is not supported, please use a different email."


class EmailRefusedError(Exception):
    """An email flow refused (no address on the account, a bad new password...); the message
    says why."""


class EmailMismatchError(EmailRefusedError):
    """An address to confirm that is not the account's."""


class EmailTokenRequiredError(EmailRefusedError):
    """A change of a confirmed address without the emailed code."""


async def email_token(ctx: PdsContext, account: Account, purpose: EmailTokenPurpose) -> None:
    """Make a new ``purpose`` code for ``account`` (replacing the last) and email it to the
    account's address (or log it, with no SMTP server configured)."""
    assert account.email is not None

    def work(txn: WriteTxn) -> str:
        return ctx.accounts.create_email_token(txn, account.did, purpose)

    token = await ctx.writer.submit(work)
    await ctx.mailer.send_token(
        purpose, token, did=account.did, handle=account.handle, to=account.email
    )


async def request_code(ctx: PdsContext, did: str, purpose: EmailTokenPurpose) -> None:
    """Email a ``purpose`` code to the address of the account of ``did``."""
    account = ctx.accounts.get(did)
    if account.email is None:
        raise EmailRefusedError(_NO_EMAIL)
    await email_token(ctx, account, purpose)


async def confirm_email(ctx: PdsContext, did: str, email: str, token: str) -> None:
    """Mark the address ``email`` of ``did`` confirmed, given the code sent to it."""
    account = ctx.accounts.get(did)
    if account.email is None or account.email != email.strip().lower():
        raise EmailMismatchError("invalid email")

    def work(txn: WriteTxn) -> None:
        ctx.accounts.confirm_email(txn, account.did, email, token)

    await ctx.writer.submit(work)


async def request_email_update(ctx: PdsContext, did: str) -> bool:
    """Start changing the address of ``did``: whether the change needs a code (the address is
    confirmed; the code is then emailed to it)."""
    account = ctx.accounts.get(did)
    if account.email is None:
        raise EmailRefusedError(_NO_EMAIL)
    token_required = account.email_confirmed_at is not None
    if token_required:
        await email_token(ctx, account, EmailTokenPurpose.UPDATE_EMAIL)
    return token_required


async def update_email(ctx: PdsContext, did: str, email: str, token: str | None) -> None:
    """Change the address of ``did`` to ``email`` (with the emailed code once the current one
    is confirmed)."""
    account = ctx.accounts.get(did)
    try:
        address = normalize_email(email)
    except InvalidEmailError:
        raise EmailRefusedError(_UNSUPPORTED) from None
    if account.email_confirmed_at is not None and token is None:
        raise EmailTokenRequiredError("confirmation token required")

    def work(txn: WriteTxn) -> None:
        ctx.accounts.update_email(txn, account.did, address, token)

    await ctx.writer.submit(work)


async def request_password_reset(ctx: PdsContext, email: str) -> None:
    """Email a password reset code to the account at ``email``."""
    try:
        account = ctx.accounts.get_by_email(email)
    except AccountNotFoundError:
        raise EmailRefusedError(_NO_EMAIL) from None
    await email_token(ctx, account, EmailTokenPurpose.RESET_PASSWORD)


async def reset_password(ctx: PdsContext, token: str, password: str) -> None:
    """Set a new password given the emailed reset code alone (every session ends)."""
    try:
        password_hash = await asyncio.to_thread(hash_password, password)
    except InvalidPasswordError:
        raise EmailRefusedError("Invalid password length.") from None

    def work(txn: WriteTxn) -> None:
        ctx.accounts.reset_password(txn, token, password_hash)

    await ctx.writer.submit(work)
