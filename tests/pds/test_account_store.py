"""AccountStore: creating accounts, uniqueness, lookups, handles, hosting status, deletion,
atomicity with the caller's transaction, and persistence."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pds_store_helpers import (
    ALICE,
    BOB,
    FAST_HASHER,
    Clock,
    account_store,
    add_account,
    open_store,
)
from strato.errors import (
    AccountError,
    AccountExistsError,
    AccountNotFoundError,
    EmailNotAvailableError,
    HandleNotAvailableError,
    IdentifierError,
    InvalidEmailError,
)
from strato.pds.accounts import (
    ACCOUNT_TABLES,
    AccountStatus,
    AccountStore,
    hash_password,
    normalize_email,
)
from strato.pds.accounts.store import MIGRATION_DELETE_AFTER
from strato.storage import Store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    # "caller" stands for the tables of the caller's other writes (repo, event log).
    with open_store(tmp_path / "pds", (*ACCOUNT_TABLES, "caller")) as opened:
        yield opened


@pytest.fixture
def accounts(store: Store, clock: Clock) -> AccountStore:
    return account_store(store, clock)


def _create_then_fail(store: Store, accounts: AccountStore) -> None:
    with store.write() as txn:
        accounts.create_account(txn, did=ALICE, handle="alice.test")
        txn.put("caller", b"commit", b"1")
        raise RuntimeError("repo commit failed")


def _update_handle_then_fail(store: Store, accounts: AccountStore) -> None:
    with store.write() as txn:
        accounts.update_handle(txn, ALICE, "new.test")
        raise RuntimeError("event log write failed")


def test_create_and_look_up(store: Store, accounts: AccountStore, clock: Clock) -> None:
    created = add_account(store, accounts, handle="Alice.TEST", email="Alice@Example.com")
    assert created.handle == "alice.test"  # normalized by strato.syntax.Handle
    assert created.email == "alice@example.com"
    assert created.created_at == int(clock.now * 1000)
    assert created.status is AccountStatus.ACTIVE
    assert created.active
    assert accounts.get(ALICE) == created
    assert accounts.get_by_handle("ALICE.test") == created
    assert accounts.get_by_email(" ALICE@example.COM ") == created
    for identifier in (ALICE, "alice.test", "Alice.Test", "alice@example.com"):
        assert accounts.resolve(identifier) == created


def test_account_without_email_or_password(store: Store, accounts: AccountStore) -> None:
    created = add_account(store, accounts, email=None, password=None)
    assert created.email is None
    assert created.password_hash is None
    assert not accounts.verify_password(ALICE, "")


@pytest.mark.parametrize(
    ("lookup", "argument", "reason"),
    [
        ("get", BOB, "no account hosted here for this DID"),
        ("get_by_handle", "bob.test", "no account has this handle"),
        ("get_by_email", "bob@example.com", "no account has this email address"),
        ("resolve", "bob.test", "no such account"),
        ("resolve", "x" * 600, "no such account"),  # longer than any key
        ("resolve", "", "no such account"),
    ],
)
def test_lookups_of_unknown_accounts(
    store: Store, accounts: AccountStore, lookup: str, argument: str, reason: str
) -> None:
    add_account(store, accounts)
    with pytest.raises(AccountNotFoundError) as caught:
        getattr(accounts, lookup)(argument)
    assert caught.value.reason == reason


def test_duplicate_did_handle_and_email_are_refused(store: Store, accounts: AccountStore) -> None:
    add_account(store, accounts)
    with pytest.raises(AccountExistsError) as exists:
        add_account(store, accounts, handle="other.test", email=None)
    assert exists.value.reason == "an account with this DID exists"
    with pytest.raises(HandleNotAvailableError) as handle:
        add_account(store, accounts, BOB, "ALICE.test", email=None)
    assert handle.value.reason == "handle already taken"
    assert handle.value.subject == "alice.test"
    with pytest.raises(EmailNotAvailableError) as email:
        add_account(store, accounts, BOB, "bob.test", email="ALICE@example.com")
    assert email.value.reason == "email address already in use"
    with pytest.raises(AccountNotFoundError):  # the refused creations wrote nothing
        accounts.get(BOB)
    with pytest.raises(AccountNotFoundError):
        accounts.get_by_handle("bob.test")


@pytest.mark.parametrize(
    ("did", "handle", "reason"),
    [
        ("not-a-did", "bob.test", 'DID must start with "did:" (lowercase)'),
        (BOB, "bob", "handle must have at least two labels (a domain name with a TLD)"),
    ],
)
def test_malformed_identifiers_are_refused(
    store: Store, accounts: AccountStore, did: str, handle: str, reason: str
) -> None:
    with pytest.raises(IdentifierError) as caught:
        add_account(store, accounts, did, handle, email=None)
    assert caught.value.reason == reason
    assert accounts.list_accounts() == []


@pytest.mark.parametrize(
    "email",
    [
        "bob.example.com",
        "bob@localhost",
        "b ob@example.com",
        "a@b@example.com",
        "a@" + "x" * 250 + ".com",
    ],
)
def test_malformed_emails_are_refused(store: Store, accounts: AccountStore, email: str) -> None:
    with pytest.raises(InvalidEmailError) as caught:
        add_account(store, accounts, BOB, "bob.test", email=email)
    assert caught.value.reason == "not a valid email address"
    assert caught.value.subject == email
    assert accounts.list_accounts() == []


def test_normalize_email() -> None:
    assert normalize_email("  Bob@Example.COM ") == "bob@example.com"


def test_creation_commits_with_the_callers_transaction(
    store: Store, accounts: AccountStore
) -> None:
    with pytest.raises(RuntimeError, match="repo commit failed"):
        _create_then_fail(store, accounts)
    with store.read() as txn:
        assert txn.get("caller", b"commit") is None
    with pytest.raises(AccountNotFoundError):
        accounts.get(ALICE)
    with pytest.raises(AccountNotFoundError):
        accounts.get_by_handle("alice.test")


def test_a_refused_creation_leaves_the_callers_transaction_untouched(
    store: Store, accounts: AccountStore
) -> None:
    add_account(store, accounts, email="taken@example.com")
    with store.write() as txn:
        with pytest.raises(EmailNotAvailableError):
            accounts.create_account(txn, did=BOB, handle="bob.test", email="taken@example.com")
        txn.put("caller", b"commit", b"1")
    assert accounts.list_accounts() == [accounts.get(ALICE)]
    with store.read() as txn:
        assert txn.get("caller", b"commit") == b"1"
    with pytest.raises(AccountNotFoundError):
        accounts.get_by_handle("bob.test")


def test_update_handle(store: Store, accounts: AccountStore) -> None:
    add_account(store, accounts)
    add_account(store, accounts, BOB, "bob.test", email=None)
    updated = accounts.update_handle(None, ALICE, "Alice2.TEST")
    assert updated.handle == "alice2.test"
    assert accounts.get_by_handle("alice2.test").did == ALICE
    with pytest.raises(AccountNotFoundError):
        accounts.get_by_handle("alice.test")  # the old handle is free again
    add_account(store, accounts, "did:plc:carol", "alice.test", email=None)
    assert (
        accounts.update_handle(None, ALICE, "alice2.test").handle == "alice2.test"
    )  # same: allowed
    with pytest.raises(HandleNotAvailableError) as caught:
        accounts.update_handle(None, ALICE, "bob.test")
    assert caught.value.reason == "handle already taken"
    assert accounts.get(ALICE).handle == "alice2.test"
    with pytest.raises(AccountNotFoundError):
        accounts.update_handle(None, "did:plc:nobody", "nobody.test")
    with pytest.raises(IdentifierError):
        accounts.update_handle(None, ALICE, "not a handle")


def test_update_handle_inside_a_callers_transaction(store: Store, accounts: AccountStore) -> None:
    add_account(store, accounts)
    with pytest.raises(RuntimeError, match="event log write failed"):
        _update_handle_then_fail(store, accounts)
    assert accounts.get(ALICE).handle == "alice.test"


def test_status_transitions(store: Store, accounts: AccountStore, clock: Clock) -> None:
    add_account(store, accounts)
    assert accounts.status(ALICE) is AccountStatus.ACTIVE
    deactivated = accounts.deactivate(None, ALICE, delete_after=123)
    assert deactivated.status is AccountStatus.DEACTIVATED
    assert not deactivated.active
    assert deactivated.delete_after == 123
    assert accounts.status(ALICE) is AccountStatus.DEACTIVATED
    assert accounts.activate(None, ALICE).status is AccountStatus.ACTIVE
    assert accounts.get(ALICE).delete_after is None
    taken = accounts.set_takedown(None, ALICE, "mod-ticket-1")
    assert taken.takedown_ref == "mod-ticket-1"
    assert accounts.status(ALICE) is AccountStatus.TAKENDOWN
    accounts.deactivate(None, ALICE)
    assert accounts.status(ALICE) is AccountStatus.TAKENDOWN  # a takedown wins
    with pytest.raises(AccountError) as caught:
        accounts.activate(None, ALICE)
    assert caught.value.reason == "account is taken down"
    accounts.set_takedown(None, ALICE, None)
    assert accounts.status(ALICE) is AccountStatus.DEACTIVATED
    with pytest.raises(AccountError) as empty:
        accounts.set_takedown(None, ALICE, "")
    assert empty.value.reason == "a takedown needs a reference"


def test_created_deactivated_for_migration(
    store: Store, accounts: AccountStore, clock: Clock
) -> None:
    created = add_account(store, accounts, deactivated=True)
    now = int(clock.now * 1000)
    assert created.status is AccountStatus.DEACTIVATED
    assert created.deactivated_at == now
    assert created.delete_after == now + MIGRATION_DELETE_AFTER


def test_delete_account(store: Store, accounts: AccountStore) -> None:
    add_account(store, accounts)
    accounts.create_app_password(None, ALICE, "phone")
    accounts.store_refresh_token(None, ALICE, "jti-1", 10**15)
    deleted = accounts.delete_account(None, ALICE)
    assert deleted.did == ALICE
    assert accounts.status(ALICE) is AccountStatus.DELETED
    with pytest.raises(AccountNotFoundError):
        accounts.get(ALICE)
    with store.read() as txn:
        assert txn.count("app_passwords") == 0
        assert txn.count("refresh_tokens") == 0
    # the handle and email are free again, and the DID may come back (a migration back)
    add_account(store, accounts, BOB, "alice.test", email="alice@example.com")
    add_account(store, accounts, ALICE, "alice-again.test", email=None)
    assert accounts.status(ALICE) is AccountStatus.ACTIVE


def test_status_of_an_unknown_did(accounts: AccountStore) -> None:
    with pytest.raises(AccountNotFoundError) as caught:
        accounts.status(ALICE)
    assert caught.value.subject == ALICE


@pytest.mark.parametrize(
    "operation",
    [
        lambda accounts: accounts.deactivate(None, ALICE),
        lambda accounts: accounts.activate(None, ALICE),
        lambda accounts: accounts.set_takedown(None, ALICE, "x"),
        lambda accounts: accounts.delete_account(None, ALICE),
        lambda accounts: accounts.set_password(None, ALICE, hash_password("pw", FAST_HASHER)),
    ],
)
def test_changes_to_an_unknown_account(
    accounts: AccountStore, operation: Callable[[AccountStore], object]
) -> None:
    with pytest.raises(AccountNotFoundError) as caught:
        operation(accounts)
    assert caught.value.reason == "no account hosted here for this DID"


def test_list_accounts_pages_in_did_order(store: Store, accounts: AccountStore) -> None:
    dids = [f"did:plc:user{i:02d}" for i in range(5)]
    for did in reversed(dids):
        add_account(store, accounts, did, f"{did[8:]}.test", email=None, password=None)
    first = accounts.list_accounts(limit=2)
    assert [a.did for a in first] == dids[:2]
    rest = accounts.list_accounts(after=first[-1].did, limit=10)
    assert [a.did for a in rest] == dids[2:]


def test_accounts_survive_reopening(tmp_path: Path, clock: Clock) -> None:
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as store:
        accounts = account_store(store, clock)
        add_account(store, accounts)
        accounts.set_takedown(None, ALICE, "ticket")
        before = accounts.get(ALICE)
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as store:
        accounts = account_store(store, clock)
        assert accounts.get(ALICE) == before
        assert accounts.status(ALICE) is AccountStatus.TAKENDOWN
        assert accounts.login("alice@example.com", "hunter22").account.did == ALICE
