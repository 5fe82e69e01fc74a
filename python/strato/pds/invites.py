"""Invite codes as the operator and the accounts handle them: creating codes
(:func:`create_codes`), disabling them (:func:`disable_codes`) or an account's right to them
(:func:`set_account_invites`), and listing them (:func:`account_codes`, :func:`list_codes`).
The table itself is :mod:`strato.pds.accounts.invites`.

As the reference PDS: codes the operator creates belong to ``admin`` unless accounts are
named; ``admin``'s codes cannot be disabled by account. The lexicon bounds neither the number
of codes nor the accounts, so one call makes at most :data:`MAX_NEW_CODES` codes (one
transaction holds them all: more would stall every write behind it). Refusals are
:class:`InviteCodesRefusedError` (:mod:`strato.pds.routes.errors` answers them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

from strato.pds.accounts import ADMIN, InviteCodeInfo
from strato.pds.accounts import invites as invite_table
from strato.pds.context import PdsContext
from strato.storage import WriteTxn

#: The most codes one call creates (the count times the accounts).
MAX_NEW_CODES: Final = 10_000
#: The orders :func:`list_codes` knows, each with its sort key (sorted highest first).
ORDERS: Final[dict[str, Callable[[InviteCodeInfo], tuple[int, str]]]] = {
    "usage": lambda code: (len(code.uses), code.code),
    "recent": lambda code: (code.created_at, code.code),
}


class InviteCodesRefusedError(Exception):
    """A request about invite codes this PDS refuses; the message says why."""


async def create_codes(
    ctx: PdsContext, accounts: list[str], count: int, use_count: int
) -> list[tuple[str, list[str]]]:
    """``count`` new codes of ``use_count`` uses for each of ``accounts``, in one transaction;
    returns each account with its new codes."""
    if count < 1 or use_count < 1:
        raise InviteCodesRefusedError("codeCount and useCount must be at least 1")
    if count * len(accounts) > MAX_NEW_CODES:
        raise InviteCodesRefusedError(
            f"at most {MAX_NEW_CODES} codes at a time (codeCount x accounts)"
        )
    hostname = urlsplit(ctx.settings.public_url).hostname or "pds"
    now = ctx.accounts.now()

    def work(txn: WriteTxn) -> list[tuple[str, list[str]]]:
        made = []
        for account in accounts:
            codes = [invite_table.generate_code(hostname) for _ in range(count)]
            stored = invite_table.InviteCode(
                available=use_count, disabled=False, for_account=account, created_by=ADMIN,
                created_at=now,
            )  # fmt: skip
            for code in codes:
                invite_table.create(txn, code, stored)
            made.append((account, codes))
        return made

    return await ctx.writer.submit(work)


async def disable_codes(ctx: PdsContext, codes: list[str], accounts: list[str]) -> None:
    """Disable ``codes`` and every code of ``accounts`` (not ``admin``'s), in one
    transaction."""
    if ADMIN in accounts:
        raise InviteCodesRefusedError("cannot disable admin invite codes")

    def work(txn: WriteTxn) -> None:
        targets = set(codes)
        for account in accounts:
            targets.update(invite_table.codes_of(txn, account))
        for code in sorted(targets):
            invite_table.disable(txn, code)

    await ctx.writer.submit(work)


async def set_account_invites(ctx: PdsContext, did: str, disabled: bool) -> None:
    """Stop (or let again) ``did`` create and hand out invite codes."""
    await ctx.writer.submit(lambda txn: ctx.accounts.set_invites_disabled(txn, did, disabled))


def account_codes(ctx: PdsContext, did: str, *, include_used: bool) -> list[InviteCodeInfo]:
    """``did``'s own codes, newest first (``include_used``: with those that have no use
    left)."""
    codes = ctx.accounts.account_invite_codes(did)
    if not include_used:
        codes = [code for code in codes if len(code.uses) < code.available]
    codes.sort(key=lambda code: (code.created_at, code.code), reverse=True)
    return codes


def list_codes(
    ctx: PdsContext, order: str, cursor: str | None, limit: int
) -> tuple[list[InviteCodeInfo], str | None]:
    """One page of every code in ``order`` (one of :data:`ORDERS`), after the code
    ``cursor``; returns the page and the cursor of the next one (None after the last)."""
    codes = ctx.accounts.all_invite_codes()
    key = ORDERS.get(order)
    if key is None:
        raise InviteCodesRefusedError(f"unknown sort order: {order}")
    codes.sort(key=key, reverse=True)
    if cursor is not None:
        position = next((i for i, c in enumerate(codes) if c.code == cursor), None)
        if position is None:
            raise InviteCodesRefusedError("unknown cursor")
        codes = codes[position + 1 :]
    page = codes[:limit]
    return page, page[-1].code if len(codes) > limit else None
