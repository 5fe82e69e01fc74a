"""Nested write transactions: a child's writes join its parent's, or vanish when it raises."""

from __future__ import annotations

from pathlib import Path

import pytest
from strato.errors import StorageFullError
from strato.storage import Store, WriteTxn


def _store(path: Path, map_size: int = 1 << 20) -> Store:
    return Store.open(path, name="t", schema_version=1, tables=("t",), map_size=map_size)


def test_child_writes_join_the_parent(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        with store.write() as txn:
            txn.put("t", b"a", b"1")
            with txn.nested() as child:
                child.put("t", b"b", b"2")
                assert child.get("t", b"a") == b"1"
            assert txn.get("t", b"b") == b"2"
        with store.read() as txn:
            assert dict(txn.items("t")) == {b"a": b"1", b"b": b"2"}


def test_a_child_that_raises_leaves_the_parent_as_it_was(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        with store.write() as txn:
            txn.put("t", b"a", b"1")
            with pytest.raises(KeyError):
                _refused_child(txn)
            with txn.nested() as child:
                child.put("t", b"c", b"3")
        with store.read() as txn:
            assert dict(txn.items("t")) == {b"a": b"1", b"c": b"3"}


def test_a_child_that_fills_the_map_spends_the_transaction(tmp_path: Path) -> None:
    with _store(tmp_path, map_size=256 << 10) as store:
        before = store.stats().map_size
        with pytest.raises(StorageFullError):
            _overfill(store)
        assert store.stats().map_size > before
        with store.read() as txn:
            assert txn.count("t") == 0


def _refused_child(txn: WriteTxn) -> None:
    with txn.nested() as child:
        child.put("t", b"b", b"2")
        child.delete("t", b"a")
        raise KeyError("refused")


def _overfill(store: Store) -> None:
    with store.write() as txn, txn.nested() as child:
        for i in range(4096):
            child.put("t", i.to_bytes(4, "big"), b"x" * 512)
