"""The ``strato account`` commands: create an account on a running PDS over HTTP, and manage the
accounts of a PDS data directory. Registered on the main parser by :mod:`strato.cli.main`, which
prints errors.

Commands::

    strato account create --pds URL --handle H --password P [--email E] [--invite-code C]
    strato account list [--data-dir DIR]
    strato account takedown DID|HANDLE [--reverse] [--ref REF] [--data-dir DIR]
    strato account reset-password DID|HANDLE [--password P] [--data-dir DIR]
    strato account token DID|HANDLE [--purpose PURPOSE] [--data-dir DIR] [--master-key-file F]

The data-directory commands open the PDS's LMDB environment directly, so they work whether the
PDS runs or not: LMDB lets several processes share it, writes are serialized, and the running
PDS's firehose polls the event log, so a takedown's ``#account`` event goes out within a second.
``token`` issues a new emailed code rather than showing a pending one (only digests of codes
are kept), so it needs the PDS's master key, found as the PDS finds it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx

from strato.errors import AtprotoError
from strato.firehose import LmdbEventLog
from strato.firehose.messages import account_message
from strato.pds.accounts import (
    EMAIL_CODE_SECRET,
    EMAIL_TOKEN_LIFETIME,
    Account,
    AccountStore,
    EmailTokenPurpose,
    hash_password,
)
from strato.pds.context import open_store
from strato.pds.keys import MASTER_KEY_ENV, KeyStore, MasterKey
from strato.pds.settings import DEFAULT_DATA_DIR, ENV_PREFIX, PdsSettings
from strato.storage import Store, WriteTxn

#: The takedown reference given when ``--ref`` is not.
DEFAULT_TAKEDOWN_REF: Final = "strato-cli"
_DATA_DIR_ENV: Final = ENV_PREFIX + "DATA_DIR"
_MASTER_KEY_FILE_ENV: Final = ENV_PREFIX + "MASTER_KEY_FILE"
#: The code ``strato account token`` issues when ``--purpose`` is not given.
DEFAULT_TOKEN_PURPOSE: Final = EmailTokenPurpose.RESET_PASSWORD


class AccountCommandError(AtprotoError):
    """A request the PDS refused, or a data directory that is not a PDS's."""


def add_account_commands(groups: Any) -> None:
    """``strato account create|list|takedown|reset-password|token``."""
    account = groups.add_parser(
        "account",
        help="create and manage PDS accounts",
        description="Create an account on a running PDS (over HTTP), or list and manage the "
        "accounts of a PDS data directory, whether that PDS is running or not.",
    )
    commands = account.add_subparsers(
        dest="command", required=True, metavar="{create,list,takedown,reset-password,token}"
    )
    create = commands.add_parser(
        "create",
        help="create an account on a running PDS",
        description="Call com.atproto.server.createAccount on the PDS at --pds (which registers "
        "a new did:plc for it) and print the new account's DID and handle.",
    )
    create.add_argument("--pds", required=True, metavar="URL", help="the PDS's URL")
    create.add_argument("--handle", required=True, help="the handle, under a domain the PDS serves")
    create.add_argument("--password", required=True, help="the account password")
    create.add_argument("--email", help="the account's email address (optional)")
    create.add_argument("--invite-code", help="an invite code, when the PDS requires one")
    create.set_defaults(handler=cmd_create)

    listing = commands.add_parser(
        "list",
        help="list the accounts of a PDS data directory",
        description="Print a table of the accounts: DID, handle, email, hosting status "
        "(active, deactivated, takendown) and creation time (UTC).",
    )
    _data_dir_option(listing)
    listing.set_defaults(handler=cmd_list)

    takedown = commands.add_parser(
        "takedown",
        help="take an account down (or reverse a takedown)",
        description="Take the account down: its content stops being served, its sessions end "
        "and an #account event (active false, status takendown) goes out on the firehose. "
        "With --reverse, restore it (an #account event with its status now).",
    )
    _account_argument(takedown)
    takedown.add_argument(
        "--reverse", action="store_true", help="reverse an earlier takedown instead"
    )
    takedown.add_argument(
        "--ref",
        default=DEFAULT_TAKEDOWN_REF,
        help=f"the moderation reference of the takedown (default {DEFAULT_TAKEDOWN_REF})",
    )
    _data_dir_option(takedown)
    takedown.set_defaults(handler=cmd_takedown)

    reset = commands.add_parser(
        "reset-password",
        help="set a new account password",
        description="Replace the account password (its sessions end). Without --password a "
        "random one is generated and printed.",
    )
    _account_argument(reset)
    reset.add_argument("--password", help="the new password (default: generated and printed)")
    _data_dir_option(reset)
    reset.set_defaults(handler=cmd_reset_password)

    minutes = EMAIL_TOKEN_LIFETIME // 60_000
    token = commands.add_parser(
        "token",
        help="issue an emailed code to an account and print it",
        description="Issue a new emailed code (what the PDS sends by mail, or logs when it has "
        "no SMTP server) to the account and print it on stdout, to hand to its user: it "
        f"replaces the account's pending code for that purpose and is valid {minutes} "
        "minutes. Pending codes cannot be shown: the PDS keeps only keyed digests of them. "
        f"The key comes from the PDS's master key: {MASTER_KEY_ENV} (64 hex digits), else "
        "--master-key-file, else DATA_DIR/master.key; a key other than the PDS's is refused.",
    )
    _account_argument(token)
    token.add_argument(
        "--purpose",
        choices=[str(purpose) for purpose in EmailTokenPurpose],
        default=str(DEFAULT_TOKEN_PURPOSE),
        help=f"what the code is for (default {DEFAULT_TOKEN_PURPOSE}, the code "
        "com.atproto.server.resetPassword takes)",
    )
    _data_dir_option(token)
    token.add_argument(
        "--master-key-file",
        metavar="FILE",
        type=Path,
        help=f"the PDS's master key file (default DATA_DIR/master.key; env "
        f"{_MASTER_KEY_FILE_ENV}; {MASTER_KEY_ENV} holding the key itself wins over both)",
    )
    token.set_defaults(handler=cmd_token)


def _account_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account", metavar="DID|HANDLE", help="the account (a DID, a handle)")


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"the PDS's data directory (default {DEFAULT_DATA_DIR}, where 'strato up' keeps "
        f"it; env {_DATA_DIR_ENV})",
    )


# ---------------------------------------------------------------------------------------------
# create (HTTP)


def cmd_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"handle": args.handle, "password": args.password}
    if args.email is not None:
        body["email"] = args.email
    if args.invite_code is not None:
        body["inviteCode"] = args.invite_code
    session = asyncio.run(_create_account(args.pds.rstrip("/"), body))
    print(f"did: {session['did']}")
    print(f"handle: {session['handle']}")
    return 0


async def _create_account(pds: str, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{pds}/xrpc/com.atproto.server.createAccount"
    try:
        async with httpx.AsyncClient(timeout=60.0) as client:
            response = await client.post(url, json=body)
    except httpx.HTTPError as err:
        raise AccountCommandError(f"cannot reach the PDS at {pds}: {err}") from err
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict):
        raise AccountCommandError(f"createAccount failed: {_describe(response, answer)}")
    return answer


def _describe(response: httpx.Response, answer: object) -> str:
    if isinstance(answer, dict) and "error" in answer:
        message = answer.get("message")
        return f"{answer['error']}: {message}" if message else str(answer["error"])
    return f"HTTP {response.status_code}"


# ---------------------------------------------------------------------------------------------
# data-directory commands


@contextmanager
def _accounts(
    args: argparse.Namespace, *, email_codes: bool = False
) -> Iterator[tuple[AccountStore, Store]]:
    """The account store of the data directory (with ``email_codes``, able to issue codes),
    and the store under it."""
    data_dir = args.data_dir or Path(os.environ.get(_DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    if not (data_dir / "db").is_dir():
        raise AccountCommandError(
            f"no PDS data in {data_dir} (start 'strato up' or 'strato pds' once, or give "
            "--data-dir)"
        )
    store = open_store(data_dir)
    try:
        key = _email_code_key(args, data_dir, store) if email_codes else None
        yield AccountStore(store, email_code_key=key), store
    finally:
        store.close()


def _email_code_key(args: argparse.Namespace, data_dir: Path, store: Store) -> bytes:
    """The key of the emailed codes' digests, derived from the master key found as the PDS
    finds it; :class:`~strato.errors.KeyStoreError` when it is missing or not the PDS's."""
    named = args.master_key_file or os.environ.get(_MASTER_KEY_FILE_ENV)
    settings = PdsSettings(data_dir=data_dir, master_key_file=Path(named) if named else None)
    master = MasterKey.load(settings.key_file)
    KeyStore(store, master)  # refuses a master key other than the one the PDS sealed with
    return master.derive_secret(EMAIL_CODE_SECRET)


def cmd_list(args: argparse.Namespace) -> int:
    with _accounts(args) as (accounts, _):
        rows = [_row(account) for account in _all_accounts(accounts)]
    header = ("DID", "HANDLE", "EMAIL", "STATUS", "CREATED")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _all_accounts(accounts: AccountStore) -> Iterator[Account]:
    after = None
    while True:
        page = accounts.list_accounts(after=after)
        yield from page
        if not page:
            return
        after = page[-1].did


def _row(account: Account) -> tuple[str, str, str, str, str]:
    email = account.email or "-"
    return account.did, account.handle, email, str(account.status), _time(account.created_at)


def _time(milliseconds: int) -> str:
    moment = datetime.fromtimestamp(milliseconds / 1000, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def cmd_takedown(args: argparse.Namespace) -> int:
    with _accounts(args) as (accounts, store):
        did = accounts.resolve(args.account).did
        sequencer = LmdbEventLog(store)
        ref = None if args.reverse else args.ref

        def work(txn: WriteTxn) -> tuple[Account, int]:
            account = accounts.set_takedown(txn, did, ref)
            return account, sequencer.append(
                txn, [account_message(did, account.status.event_status)]
            )

        account, seq = store.transact(work)
    print(f"{account.did} ({account.handle}): {account.status} (event {seq})")
    return 0


def cmd_reset_password(args: argparse.Namespace) -> int:
    password = args.password if args.password is not None else _new_password()
    password_hash = hash_password(password)
    with _accounts(args) as (accounts, _):
        account = accounts.resolve(args.account)
        accounts.set_password(None, account.did, password_hash)
    sys.stderr.write(f"password of {account.handle} ({account.did}) changed; sessions ended\n")
    if args.password is None:
        print(password)
    return 0


def _new_password() -> str:
    """A random password: 20 characters from the URL-safe alphabet (120 bits)."""
    return secrets.token_urlsafe(15)


def cmd_token(args: argparse.Namespace) -> int:
    purpose = EmailTokenPurpose(args.purpose)
    with _accounts(args, email_codes=True) as (accounts, _):
        account = accounts.resolve(args.account)
        code = accounts.create_email_token(None, account.did, purpose)
    sys.stderr.write(
        f"new {purpose} code for {account.handle} ({account.did}), valid "
        f"{EMAIL_TOKEN_LIFETIME // 60_000} minutes; it replaces any earlier one\n"
    )
    print(code)
    return 0


__all__ = ["AccountCommandError", "add_account_commands"]
