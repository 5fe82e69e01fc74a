"""What the LMDB event log adds to the contract (``test_event_log_contract.py``): its tables'
layout, so data directories written before it was :class:`LmdbEventLog` open unchanged; the
byte count of what it stores; a head that survives a reopen; pruning in bounded
transactions."""

from __future__ import annotations

from pathlib import Path

from firehose_helpers import EPOCH, Clock, open_log
from strato.firehose import TABLES, LmdbEventLog, Retention
from strato.firehose.lmdb_log import PRUNE_BATCH
from strato.storage import Store, u64


def frame_of(seq: int, size: int = 10) -> bytes:
    return seq.to_bytes(4, "big") + b"f" * (size - 4)


def append(log: LmdbEventLog, count: int = 1, size: int = 10) -> list[int]:
    with log.store.write() as txn:
        first = log.append(txn, [lambda seq: frame_of(seq, size)] * count)
    return list(range(first, first + count))


def test_a_log_written_in_the_old_layout_reads_back(tmp_path: Path) -> None:
    """The tables as the sequencer wrote them: ``firehose_events`` u64(seq) -> 8-byte
    big-endian append time + frame, ``firehose_meta`` ``head`` and ``bytes``; seq 2 removed."""
    store = Store.open(tmp_path, name="firehose-test", schema_version=1, tables=TABLES)
    stored = {1: (EPOCH, b"one"), 3: (EPOCH + 5, b"three!")}
    with store.write() as txn:
        for seq, (time_us, frame) in stored.items():
            txn.put("firehose_events", u64(seq), time_us.to_bytes(8, "big") + frame)
        txn.put("firehose_meta", b"head", u64(3))
        txn.put("firehose_meta", b"bytes", u64(8 + 3 + 8 + 6))
    store.close()
    log = open_log(tmp_path, Clock(EPOCH + 10))
    assert (log.head(), log.oldest(), log.total_bytes()) == (3, 1, 25)
    events = log.events_after(0)
    assert [(e.seq, e.time_us, e.frame) for e in events] == [
        (1, EPOCH, b"one"),
        (3, EPOCH + 5, b"three!"),
    ]
    assert (log.time_of(3), log.seq_at(EPOCH + 1)) == (EPOCH + 5, 3)
    assert append(log) == [4]
    with log.store.read() as txn:
        assert txn.get("firehose_events", u64(4)) == (EPOCH + 10).to_bytes(8, "big") + frame_of(4)
        assert txn.get("firehose_meta", b"head") == u64(4)


def test_the_byte_count_is_the_stored_values(tmp_path: Path) -> None:
    log = open_log(tmp_path, Clock())
    with log.store.write() as txn:
        assert log.append(txn, [lambda seq: b"a%d" % seq, lambda seq: b"bb%d" % seq]) == 1
    assert log.total_bytes() == 2 * 8 + len(b"a1") + len(b"bb2")
    append(log, 3, size=10)
    append(log, 2, size=30)
    with log.store.write() as txn:
        log.remove(txn, [1, 4, 6])
    assert log.total_bytes() == (8 + len(b"bb2")) + 2 * (8 + 10) + (8 + 30)


def test_the_head_survives_a_reopen(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    append(log, 5)
    log.store.close()
    reopened = open_log(tmp_path)
    assert reopened.head() == 5
    assert append(reopened) == [6]


def test_pruning_runs_in_bounded_transactions(tmp_path: Path) -> None:
    clock = Clock()
    log = open_log(tmp_path, clock, Retention(max_age_seconds=1, max_bytes=None))
    count = 2 * PRUNE_BATCH + 7
    append(log, count)
    clock.advance(2)
    append(log)
    assert log.prune() == count
    assert [e.seq for e in log.events_after(0)] == [count + 1]
