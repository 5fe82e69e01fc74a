"""Helpers shared by the PDS storage tests: a settable clock and a fast password hasher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from argon2 import PasswordHasher, Type
from strato.pds.accounts import Account, AccountStore, hash_password
from strato.storage import Store

#: 2025-01-01T00:00:00Z in seconds.
EPOCH = 1_735_689_600.0
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
ALICE = "did:plc:alice234567abcdefghijkl"
BOB = "did:plc:bob34567abcdefghijklmnop"

#: argon2id with small parameters: tests that are not about the parameters hash quickly.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
#: The key emailed codes are hashed with in these tests (a PDS derives it from its master key).
CODE_KEY = bytes(range(32))


class Clock:
    """A clock the test moves by hand (seconds, like :func:`time.time`)."""

    def __init__(self, start: float = EPOCH) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, milliseconds: int) -> None:
        self.now += milliseconds / 1000


def open_store(path: Path, tables: tuple[str, ...]) -> Store:
    """A PDS store in ``path`` with ``tables`` (sync off: tests do not need durability)."""
    return Store.open(path, name="pds", schema_version=1, tables=tables, sync=False)


def account_store(store: Store, clock: Clock, **options: Any) -> AccountStore:
    """An account store over ``store`` with ``clock``, the fast hasher and :data:`CODE_KEY`."""
    return AccountStore(store, clock=clock, hasher=FAST_HASHER, email_code_key=CODE_KEY, **options)


def add_account(
    store: Store,
    accounts: AccountStore,
    did: str = ALICE,
    handle: str = "alice.test",
    *,
    email: str | None = "alice@example.com",
    password: str | None = "hunter22",
    **options: Any,
) -> Account:
    """Create an account in its own transaction (as a test's starting point)."""
    password_hash = None if password is None else hash_password(password, FAST_HASHER)
    with store.write() as txn:
        return accounts.create_account(
            txn, did=did, handle=handle, email=email, password_hash=password_hash, **options
        )
