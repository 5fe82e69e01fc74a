"""Store: tables, transactions, ranges, schema version, map growth, multi-process use."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strato.errors import SchemaVersionError, StorageError, StorageFullError
from strato.storage import Store, WriteTxn, text_key, u64

TABLES = ("log", "index")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "svc", name="svc", schema_version=3, tables=TABLES) as opened:
        yield opened


def _write_then_fail(store: Store) -> None:
    with store.write() as txn:
        txn.put("index", b"a", b"1")
        txn.put("log", u64(1), b"x")
        raise RuntimeError("boom")


def _write_four_mib(txn: WriteTxn) -> None:
    for i in range(1024):
        txn.put("log", u64(i), bytes(4096))


def test_put_get_delete(store: Store) -> None:
    with store.write() as txn:
        assert txn.put("index", b"k", b"v1")
        assert txn.get("index", b"k") == b"v1"  # a writer reads its own writes
        assert not txn.put("index", b"k", b"v2", overwrite=False)
    with store.read() as txn:
        assert txn.get("index", b"k") == b"v1"
        assert ("index", b"k") in txn
        assert txn.get("log", b"k") is None  # tables are separate
    with store.write() as txn:
        assert txn.delete("index", b"k")
        assert not txn.delete("index", b"k")
    with store.read() as txn:
        assert txn.get("index", b"k") is None


def test_exception_aborts_the_whole_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        _write_then_fail(store)
    with store.read() as txn:
        assert txn.count("index") == 0
        assert txn.count("log") == 0


def test_readers_see_a_snapshot(store: Store) -> None:
    with store.write() as txn:
        txn.put("index", b"a", b"old")
    with store.read() as reader:
        with store.write() as txn:
            txn.put("index", b"a", b"new")
        assert reader.get("index", b"a") == b"old"
    with store.read() as txn:
        assert txn.get("index", b"a") == b"new"


def test_unknown_table(store: Store) -> None:
    with store.read() as txn, pytest.raises(StorageError, match="unknown table 'nope'"):
        txn.get("nope", b"k")


def test_append_log_and_sequence_numbers(store: Store) -> None:
    with store.write() as txn:
        assert txn.next_u64("log") == 1
        for _ in range(3):
            txn.append("log", u64(txn.next_u64("log")), b"event")
        assert txn.next_u64("log") == 4
        with pytest.raises(StorageError, match="not greater than the last key"):
            txn.append("log", u64(2), b"late")
    with store.read() as txn:
        assert [key for key, _ in txn.items("log")] == [u64(1), u64(2), u64(3)]


def test_prefix_scan_and_delete_range(store: Store) -> None:
    with store.write() as txn:
        for did in ("did:plc:a", "did:plc:ab", "did:plc:b"):
            for rkey in ("1", "2"):
                txn.put("index", text_key(did, "app.bsky.feed.post", rkey), rkey.encode())
    with store.read() as txn:
        keys = [key for key, _ in txn.items("index", prefix=text_key("did:plc:a") + b"\x00")]
        assert keys == [
            text_key("did:plc:a", "app.bsky.feed.post", "1"),
            text_key("did:plc:a", "app.bsky.feed.post", "2"),
        ]
    with store.write() as txn:
        assert txn.delete_range("index", text_key("did:plc:ab"), text_key("did:plc:b")) == 2
    with store.read() as txn:
        assert txn.count("index") == 4


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=100)
@given(
    keys=st.sets(st.binary(min_size=1, max_size=3), max_size=30),
    bounds=st.tuples(st.none() | st.binary(max_size=3), st.none() | st.binary(max_size=3)),
    reverse=st.booleans(),
    limit=st.none() | st.integers(0, 10),
)
def test_items_matches_a_sorted_model(
    store: Store,
    keys: set[bytes],
    bounds: tuple[bytes | None, bytes | None],
    reverse: bool,
    limit: int | None,
) -> None:
    start, stop = bounds
    with store.write() as txn:
        txn.delete_range("index", None, None)
        for key in keys:
            txn.put("index", key, key)
    expected = sorted(
        key for key in keys if (start is None or key >= start) and (stop is None or key < stop)
    )
    if reverse:
        expected.reverse()
    if limit is not None:
        expected = expected[:limit]
    with store.read() as txn:
        got = [key for key, _ in txn.items("index", start, stop, reverse=reverse, limit=limit)]
    assert got == expected


def test_first_last_on_empty_and_full(store: Store) -> None:
    with store.read() as txn:
        assert txn.first("log") is None
        assert txn.last("log") is None
    with store.write() as txn:
        txn.put("log", u64(5), b"5")
        txn.put("log", u64(700), b"700")
    with store.read() as txn:
        assert txn.first("log") == (u64(5), b"5")
        assert txn.last("log") == (u64(700), b"700")


def test_data_survives_reopen(tmp_path: Path) -> None:
    with (
        Store.open(tmp_path, name="svc", schema_version=1, tables=TABLES) as store,
        store.write() as txn,
    ):
        txn.put("log", u64(1), b"kept")
    with (
        Store.open(tmp_path, name="svc", schema_version=1, tables=TABLES) as store,
        store.read() as read_txn,
    ):
        assert read_txn.get("log", u64(1)) == b"kept"


def test_schema_version_is_checked(tmp_path: Path) -> None:
    Store.open(tmp_path, name="svc", schema_version=1, tables=TABLES).close()
    with pytest.raises(SchemaVersionError, match="schema version 1; this strato uses 2"):
        Store.open(tmp_path, name="svc", schema_version=2, tables=TABLES)


def test_older_versions_are_upgraded_step_by_step(tmp_path: Path) -> None:
    with Store.open(tmp_path, name="svc", schema_version=1, tables=("log",)) as store:
        store.transact(lambda txn: txn.put("log", b"k", b"v1"))
    done: list[int] = []

    def step(version: int) -> Callable[[WriteTxn], None]:
        def run(txn: WriteTxn) -> None:
            done.append(version)
            txn.put("log", b"k", b"v" + str(version + 1).encode())
            txn.put("index", b"from", str(version).encode())

        return run

    upgrades = {1: step(1), 2: step(2)}
    with (
        Store.open(tmp_path, name="svc", schema_version=3, tables=TABLES, upgrades=upgrades) as s,
        s.read() as txn,
    ):
        assert (txn.get("log", b"k"), txn.get("index", b"from")) == (b"v3", b"2")
    assert done == [1, 2]
    # opened again at the new version: nothing runs; an older strato is refused
    Store.open(tmp_path, name="svc", schema_version=3, tables=TABLES, upgrades=upgrades).close()
    assert done == [1, 2]
    with pytest.raises(SchemaVersionError, match="schema version 3; this strato uses 2"):
        Store.open(tmp_path, name="svc", schema_version=2, tables=TABLES, upgrades=upgrades)


def test_a_missing_or_failing_upgrade_step_changes_nothing(tmp_path: Path) -> None:
    Store.open(tmp_path, name="svc", schema_version=1, tables=TABLES).close()
    with pytest.raises(SchemaVersionError, match="schema version 1; this strato uses 3"):
        Store.open(tmp_path, name="svc", schema_version=3, tables=TABLES, upgrades={2: print})

    def broken(txn: WriteTxn) -> None:
        txn.put("log", b"half", b"done")
        raise StorageError("step failed")

    with pytest.raises(StorageError, match="step failed"):
        Store.open(tmp_path, name="svc", schema_version=2, tables=TABLES, upgrades={1: broken})
    with (
        Store.open(tmp_path, name="svc", schema_version=1, tables=TABLES) as store,
        store.read() as txn,
    ):
        assert txn.get("log", b"half") is None


def test_service_name_is_checked(tmp_path: Path) -> None:
    Store.open(tmp_path, name="pds", schema_version=1, tables=TABLES).close()
    with pytest.raises(StorageError, match="belongs to the 'pds' service, not 'relay'"):
        Store.open(tmp_path, name="relay", schema_version=1, tables=TABLES)


def test_new_tables_are_added_on_open(tmp_path: Path) -> None:
    Store.open(tmp_path, name="svc", schema_version=1, tables=("a",)).close()
    with (
        Store.open(tmp_path, name="svc", schema_version=1, tables=("a", "b")) as store,
        store.read() as txn,
    ):
        assert txn.count("b") == 0


@pytest.mark.parametrize(
    ("tables", "message"),
    [(("Bad",), "bad table name 'Bad'"), (("",), "bad table name ''"), (("a", "a"), "repeat")],
)
def test_bad_table_names(tmp_path: Path, tables: tuple[str, ...], message: str) -> None:
    with pytest.raises(StorageError, match=message):
        Store.open(tmp_path, name="svc", schema_version=1, tables=tables)


def test_foreign_lmdb_environment_is_refused(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import lmdb, sys; e = lmdb.open(sys.argv[1]); "
            "t = e.begin(write=True); t.put(b'k', b'v'); t.commit()",
            str(tmp_path),
        ],
        check=True,
    )
    with pytest.raises(StorageError, match="that strato did not write"):
        Store.open(tmp_path, name="svc", schema_version=1, tables=TABLES)


def test_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(StorageError, match="is not a directory"):
        Store.open(tmp_path / "f", name="svc", schema_version=1, tables=TABLES)


def test_same_directory_twice_in_one_process(store: Store) -> None:
    with pytest.raises(StorageError, match="cannot open LMDB environment"):
        Store.open(store.path, name="svc", schema_version=3, tables=TABLES)


def test_readonly_open(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"no data\.mdb"):
        Store.open(tmp_path / "x", name="svc", schema_version=1, tables=TABLES, readonly=True)
    Store.open(tmp_path / "x", name="svc", schema_version=1, tables=TABLES).close()
    with (
        Store.open(
            tmp_path / "x", name="svc", schema_version=1, tables=TABLES, readonly=True
        ) as store,
        store.read() as txn,
    ):
        assert txn.count("log") == 0
    with pytest.raises(StorageError, match="has no table 'other'"):
        Store.open(tmp_path / "x", name="svc", schema_version=1, tables=("other",), readonly=True)


def test_map_grows_under_write_blocks(tmp_path: Path) -> None:
    # A 256 KiB map, then 8 MiB written in transactions of 64 KiB each: the map grows before
    # it fills, and no transaction fails.
    with Store.open(
        tmp_path, name="svc", schema_version=1, tables=TABLES, map_size=1 << 18
    ) as store:
        value = bytes(4000)
        for batch in range(128):
            with store.write() as txn:
                for i in range(16):
                    txn.put("log", u64(batch * 16 + i), value)
        stats = store.stats()
        assert stats.entries["log"] == 2048
        assert stats.map_size > 8 << 20
        assert stats.used_bytes <= stats.map_size


def test_transact_retries_a_transaction_too_big_for_the_map(tmp_path: Path) -> None:
    with Store.open(
        tmp_path, name="svc", schema_version=1, tables=TABLES, map_size=1 << 18
    ) as store:
        attempts = []

        def write_four_mib(txn: WriteTxn) -> int:
            attempts.append(1)
            _write_four_mib(txn)
            return len(attempts)

        assert store.transact(write_four_mib) > 1  # it hit the full map and was retried
        with store.read() as txn:
            assert txn.count("log") == 1024


def test_write_into_a_full_map_is_a_storage_error_and_writes_nothing(tmp_path: Path) -> None:
    with Store.open(
        tmp_path, name="svc", schema_version=1, tables=TABLES, map_size=1 << 18
    ) as store:
        before = store.stats().map_size
        with pytest.raises(StorageFullError, match="the map has been grown"):
            store.transact(_write_four_mib, attempts=1)
        with store.read() as txn:
            assert txn.count("log") == 0
        assert store.stats().map_size == 2 * before


def test_key_too_long_is_a_storage_error(store: Store) -> None:
    with pytest.raises(StorageError, match="write failed"):
        store.transact(lambda txn: txn.put("index", bytes(600), b"v"))


GROW_IN_OTHER_PROCESS = """
import sys
from strato.storage import Store, u64
with Store.open(sys.argv[1], name="svc", schema_version=1, tables=("log", "index")) as store:
    for batch in range(16):
        with store.write() as txn:
            for i in range(64):
                txn.put("log", u64(batch * 64 + i), bytes(4096))
"""


def test_a_map_grown_by_another_process_is_adopted(tmp_path: Path) -> None:
    with Store.open(
        tmp_path, name="svc", schema_version=1, tables=TABLES, map_size=1 << 18
    ) as store:
        subprocess.run([sys.executable, "-c", GROW_IN_OTHER_PROCESS, str(tmp_path)], check=True)
        with store.read() as txn:
            assert txn.count("log") == 1024
        with store.write() as txn:
            txn.put("index", b"after", b"ok")
        with store.read() as txn:
            assert txn.get("index", b"after") == b"ok"
