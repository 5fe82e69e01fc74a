"""Per-host limits (:mod:`strato.relay.limits`): the event windows sized by the host's
accounts, and the account limit: admission, throttling, release, and lifting the limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from strato.relay import hosts as hosts_module
from strato.relay import limits
from strato.relay.hosts import Host, HostStore
from strato.relay.limits import (
    HostLimits,
    admit_account,
    host_rates,
    is_throttled,
    is_trusted_host,
    lift_limit,
    release_account,
)
from strato.storage import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(
        tmp_path / "relay",
        name="relay",
        schema_version=1,
        tables=hosts_module.TABLES + limits.TABLES,
        sync=False,
    ) as opened:
        yield opened


def _add(store: Store, hostname: str, account_limit: int, *, trusted: bool = False) -> Host:
    hosts = HostStore(store)
    with store.write() as txn:
        return hosts.add(txn, hostname, no_ssl=False, account_limit=account_limit, trusted=trusted)


def test_rates_follow_the_admitted_accounts() -> None:
    host = Host(id=1, hostname="pds.example.com", account_limit=100)
    assert [(r.points, r.window) for r in host_rates(host)] == [
        (50, 1.0), (2_500, 3600.0), (20_000, 86400.0),
    ]  # fmt: skip
    host.account_count, host.throttled_count = 5_300, 300
    assert [r.points for r in host_rates(host)] == [55, 7_500, 70_000]
    host.trusted = True
    assert [r.points for r in host_rates(host)] == [5_000, 50_000_000, 500_000_000]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_host_over_its_second_window_waits_and_nothing_is_taken() -> None:
    clock = Clock()
    host = Host(id=7, hostname="pds.example.com", account_limit=100)
    limiter = HostLimits(clock).limiter(host)
    assert all(limiter.take() == 0.0 for _ in range(50))
    wait = limiter.take()
    assert 0 < wait <= 2.0
    clock.now += wait
    assert limiter.take() == 0.0


def test_resizing_keeps_the_counts() -> None:
    clock = Clock()
    limits_ = HostLimits(clock)
    host = Host(id=7, hostname="pds.example.com", account_limit=100)
    limiter = limits_.limiter(host)
    assert limiter.take(50) == 0.0
    assert limiter.take() > 0
    host.account_count = 10_000
    host.account_limit = 10_000
    limits_.update(host)
    assert limiter.take(10) == 0.0  # 60 per second now
    assert limiter.take() > 0


def test_a_change_before_the_first_frame_is_kept() -> None:
    """Trust given while the host is still being connected: the limiter the connection then
    takes is the trusted one, not one made from the row read before."""
    limits_ = HostLimits(Clock())
    stale = Host(id=8, hostname="pds.example.com", account_limit=100)
    trusted = Host(id=8, hostname="pds.example.com", account_limit=100, trusted=True)
    limits_.update(trusted)
    limiter = limits_.limiter(stale)
    assert limiter.take(5000) == 0.0


def test_accounts_past_the_limit_are_throttled_in_order(store: Store) -> None:
    host = _add(store, "pds.example.com", account_limit=2)
    hosts = HostStore(store)
    with store.write() as txn:
        verdicts = [admit_account(txn, hosts, host.id, f"did:plc:a{i}") for i in range(5)]
    assert verdicts == [True, True, False, False, False]
    row = hosts.get_by_id(None, host.id)
    assert row is not None
    assert (row.account_count, row.throttled_count, row.admitted_count) == (5, 3, 2)
    with store.read() as txn:
        assert not is_throttled(txn, "did:plc:a1")
        assert is_throttled(txn, "did:plc:a2")

    with store.write() as txn:
        assert lift_limit(txn, hosts, host.id, 4) == ["did:plc:a2", "did:plc:a3"]
    with store.write() as txn:
        assert lift_limit(txn, hosts, host.id, 4) == []  # nothing more fits
        assert lift_limit(txn, hosts, host.id, 1) == []  # lower: nobody is throttled again
        assert lift_limit(txn, hosts, host.id, 100) == ["did:plc:a4"]
    row = hosts.get_by_id(None, host.id)
    assert row is not None
    assert (row.account_limit, row.account_count, row.throttled_count) == (100, 5, 0)


def test_released_accounts_make_room(store: Store) -> None:
    host = _add(store, "pds.example.com", account_limit=1)
    hosts = HostStore(store)
    with store.write() as txn:
        assert admit_account(txn, hosts, host.id, "did:plc:a")
        assert not admit_account(txn, hosts, host.id, "did:plc:b")
        assert not admit_account(txn, hosts, host.id, "did:plc:c")
        release_account(txn, hosts, host.id, "did:plc:b")  # a throttled one leaves
        release_account(txn, hosts, host.id, "did:plc:a")  # an admitted one leaves
        assert not is_throttled(txn, "did:plc:b")
        assert admit_account(txn, hosts, host.id, "did:plc:d")  # room again
        assert lift_limit(txn, hosts, host.id, 2) == ["did:plc:c"]
    row = hosts.get_by_id(None, host.id)
    assert row is not None
    assert (row.account_count, row.throttled_count) == (2, 0)


def test_trusted_hosts_have_no_account_limit(store: Store) -> None:
    host = _add(store, "pds.example.com", account_limit=0, trusted=True)
    hosts = HostStore(store)
    with store.write() as txn:
        assert all(admit_account(txn, hosts, host.id, f"did:plc:t{i}") for i in range(3))


def test_bad_calls(store: Store) -> None:
    hosts = HostStore(store)
    host = _add(store, "pds.example.com", account_limit=1)
    with store.write() as txn:
        with pytest.raises(LookupError, match="no host with id 99"):
            admit_account(txn, hosts, 99, "did:plc:a")
        with pytest.raises(ValueError, match="cannot be negative"):
            lift_limit(txn, hosts, host.id, -1)


@pytest.mark.parametrize(
    ("hostname", "trusted"),
    [
        ("pds.example.com", True),
        ("pds.example.com:2583", True),
        ("localhost:2583", True),
        ("localhost:2584", False),
        ("a.host.bsky.network", True),
        ("host.bsky.network", False),
        ("evilhost.bsky.network", False),
        ("example.com", False),
        ("[::1]:2583", False),
    ],
)
def test_trusted_domains(hostname: str, trusted: bool) -> None:
    domains = ("pds.example.com", "localhost:2583", "*.host.bsky.network")
    assert is_trusted_host(hostname, domains) is trusted
