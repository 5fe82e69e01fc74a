"""The shared consumer table: the per-address limit over every process, through the index by
address, which unregistering, purging a process and the upgrade from version 1 keep right; the
frames sent, as the serving process publishes them (one row per process, purged with it), listed
by any process; the upgrade from version 2 moving the counts out of the rows."""

from __future__ import annotations

import json
from pathlib import Path

from strato.firehose.fanout.consumers import (
    BY_REMOTE,
    DIRECTORY,
    SENT,
    TABLE,
    ConsumerRegistry,
)
from strato.storage import Store, u64

OTHER_PID = 4_000_000  # above Linux's pid_max: no process has it


def test_the_per_address_limit_counts_every_process(tmp_path: Path) -> None:
    mine = ConsumerRegistry.open(tmp_path, "relay")
    other = ConsumerRegistry(mine.store)  # another process's view of the same table
    other.pid = OTHER_PID
    try:
        for n in range(50):  # other addresses do not count
            assert mine.register(f"10.0.0.{n}", None, max_per_ip=2) is not None
        assert other.register("10.9.9.9", None, max_per_ip=2) is not None
        first = mine.register("10.9.9.9", 5, max_per_ip=2)
        assert first is not None
        assert mine.register("10.9.9.9", None, max_per_ip=2) is None
        assert other.register("10.9.9.9", None, max_per_ip=2) is None
        # A prefix of another address is not that address.
        assert mine.register("10.9.9.99", None, max_per_ip=2) is not None
        mine.unregister(first)
        mine.unregister(first)  # twice: nothing more happens
        assert other.register("10.9.9.9", None, max_per_ip=2) is not None
        assert [c.remote for c in mine.list()].count("10.9.9.9") == 2
    finally:
        mine.close()


def test_published_sent_counts_are_listed_by_every_process(tmp_path: Path) -> None:
    mine = ConsumerRegistry.open(tmp_path, "relay")
    other = ConsumerRegistry(mine.store)  # the main process reading a worker's rows
    try:
        first = mine.register("10.0.0.1", None, max_per_ip=4)
        second = mine.register("10.0.0.2", 0, max_per_ip=4)
        assert first is not None
        assert second is not None
        assert [c.events_sent for c in other.list()] == [None, None]  # nothing published yet
        mine.record_sent({first: 7, second: 0})
        assert [c.events_sent for c in other.list()] == [7, 0]
        mine.unregister(second)
        mine.record_sent({first: 9, second: 3})  # a row gone stays gone
        assert [(c.serial, c.events_sent) for c in other.list()] == [(first, 9)]
        with other.store.read() as txn:  # one row of counts per process
            assert txn.count(SENT) == 1
        assert mine.purge_pid(mine.pid) == 1
        with other.store.read() as txn:
            assert txn.count(SENT) == 0
    finally:
        mine.close()


def test_purging_a_process_frees_its_addresses(tmp_path: Path) -> None:
    registry = ConsumerRegistry.open(tmp_path, "relay")
    gone = ConsumerRegistry(registry.store)
    gone.pid = OTHER_PID
    try:
        assert gone.register("10.1.1.1", None, max_per_ip=1) is not None
        assert registry.register("10.1.1.1", None, max_per_ip=1) is None
        assert registry.purge_dead() == 1
        assert registry.register("10.1.1.1", None, max_per_ip=1) is not None
        with registry.store.read() as txn:
            assert txn.count(BY_REMOTE) == txn.count(TABLE) == 1
    finally:
        registry.close()


OLD_KEY = OTHER_PID.to_bytes(4, "big") + u64(1)


def write_old_row(tmp_path: Path, version: int, tables: tuple[str, ...]) -> None:
    """A table of schema ``version`` with one row of another process, for 10.2.2.2."""
    store = Store.open(
        tmp_path / DIRECTORY,
        name="relay-consumers",
        schema_version=version,
        tables=tables,
        sync=False,
    )
    row = {
        "pid": OTHER_PID,
        "remote": "10.2.2.2",
        "cursor": None,
        "connectedAt": 0.0,
        "userAgent": "",
    }
    store.transact(lambda txn: txn.put(TABLE, OLD_KEY, json.dumps(row).encode()))
    store.close()


def test_a_version_1_table_is_indexed_on_open(tmp_path: Path) -> None:
    write_old_row(tmp_path, 1, (TABLE,))
    registry = ConsumerRegistry.open(tmp_path, "relay")
    try:
        assert registry.register("10.2.2.2", None, max_per_ip=1) is None
        assert registry.purge_pid(OTHER_PID) == 1
        assert registry.register("10.2.2.2", None, max_per_ip=1) is not None
    finally:
        registry.close()


def test_the_counts_of_a_process_gone_are_purged(tmp_path: Path) -> None:
    registry = ConsumerRegistry.open(tmp_path, "relay")
    gone = ConsumerRegistry(registry.store)
    gone.pid = OTHER_PID
    try:
        gone.record_sent({1: 5})  # published after its last row went
        assert registry.purge_dead() == 0
        with registry.store.read() as txn:
            assert txn.count(SENT) == 0
    finally:
        registry.close()


def test_a_table_from_before_the_counts_opens_and_lists(tmp_path: Path) -> None:
    # the counts' table is new at the same version: opening for writing creates it
    write_old_row(tmp_path, 2, (TABLE, BY_REMOTE))
    registry = ConsumerRegistry.open(tmp_path, "relay")
    try:
        [consumer] = registry.list()
        assert (consumer.remote, consumer.events_sent) == ("10.2.2.2", None)
    finally:
        registry.close()
