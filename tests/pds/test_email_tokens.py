"""Emailed codes (format, expiry, single use, one per purpose, kept only as keyed digests) and
the flows built on them: email confirmation and update, password reset, account deletion."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pds_store_helpers import ALICE, BOB, FAST_HASHER, Clock, account_store, add_account, open_store
from private_files import code_forms, files_holding
from strato.errors import (
    AccountError,
    AccountNotFoundError,
    AuthenticationError,
    EmailNotAvailableError,
    ExpiredTokenError,
    InvalidEmailError,
    InvalidTokenError,
    KeyStoreError,
    StorageError,
    TokenRequiredError,
)
from strato.pds.accounts import (
    ACCOUNT_RETIRED_TABLES,
    ACCOUNT_TABLES,
    EMAIL_TOKEN_LIFETIME,
    AccountStatus,
    AccountStore,
    EmailTokenPurpose,
    hash_password,
)
from strato.pds.accounts.email_tokens import generate_code
from strato.storage import Store

CODE = re.compile(r"[A-Z2-7]{5}-[A-Z2-7]{5}")
#: Where strato kept codes as written, before they were hashed.
RETIRED = ("email_tokens", "email_token_codes")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as opened:
        yield opened


@pytest.fixture
def accounts(store: Store, clock: Clock) -> AccountStore:
    made = account_store(store, clock)
    add_account(store, made)
    return made


def test_code_format() -> None:
    codes = {generate_code() for _ in range(20)}
    assert all(CODE.fullmatch(code) for code in codes)
    assert len(codes) == 20


@pytest.mark.parametrize("purpose", list(EmailTokenPurpose))
def test_a_code_works_once_for_its_purpose(
    accounts: AccountStore, purpose: EmailTokenPurpose
) -> None:
    code = accounts.create_email_token(None, ALICE, purpose)
    assert CODE.fullmatch(code)
    accounts.check_email_token(ALICE, purpose, code)  # checking does not use it up
    other = next(p for p in EmailTokenPurpose if p is not purpose)
    with pytest.raises(InvalidTokenError):
        accounts.check_email_token(ALICE, other, code)
    accounts.use_email_token(None, ALICE, purpose, f" {code.lower()} ")  # case and spaces ignored
    with pytest.raises(InvalidTokenError) as caught:
        accounts.use_email_token(None, ALICE, purpose, code)
    assert caught.value.reason == "token is invalid"


def test_a_code_expires(accounts: AccountStore, clock: Clock) -> None:
    code = accounts.create_email_token(None, ALICE, EmailTokenPurpose.DELETE_ACCOUNT)
    clock.advance_ms(EMAIL_TOKEN_LIFETIME - 1)
    accounts.check_email_token(ALICE, EmailTokenPurpose.DELETE_ACCOUNT, code)
    clock.advance_ms(1)
    with pytest.raises(ExpiredTokenError) as caught:
        accounts.use_email_token(None, ALICE, EmailTokenPurpose.DELETE_ACCOUNT, code)
    assert caught.value.reason == "token is expired"
    assert isinstance(caught.value, InvalidTokenError)


def test_a_new_code_replaces_the_old_one(accounts: AccountStore) -> None:
    old = accounts.create_email_token(None, ALICE, EmailTokenPurpose.PLC_OPERATION)
    new = accounts.create_email_token(None, ALICE, EmailTokenPurpose.PLC_OPERATION)
    with pytest.raises(InvalidTokenError):
        accounts.check_email_token(ALICE, EmailTokenPurpose.PLC_OPERATION, old)
    accounts.check_email_token(ALICE, EmailTokenPurpose.PLC_OPERATION, new)


def test_codes_are_kept_as_keyed_digests(tmp_path: Path, clock: Clock) -> None:
    """Nothing in the data directory gives a code away; only the key finds it again."""
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as store:
        accounts = account_store(store, clock)
        add_account(store, accounts)
        codes = [accounts.create_email_token(None, ALICE, purpose) for purpose in EmailTokenPurpose]
        _, reset = accounts.request_password_reset("alice@example.com")
        with store.read() as txn:
            rows = list(txn.items("email_codes")) + list(txn.items("email_code_digests"))
        assert len(rows) == 2 * len(EmailTokenPurpose)
    for code in [*codes, reset]:
        assert files_holding(tmp_path / "pds", code_forms(code)) == []
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as store:
        other_key = AccountStore(store, email_code_key=b"\x01" * 32, clock=clock)
        with pytest.raises(InvalidTokenError):
            other_key.reset_password(None, reset, hash_password("pw", FAST_HASHER))
        keyless = AccountStore(store, clock=clock)
        with pytest.raises(KeyStoreError) as caught:
            keyless.reset_password(None, reset, hash_password("pw", FAST_HASHER))
        assert caught.value.reason == "emailed codes need the master key, and this store has none"
        assert keyless.get(ALICE).handle == "alice.test"  # everything else works without it
        assert account_store(store, clock).reset_password(
            None, reset, hash_password("pw", FAST_HASHER)
        )


def test_codes_kept_as_written_by_earlier_versions_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "pds"
    with (
        Store.open(path, name="pds", schema_version=1, tables=RETIRED, sync=False) as store,
        store.write() as txn,
    ):
        txn.put("email_tokens", b"did\x00reset_password", b"ABCDE-FGHIJ")
        txn.put("email_token_codes", b"reset_password\x00ABCDE-FGHIJ", b"did")
    with Store.open(
        path,
        name="pds",
        schema_version=1,
        tables=ACCOUNT_TABLES,
        retired=ACCOUNT_RETIRED_TABLES,
        sync=False,
    ):
        pass
    for table in RETIRED:
        with pytest.raises(StorageError) as caught:
            Store.open(path, name="pds", schema_version=1, tables=[table], readonly=True)
        assert str(caught.value) == f"{path} has no table {table!r}"


def test_codes_belong_to_their_account(store: Store, accounts: AccountStore) -> None:
    add_account(store, accounts, BOB, "bob.test", email="bob@example.com")
    code = accounts.create_email_token(None, ALICE, EmailTokenPurpose.DELETE_ACCOUNT)
    with pytest.raises(InvalidTokenError):
        accounts.check_email_token(BOB, EmailTokenPurpose.DELETE_ACCOUNT, code)


def test_codes_for_unknown_accounts(accounts: AccountStore) -> None:
    with pytest.raises(AccountNotFoundError):
        accounts.create_email_token(None, BOB, EmailTokenPurpose.CONFIRM_EMAIL)


def test_account_deletion_flow(store: Store, accounts: AccountStore) -> None:
    code = accounts.create_email_token(None, ALICE, EmailTokenPurpose.DELETE_ACCOUNT)
    assert accounts.verify_password(ALICE, "hunter22")
    with store.write() as txn:  # the code is used up together with the deletion
        accounts.use_email_token(txn, ALICE, EmailTokenPurpose.DELETE_ACCOUNT, code)
        accounts.delete_account(txn, ALICE)
    assert accounts.status(ALICE) is AccountStatus.DELETED


def test_confirm_email(accounts: AccountStore, clock: Clock) -> None:
    code = accounts.request_email_confirmation(ALICE)
    with pytest.raises(InvalidEmailError) as wrong:
        accounts.confirm_email(None, ALICE, "other@example.com", code)
    assert wrong.value.reason == "email does not match the account's address"
    with pytest.raises(InvalidTokenError):
        accounts.confirm_email(None, ALICE, "alice@example.com", "AAAAA-AAAAA")
    confirmed = accounts.confirm_email(None, ALICE, "ALICE@example.com", code)
    assert confirmed.email_confirmed_at == accounts.now()
    with pytest.raises(InvalidTokenError):  # used up
        accounts.confirm_email(None, ALICE, "alice@example.com", code)


def test_operations_that_need_an_email(store: Store, accounts: AccountStore) -> None:
    add_account(store, accounts, BOB, "bob.test", email=None)
    for request in (accounts.request_email_confirmation, accounts.request_email_update):
        with pytest.raises(AccountError) as caught:
            request(BOB)
        assert caught.value.reason == "account has no email address"
    with pytest.raises(InvalidEmailError):
        accounts.confirm_email(None, BOB, "bob@example.com", "AAAAA-AAAAA")


def test_update_an_unconfirmed_email_needs_no_code(accounts: AccountStore) -> None:
    assert accounts.request_email_update(ALICE) is None
    pending = accounts.create_email_token(None, ALICE, EmailTokenPurpose.CONFIRM_EMAIL)
    updated = accounts.update_email(None, ALICE, "New@Example.com")
    assert updated.email == "new@example.com"
    assert updated.email_confirmed_at is None
    assert accounts.get_by_email("new@example.com").did == ALICE
    with pytest.raises(AccountNotFoundError):
        accounts.get_by_email("alice@example.com")
    with pytest.raises(InvalidTokenError):  # codes sent to the old address are void
        accounts.check_email_token(ALICE, EmailTokenPurpose.CONFIRM_EMAIL, pending)


def test_update_a_confirmed_email_needs_the_code(accounts: AccountStore) -> None:
    accounts.confirm_email(
        None, ALICE, "alice@example.com", accounts.request_email_confirmation(ALICE)
    )
    code = accounts.request_email_update(ALICE)
    assert code is not None
    assert CODE.fullmatch(code)
    with pytest.raises(TokenRequiredError) as required:
        accounts.update_email(None, ALICE, "new@example.com")
    assert required.value.reason == "a confirmation token is required"
    with pytest.raises(InvalidTokenError):
        accounts.update_email(None, ALICE, "new@example.com", "AAAAA-AAAAA")
    assert accounts.get(ALICE).email == "alice@example.com"
    updated = accounts.update_email(None, ALICE, "new@example.com", code)
    assert updated.email == "new@example.com"
    assert updated.email_confirmed_at is None


def test_update_email_to_a_taken_or_malformed_address(store: Store, accounts: AccountStore) -> None:
    add_account(store, accounts, BOB, "bob.test", email="bob@example.com")
    with pytest.raises(EmailNotAvailableError):
        accounts.update_email(None, ALICE, "BOB@example.com")
    with pytest.raises(InvalidEmailError):
        accounts.update_email(None, ALICE, "not an address")
    assert accounts.get(ALICE).email == "alice@example.com"
    assert accounts.update_email(None, ALICE, "alice@example.com").email == "alice@example.com"


def test_password_reset(accounts: AccountStore) -> None:
    accounts.store_refresh_token(None, ALICE, "session", 10**15)
    account, code = accounts.request_password_reset("Alice@example.com")
    assert account.did == ALICE
    new_hash = hash_password("a new password", FAST_HASHER)
    assert accounts.reset_password(None, code.lower(), new_hash) == ALICE
    assert accounts.login("alice.test", "a new password").account.did == ALICE
    with pytest.raises(AuthenticationError):
        accounts.login("alice.test", "hunter22")
    assert not accounts.revoke_refresh_token(None, "session")  # the sessions ended
    with pytest.raises(InvalidTokenError):  # the code is used up
        accounts.reset_password(None, code, new_hash)


@pytest.mark.parametrize("code", ["AAAAA-AAAAA", "", "A\x00B", "x" * 1000])
def test_password_reset_with_a_bad_code(accounts: AccountStore, code: str) -> None:
    accounts.request_password_reset("alice@example.com")
    with pytest.raises(InvalidTokenError) as caught:
        accounts.reset_password(None, code, hash_password("pw", FAST_HASHER))
    assert caught.value.reason == "token is invalid"


def test_password_reset_code_expires(accounts: AccountStore, clock: Clock) -> None:
    _, code = accounts.request_password_reset("alice@example.com")
    clock.advance_ms(EMAIL_TOKEN_LIFETIME)
    with pytest.raises(ExpiredTokenError):
        accounts.reset_password(None, code, hash_password("pw", FAST_HASHER))
    assert accounts.login("alice.test", "hunter22").account.did == ALICE


def test_password_reset_for_an_unknown_email(accounts: AccountStore) -> None:
    with pytest.raises(AccountNotFoundError):
        accounts.request_password_reset("nobody@example.com")


def test_a_code_of_another_purpose_does_not_reset(accounts: AccountStore) -> None:
    code = accounts.create_email_token(None, ALICE, EmailTokenPurpose.DELETE_ACCOUNT)
    with pytest.raises(InvalidTokenError):
        accounts.reset_password(None, code, hash_password("pw", FAST_HASHER))


def test_codes_survive_reopening(tmp_path: Path, clock: Clock) -> None:
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as store:
        accounts = account_store(store, clock)
        add_account(store, accounts)
        code = accounts.create_email_token(None, ALICE, EmailTokenPurpose.PLC_OPERATION)
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as store:
        accounts = account_store(store, clock)
        accounts.use_email_token(None, ALICE, EmailTokenPurpose.PLC_OPERATION, code)
