"""The relay's LMDB tables: the host registry, account states with their combined status, the
collections index and the index of each account's events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from strato.firehose import TABLES as FIREHOSE_TABLES
from strato.relay.accounts import TABLES as ACCOUNT_TABLES
from strato.relay.accounts import AccountState, AccountStore
from strato.relay.hosts import TABLES as HOST_TABLES
from strato.relay.hosts import HostStatus, HostStore
from strato.relay.limits import TABLES as LIMIT_TABLES
from strato.relay.limits import admit_account
from strato.storage import Store, WriteTxn

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
OTHER = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    tables = HOST_TABLES + ACCOUNT_TABLES + FIREHOSE_TABLES + LIMIT_TABLES
    with Store.open(tmp_path / "db", name="relay", schema_version=1, tables=tables) as opened:
        yield opened


def test_hosts_are_added_once_and_their_cursor_only_moves_forward(store: Store) -> None:
    hosts = HostStore(store)
    first = store.transact(lambda t: hosts.add(t, "PDS.example.com", no_ssl=False, account_limit=2))
    again = store.transact(lambda t: hosts.add(t, "pds.example.com", no_ssl=True, account_limit=9))
    assert again.id == first.id
    assert again.hostname == "pds.example.com"
    assert (again.no_ssl, again.account_limit, again.last_seq) == (False, 2, -1)
    assert first.stream_url == "wss://pds.example.com/xrpc/com.atproto.sync.subscribeRepos"
    store.transact(lambda t: hosts.set_cursor(t, first.id, 10))
    store.transact(lambda t: hosts.set_cursor(t, first.id, 5))
    assert hosts.get(None, "pds.example.com").last_seq == 10  # type: ignore[union-attr]
    store.transact(lambda t: hosts.set_status(t, first.id, HostStatus.IDLE))
    second = store.transact(lambda t: hosts.add(t, "localhost:2583", no_ssl=True, account_limit=1))
    assert second.http_url == "http://localhost:2583"
    assert [(h.hostname, h.status) for h in hosts.all()] == [
        ("pds.example.com", HostStatus.IDLE), ("localhost:2583", HostStatus.ACTIVE),
    ]  # fmt: skip
    assert [h.id for h in hosts.all(after=first.id)] == [second.id]


def test_accounts_past_the_host_limit_are_throttled_unless_the_host_is_trusted(
    store: Store,
) -> None:
    hosts = HostStore(store)
    host = store.transact(lambda t: hosts.add(t, "pds.example.com", no_ssl=False, account_limit=2))
    dids = [f"did:plc:{n:024d}" for n in range(3)]
    fits = []
    for did in dids:
        with store.write() as txn:
            fits.append(admit_account(txn, hosts, host.id, did))
    assert fits == [True, True, False]
    trusted = store.transact(
        lambda t: hosts.add(t, "big.example.com", no_ssl=False, account_limit=0, trusted=True)
    )
    assert store.transact(lambda t: admit_account(t, hosts, trusted.id, OTHER))


def test_the_combined_status_puts_the_relay_verdicts_first() -> None:
    state = AccountState(did=DID, host_id=1)
    assert (state.active, state.status, state.forwarding) == (True, None, True)
    state.desynchronized = True
    assert (state.status, state.forwarding) == ("desynchronized", True)
    state.upstream_status = "deactivated"
    assert (state.status, state.forwarding) == ("deactivated", False)
    state.throttled = True
    assert state.status == "throttled"
    state.takendown = True
    assert (state.active, state.status) == (False, "takendown")


def test_collections_and_the_event_index(store: Store) -> None:
    accounts = AccountStore(store)

    def write(txn: WriteTxn) -> None:
        accounts.put(txn, AccountState(did=DID, host_id=1))
        accounts.add_collection(txn, DID, "app.bsky.feed.post")
        accounts.add_collection(txn, OTHER, "app.bsky.feed.post")
        accounts.add_collection(txn, DID, "app.bsky.feed.like")
        for seq, did in enumerate([DID, OTHER, DID, DID], 1):
            accounts.index_event(txn, did, seq)

    store.transact(write)
    with store.read() as txn:
        assert accounts.repos_with_collection(
            txn, "app.bsky.feed.post", after=None, limit=10
        ) == sorted([DID, OTHER])
        assert accounts.repos_with_collection(txn, "app.bsky.feed.post", after=OTHER, limit=10) == [
            DID
        ]
        assert accounts.event_seqs(txn, DID) == [1, 3, 4]
    store.transact(lambda t: accounts.set_collections(t, DID, {"app.bsky.graph.follow"}))
    assert store.transact(lambda t: accounts.unindex_before(t, 3, limit=10)) == 2
    with store.read() as txn:
        assert accounts.collections(txn, DID) == ["app.bsky.graph.follow"]
        assert accounts.repos_with_collection(txn, "app.bsky.feed.post", after=None, limit=10) == [
            OTHER
        ]
        assert accounts.event_seqs(txn, DID) == [3, 4]
        assert accounts.event_seqs(txn, OTHER) == []
