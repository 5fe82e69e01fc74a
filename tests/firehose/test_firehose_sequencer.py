"""The LMDB event log: seqs assigned inside the caller's transaction, replay as a range scan,
retention by age and by bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from firehose_helpers import EPOCH, Clock, open_log
from strato.firehose import TABLES, Retention, Sequencer
from strato.firehose.sequencer import PRUNE_BATCH
from strato.storage import Store


def frame_of(seq: int, size: int = 10) -> bytes:
    return seq.to_bytes(4, "big") + b"f" * (size - 4)


def append(log: Sequencer, count: int = 1, size: int = 10) -> list[int]:
    with log.store.write() as txn:
        return [log.append(txn, lambda seq: frame_of(seq, size)) for _ in range(count)]


def test_seqs_start_at_one_and_frames_are_stored_exactly(tmp_path: Path) -> None:
    clock = Clock()
    log = open_log(tmp_path, clock)
    assert (log.head(), log.oldest(), log.total_bytes()) == (0, None, 0)
    assert append(log, 3) == [1, 2, 3]
    clock.advance(2)
    assert append(log) == [4]
    events = log.events_after(0)
    assert [(e.seq, e.frame) for e in events] == [(s, frame_of(s)) for s in (1, 2, 3, 4)]
    assert [e.time_us for e in events] == [EPOCH, EPOCH, EPOCH, EPOCH + 2_000_000]
    assert (log.head(), log.oldest(), log.total_bytes()) == (4, 1, 4 * (8 + 10))


def test_build_frame_gets_the_seq(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    seen: list[int] = []

    def build(seq: int) -> bytes:
        seen.append(seq)
        return b"frame %d" % seq

    with log.store.write() as txn:
        log.append(txn, build)
        log.append(txn, build)
        assert log.head(txn) == 2
    assert seen == [1, 2]
    assert [event.frame for event in log.events_after(0)] == [b"frame 1", b"frame 2"]


def test_an_aborted_transaction_assigns_nothing(tmp_path: Path) -> None:
    store = Store.open(
        tmp_path, name="t", schema_version=1, tables=(*TABLES, "records"), sync=False
    )
    log = Sequencer(store, clock=Clock())
    append(log, 2)

    def failing_commit() -> None:
        with store.write() as txn:
            txn.put("records", b"k", b"v")
            log.append(txn, frame_of)
            raise RuntimeError("the commit failed")

    with pytest.raises(RuntimeError):
        failing_commit()
    with store.read() as snapshot:
        assert snapshot.get("records", b"k") is None
    assert log.head() == 2
    assert append(log) == [3]
    with store.write() as txn:  # the event lands with the record, in one transaction
        txn.put("records", b"k", b"v")
        log.append(txn, frame_of)
    with store.read() as snapshot:
        assert snapshot.get("records", b"k") == b"v"
        assert log.head(snapshot) == 4


def test_replay_range(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    append(log, 10)
    assert [e.seq for e in log.events_after(7)] == [8, 9, 10]
    assert [e.seq for e in log.events_after(2, upto=5)] == [3, 4, 5]
    assert [e.seq for e in log.events_after(0, limit=4)] == [1, 2, 3, 4]
    assert [e.seq for e in log.events_after(0, max_bytes=25)] == [1, 2, 3]
    assert [e.seq for e in log.events_after(0, max_bytes=1)] == [1]
    assert log.events_after(10) == []
    assert log.events_after(3, upto=3) == []


def test_the_head_survives_a_reopen(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    append(log, 5)
    log.store.close()
    reopened = open_log(tmp_path)
    assert reopened.head() == 5
    assert append(reopened) == [6]


def test_retention_by_age(tmp_path: Path) -> None:
    clock = Clock()
    log = open_log(tmp_path, clock, Retention(max_age_seconds=60, max_bytes=None))
    append(log, 3)
    clock.advance(30)
    append(log, 2)
    assert log.prune() == 0
    clock.advance(31)  # the first three are 61 s old, the last two 31 s
    assert log.prune() == 3
    assert (log.oldest(), log.head(), log.total_bytes()) == (4, 5, 2 * 18)
    clock.advance(60)
    assert log.prune() == 2
    assert (log.oldest(), log.head(), log.total_bytes()) == (None, 5, 0)
    assert append(log) == [6]  # a seq is never reused, even after the log emptied


def test_retention_by_bytes(tmp_path: Path) -> None:
    log = open_log(tmp_path, retention=Retention(max_age_seconds=None, max_bytes=100))
    append(log, 10, size=12)  # 20 bytes each with the append time: 200 bytes
    assert log.prune() == 5
    assert (log.oldest(), log.total_bytes()) == (6, 100)
    append(log, 1, size=4)  # 12 bytes: 112 in all, so the oldest (20) goes
    assert log.prune() == 1
    assert (log.oldest(), log.total_bytes()) == (7, 92)


def test_pruning_runs_in_bounded_transactions(tmp_path: Path) -> None:
    clock = Clock()
    log = open_log(tmp_path, clock, Retention(max_age_seconds=1, max_bytes=None))
    count = 2 * PRUNE_BATCH + 7
    append(log, count)
    clock.advance(2)
    append(log)
    assert log.prune() == count
    assert [e.seq for e in log.events_after(0)] == [count + 1]


def test_remove_deletes_chosen_events_and_keeps_the_byte_total(tmp_path: Path) -> None:
    log = open_log(tmp_path, Clock())
    append(log, 3, size=10)
    append(log, 2, size=30)
    with log.store.write() as txn:
        assert log.remove(txn, [2, 4, 99]) == 2  # 99 was never in the log
    assert [event.seq for event in log.events_after(0)] == [1, 3, 5]
    assert log.total_bytes() == 2 * (8 + 10) + (8 + 30)
    assert log.head() == 5
    with log.store.write() as txn:
        assert log.remove(txn, [2, 4]) == 0  # already gone: nothing changes
    assert log.total_bytes() == 2 * (8 + 10) + (8 + 30)
    assert append(log) == [6]  # removed seqs are not reused


def test_remove_then_prune_by_bytes_counts_what_is_left(tmp_path: Path) -> None:
    log = open_log(tmp_path, Clock(), Retention(max_age_seconds=None, max_bytes=3 * 18))
    append(log, 4)
    with log.store.write() as txn:
        log.remove(txn, [1])
    assert log.prune() == 0  # three events of 18 bytes fit
    append(log)
    assert log.prune() == 1
    assert [event.seq for event in log.events_after(0)] == [3, 4, 5]
    assert log.total_bytes() == 3 * 18
