"""Refresh-token records: rotation with the reuse grace period, expiry, revocation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pds_store_helpers import ALICE, HOUR_MS, Clock, account_store, add_account, open_store
from strato.errors import ExpiredTokenError, InvalidTokenError
from strato.pds.accounts import (
    ACCOUNT_TABLES,
    REFRESH_GRACE,
    REFRESH_TOKEN_LIFETIME,
    AccountStore,
    new_token_id,
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
    made = account_store(store, clock)
    add_account(store, made)
    return made


def _login(accounts: AccountStore, jti: str = "first", app_password: str | None = None) -> str:
    accounts.store_refresh_token(
        None,
        ALICE,
        jti,
        accounts.now() + REFRESH_TOKEN_LIFETIME,
        app_password_name=app_password,
    )
    return jti


def test_token_ids_are_random_and_url_safe() -> None:
    first, second = new_token_id(), new_token_id()
    assert first != second
    assert len(first) == 43
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_rotation_issues_a_successor(accounts: AccountStore) -> None:
    first = _login(accounts, app_password="phone")
    grant = accounts.rotate_refresh_token(None, first)
    assert grant.did == ALICE
    assert grant.jti != first
    assert grant.expires_at == accounts.now() + REFRESH_TOKEN_LIFETIME
    assert grant.app_password_name == "phone"  # the session keeps its app password
    third = accounts.rotate_refresh_token(None, grant.jti)
    assert third.jti not in (first, grant.jti)


def test_reuse_within_the_grace_period_yields_the_same_successor(
    accounts: AccountStore, clock: Clock
) -> None:
    first = _login(accounts)
    grant = accounts.rotate_refresh_token(None, first)
    clock.advance_ms(REFRESH_GRACE - 1)
    again = accounts.rotate_refresh_token(None, first)
    assert again == grant
    clock.advance_ms(1)  # the grace period is over
    with pytest.raises(ExpiredTokenError) as caught:
        accounts.rotate_refresh_token(None, first)
    assert caught.value.reason == "refresh token has expired"
    assert accounts.rotate_refresh_token(None, grant.jti).did == ALICE  # the successor still works


def test_a_refresh_token_expires(accounts: AccountStore, clock: Clock) -> None:
    first = _login(accounts)
    clock.advance_ms(REFRESH_TOKEN_LIFETIME)
    with pytest.raises(ExpiredTokenError):
        accounts.rotate_refresh_token(None, first)


def test_the_grace_period_never_outlives_the_token(accounts: AccountStore, clock: Clock) -> None:
    accounts.store_refresh_token(None, ALICE, "short", accounts.now() + HOUR_MS)
    accounts.rotate_refresh_token(None, "short")
    clock.advance_ms(HOUR_MS)  # before the grace period would end, but at the token's expiry
    with pytest.raises(ExpiredTokenError):
        accounts.rotate_refresh_token(None, "short")


def test_expired_tokens_are_tidied_on_rotation(
    store: Store, accounts: AccountStore, clock: Clock
) -> None:
    accounts.store_refresh_token(None, ALICE, "old", accounts.now() + HOUR_MS)
    current = _login(accounts)
    clock.advance_ms(HOUR_MS)
    accounts.rotate_refresh_token(None, current)
    with store.read() as txn:
        assert txn.get("refresh_tokens", b"old") is None
        assert txn.count("refresh_tokens") == 2  # the used token (in its grace) and its successor


def test_unknown_and_revoked_tokens(accounts: AccountStore) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        accounts.rotate_refresh_token(None, "never-issued")
    assert caught.value.reason == "refresh token is unknown or revoked"
    first = _login(accounts)
    assert accounts.revoke_refresh_token(None, first)
    assert not accounts.revoke_refresh_token(None, first)
    with pytest.raises(InvalidTokenError):
        accounts.rotate_refresh_token(None, first)


def test_logout_also_revokes_the_tokens_in_grace(accounts: AccountStore) -> None:
    first = _login(accounts)
    second = accounts.rotate_refresh_token(None, first).jti
    third = accounts.rotate_refresh_token(None, second).jti
    assert accounts.revoke_refresh_token(None, third)
    for token in (first, second, third):
        with pytest.raises(InvalidTokenError):
            accounts.rotate_refresh_token(None, token)


def test_revoking_a_used_token_keeps_its_successor(accounts: AccountStore) -> None:
    first = _login(accounts)
    second = accounts.rotate_refresh_token(None, first).jti
    assert accounts.revoke_refresh_token(None, first)
    assert accounts.rotate_refresh_token(None, second).did == ALICE


def test_storing_the_same_token_twice_keeps_the_first(accounts: AccountStore) -> None:
    accounts.store_refresh_token(
        None, ALICE, "same", accounts.now() + HOUR_MS, app_password_name="a"
    )
    accounts.store_refresh_token(None, ALICE, "same", accounts.now() + 2 * HOUR_MS)
    assert accounts.rotate_refresh_token(None, "same").app_password_name == "a"


def test_refresh_tokens_survive_reopening(tmp_path: Path, clock: Clock) -> None:
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as store:
        accounts = account_store(store, clock)
        add_account(store, accounts)
        first = _login(accounts)
        grant = accounts.rotate_refresh_token(None, first)
    with open_store(tmp_path / "pds", ACCOUNT_TABLES) as store:
        accounts = account_store(store, clock)
        assert accounts.rotate_refresh_token(None, first) == grant
