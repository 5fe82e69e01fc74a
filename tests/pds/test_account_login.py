"""Logins, password hashing (argon2id, rehash on login) and app passwords."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from pds_store_helpers import ALICE, FAST_HASHER, Clock, account_store, add_account, open_store
from strato.errors import (
    AccountError,
    AccountNotFoundError,
    AuthenticationError,
    InvalidPasswordError,
)
from strato.pds.accounts import (
    ACCOUNT_TABLES,
    PASSWORD_HASHER,
    PASSWORD_MAX_LENGTH,
    AccountStore,
    hash_password,
)
from strato.pds.accounts.passwords import (
    PASSWORD_CHECK_MAX_LENGTH,
    check_password,
    generate_app_password,
    looks_like_app_password,
)
from strato.storage import Store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as opened:
        yield opened


@pytest.fixture
def accounts(store: Store, clock: Clock) -> AccountStore:
    add = account_store(store, clock)
    add_account(store, add)
    return add


def test_the_default_hasher_is_argon2id_with_the_chosen_parameters() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert check_password(stored, "correct horse") == (True, False)
    assert check_password(stored, "wrong horse") == (False, False)
    assert stored != hash_password("correct horse")  # salted


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "password must not be empty"),
        (
            "x" * (PASSWORD_MAX_LENGTH + 1),
            f"password is longer than {PASSWORD_MAX_LENGTH} characters",
        ),
    ],
)
def test_new_passwords_must_follow_the_rules(password: str, reason: str) -> None:
    with pytest.raises(InvalidPasswordError) as caught:
        hash_password(password, FAST_HASHER)
    assert caught.value.reason == reason


def test_check_password_refuses_garbage_and_overlong_candidates() -> None:
    assert check_password("not a hash", "pw") == (False, False)
    stored = hash_password("x" * PASSWORD_MAX_LENGTH, FAST_HASHER)
    assert check_password(stored, "x" * PASSWORD_MAX_LENGTH, FAST_HASHER) == (True, False)
    assert check_password(stored, "x" * (PASSWORD_CHECK_MAX_LENGTH + 1), FAST_HASHER) == (
        False,
        False,
    )


@pytest.mark.parametrize("identifier", [ALICE, "alice.test", "ALICE.Test", "Alice@Example.com"])
def test_login_by_did_handle_or_email(accounts: AccountStore, identifier: str) -> None:
    login = accounts.login(identifier, "hunter22")
    assert login.account.did == ALICE
    assert login.app_password is None


@pytest.mark.parametrize(
    ("identifier", "password"),
    [
        ("alice.test", "hunter23"),
        ("alice.test", ""),
        ("alice.test", "x" * 10_000),
        ("bob.test", "hunter22"),
        ("did:plc:nobody", "hunter22"),
        ("nobody@example.com", "hunter22"),
    ],
)
def test_failed_logins_look_alike(accounts: AccountStore, identifier: str, password: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        accounts.login(identifier, password)
    assert caught.value.reason == "invalid identifier or password"
    assert caught.value.subject == ""  # nothing says whether the account exists


def test_login_rehashes_a_password_with_old_parameters(
    store: Store, accounts: AccountStore, clock: Clock
) -> None:
    old = accounts.get(ALICE).password_hash
    assert old is not None
    assert "m=1024,t=1,p=1" in old
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    upgraded = AccountStore(store, clock=clock, hasher=stronger)
    assert upgraded.login("alice.test", "hunter22").account.did == ALICE
    new = upgraded.get(ALICE).password_hash
    assert new is not None
    assert "m=2048,t=2,p=1" in new
    assert upgraded.login("alice.test", "hunter22").account.did == ALICE
    assert upgraded.get(ALICE).password_hash == new  # current parameters: left alone
    with pytest.raises(AuthenticationError):
        upgraded.login("alice.test", "hunter23")
    assert upgraded.get(ALICE).password_hash == new


def test_verify_password(accounts: AccountStore) -> None:
    assert accounts.verify_password(ALICE, "hunter22")
    assert not accounts.verify_password(ALICE, "hunter2")
    password = accounts.create_app_password(None, ALICE, "phone").password
    assert not accounts.verify_password(ALICE, password)  # an app password is not enough
    with pytest.raises(AccountNotFoundError):
        accounts.verify_password("did:plc:nobody", "hunter22")


def test_set_password_ends_sessions(accounts: AccountStore) -> None:
    accounts.store_refresh_token(None, ALICE, "jti-1", 10**15)
    accounts.set_password(None, ALICE, hash_password("new password", FAST_HASHER))
    with pytest.raises(AuthenticationError):
        accounts.login("alice.test", "hunter22")
    assert accounts.login("alice.test", "new password").account.did == ALICE
    assert not accounts.revoke_refresh_token(None, "jti-1")  # already revoked


def test_generated_app_passwords() -> None:
    password = generate_app_password()
    assert looks_like_app_password(password)
    assert len(password) == 19
    assert password.count("-") == 3
    assert looks_like_app_password(password.upper())
    assert not looks_like_app_password("abcd-efgh-ijkl")
    assert not looks_like_app_password("abcd-efgh-ijkl-mno1")  # 1 is not base32
    assert generate_app_password() != password


def test_app_password_lifecycle(accounts: AccountStore, clock: Clock) -> None:
    phone = accounts.create_app_password(None, ALICE, "phone")
    clock.advance_ms(1000)
    chat = accounts.create_app_password(None, ALICE, "chat client", privileged=True)
    assert looks_like_app_password(phone.password)
    assert not phone.privileged
    assert chat.privileged
    listed = accounts.list_app_passwords(ALICE)
    assert [(p.name, p.privileged) for p in listed] == [("chat client", True), ("phone", False)]
    assert listed[1].created_at == phone.created_at

    login = accounts.login("alice.test", phone.password)
    assert login.app_password is not None
    assert login.app_password.name == "phone"
    upper = accounts.login("alice.test", chat.password.upper())
    assert upper.app_password is not None
    assert upper.app_password.privileged

    accounts.store_refresh_token(None, ALICE, "phone-session", 10**15, app_password_name="phone")
    accounts.store_refresh_token(
        None, ALICE, "chat-session", 10**15, app_password_name="chat client"
    )
    assert accounts.revoke_app_password(None, ALICE, "phone")
    assert not accounts.revoke_app_password(None, ALICE, "phone")
    assert not accounts.revoke_app_password(None, ALICE, "no\x00such")
    with pytest.raises(AuthenticationError) as caught:
        accounts.login("alice.test", phone.password)
    assert caught.value.reason == "invalid identifier or password"
    assert not accounts.revoke_refresh_token(None, "phone-session")  # revoked with its app password
    assert accounts.revoke_refresh_token(None, "chat-session")
    assert [p.name for p in accounts.list_app_passwords(ALICE)] == ["chat client"]


def test_an_app_password_is_bound_to_its_account(store: Store, accounts: AccountStore) -> None:
    add_account(store, accounts, "did:plc:bob", "bob.test", email=None)
    password = accounts.create_app_password(None, ALICE, "phone").password
    with pytest.raises(AuthenticationError):
        accounts.login("bob.test", password)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "app password name must not be empty"),
        ("   ", "app password name must not be empty"),
        ("a\x00b", "app password name must not contain NUL"),
        ("phone", "an app password named 'phone' already exists"),
    ],
)
def test_bad_app_password_names(accounts: AccountStore, name: str, reason: str) -> None:
    accounts.create_app_password(None, ALICE, "phone")
    with pytest.raises(AccountError) as caught:
        accounts.create_app_password(None, ALICE, name)
    assert caught.value.reason == reason
    assert len(accounts.list_app_passwords(ALICE)) == 1


def test_app_passwords_of_an_unknown_account(accounts: AccountStore) -> None:
    with pytest.raises(AccountNotFoundError):
        accounts.create_app_password(None, "did:plc:nobody", "phone")
    with pytest.raises(AccountNotFoundError):
        accounts.list_app_passwords("did:plc:nobody")


def test_a_taken_down_account_logs_in_with_its_password_only(accounts: AccountStore) -> None:
    app_password = accounts.create_app_password(None, ALICE, "phone").password
    accounts.store_refresh_token(None, ALICE, "session", 10**15)
    accounts.set_takedown(None, ALICE, "ticket-9")
    assert not accounts.revoke_refresh_token(None, "session")  # its sessions ended
    login = accounts.login("alice.test", "hunter22")
    assert login.account.takedown_ref == "ticket-9"
    assert login.app_password is None
    with pytest.raises(AuthenticationError):
        accounts.login("alice.test", app_password)
    accounts.set_takedown(None, ALICE, None)
    assert accounts.login("alice.test", app_password).app_password is not None


def test_a_deactivated_account_can_log_in(accounts: AccountStore) -> None:
    accounts.deactivate(None, ALICE)
    assert accounts.login("alice.test", "hunter22").account.deactivated_at is not None


def test_the_production_hasher_is_the_default(store: Store, clock: Clock) -> None:
    accounts = AccountStore(store, clock=clock)
    with store.write() as txn:
        accounts.create_account(
            txn, did=ALICE, handle="alice.test", password_hash=hash_password("pw")
        )
    assert (
        accounts.login("alice.test", "pw").account.password_hash
        == accounts.get(ALICE).password_hash
    )
    stored = accounts.get(ALICE).password_hash
    assert stored is not None
    assert not PASSWORD_HASHER.check_needs_rehash(stored)
