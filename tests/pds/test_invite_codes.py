"""Invite codes: creation, use counts, disabling, owners taken down, ``inviteCodeRequired``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pds_store_helpers import ALICE, BOB, Clock, account_store, add_account, open_store
from strato.errors import AccountError, AccountNotFoundError, InvalidInviteCodeError
from strato.pds.accounts import ACCOUNT_TABLES, ADMIN, AccountStore, InviteCodeUse, invites
from strato.storage import Store

HOST = "pds.example.com"
CODE = re.compile(r"pds-example-com-[a-z2-7]{5}-[a-z2-7]{5}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as opened:
        yield opened


@pytest.fixture
def accounts(store: Store, clock: Clock) -> AccountStore:
    return account_store(store, clock)


def test_invite_codes_are_off_by_default(store: Store, accounts: AccountStore) -> None:
    assert not accounts.invite_code_required
    add_account(store, accounts)  # no code needed


def test_a_required_code_must_be_given(store: Store, clock: Clock) -> None:
    accounts = account_store(store, clock, invite_code_required=True)
    with pytest.raises(InvalidInviteCodeError) as caught:
        add_account(store, accounts)
    assert caught.value.reason == "an invite code is required"
    with pytest.raises(AccountNotFoundError):
        accounts.get(ALICE)
    code = accounts.create_invite_codes(HOST)[0]
    assert add_account(store, accounts, invite_code=code).did == ALICE


def test_codes_and_their_uses(store: Store, accounts: AccountStore, clock: Clock) -> None:
    codes = accounts.create_invite_codes(HOST, count=3, use_count=2)
    assert len(set(codes)) == 3
    assert all(CODE.fullmatch(code) for code in codes)
    code = codes[0]
    add_account(store, accounts, invite_code=code)
    clock.advance_ms(1000)
    add_account(store, accounts, BOB, "bob.test", email=None, invite_code=code)
    info = accounts.invite_code(code)
    assert info.available == 2
    assert not info.disabled
    assert info.for_account == ADMIN
    assert info.created_by == ADMIN
    later = accounts.now()
    assert info.uses == (
        InviteCodeUse(used_by=BOB, used_at=later),
        InviteCodeUse(used_by=ALICE, used_at=later - 1000),
    )
    with pytest.raises(InvalidInviteCodeError) as caught:  # used up
        add_account(store, accounts, "did:plc:carol", "carol.test", email=None, invite_code=code)
    assert caught.value.reason == "invite code not available"
    assert caught.value.subject == code
    with pytest.raises(AccountNotFoundError):
        accounts.get("did:plc:carol")


@pytest.mark.parametrize("code", ["pds-example-com-aaaaa-aaaaa", "", "a\x00b"])
def test_unknown_codes(store: Store, accounts: AccountStore, code: str) -> None:
    with pytest.raises(InvalidInviteCodeError) as caught:
        add_account(store, accounts, invite_code=code)
    assert caught.value.reason == "invite code not available"
    with pytest.raises(InvalidInviteCodeError) as unknown:
        accounts.invite_code(code)
    assert unknown.value.reason == "unknown invite code"


def test_disabled_codes(store: Store, accounts: AccountStore) -> None:
    admin_codes = accounts.create_invite_codes(HOST, count=2)
    add_account(store, accounts)
    alice_code = accounts.create_invite_codes(HOST, for_account=ALICE, created_by=ALICE)[0]
    assert accounts.disable_invite_codes(codes=[admin_codes[0], "nope", ""], accounts=[ALICE]) == 2
    for code in (admin_codes[0], alice_code):
        assert accounts.invite_code(code).disabled
        with pytest.raises(InvalidInviteCodeError):
            add_account(store, accounts, BOB, "bob.test", email=None, invite_code=code)
    add_account(store, accounts, BOB, "bob.test", email=None, invite_code=admin_codes[1])


def test_codes_of_a_taken_down_account_stop_working(store: Store, accounts: AccountStore) -> None:
    add_account(store, accounts)
    code = accounts.create_invite_codes(HOST, for_account=ALICE, created_by=ALICE)[0]
    accounts.set_takedown(None, ALICE, "ticket")
    with pytest.raises(InvalidInviteCodeError) as caught:
        add_account(store, accounts, BOB, "bob.test", email=None, invite_code=code)
    assert caught.value.reason == "invite code not available"
    accounts.set_takedown(None, ALICE, None)
    add_account(store, accounts, BOB, "bob.test", email=None, invite_code=code)


def test_account_invite_codes(store: Store, accounts: AccountStore) -> None:
    add_account(store, accounts)
    mine = set(accounts.create_invite_codes(HOST, count=2, for_account=ALICE, created_by=ALICE))
    accounts.create_invite_codes(HOST)
    assert {info.code for info in accounts.account_invite_codes(ALICE)} == mine
    assert len(accounts.account_invite_codes(ADMIN)) == 1
    assert accounts.account_invite_codes(BOB) == []


@pytest.mark.parametrize(("count", "use_count"), [(0, 1), (1, 0), (-1, 5)])
def test_bad_counts(accounts: AccountStore, count: int, use_count: int) -> None:
    with pytest.raises(AccountError) as caught:
        accounts.create_invite_codes(HOST, count=count, use_count=use_count)
    assert caught.value.reason == "count and use count must be at least 1"


def test_a_code_is_never_stored_twice(store: Store) -> None:
    invite = invites.InviteCode(
        available=1, disabled=False, for_account=ADMIN, created_by=ADMIN, created_at=0
    )
    with store.write() as txn:
        invites.create(txn, "code-1", invite)
        with pytest.raises(InvalidInviteCodeError) as caught:
            invites.create(txn, "code-1", invite)
    assert caught.value.reason == "invite code already exists"


def test_codes_survive_reopening(tmp_path: Path, clock: Clock) -> None:
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as store:
        code = account_store(store, clock).create_invite_codes(HOST, use_count=1)[0]
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as store:
        accounts = account_store(store, clock, invite_code_required=True)
        add_account(store, accounts, invite_code=code)
        assert [use.used_by for use in accounts.invite_code(code).uses] == [ALICE]
