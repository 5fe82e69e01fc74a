"""What every :class:`~strato.firehose.log.EventLog` keeps, run against each implementation
(:data:`IMPLEMENTATIONS`; adding a backend is one line there): seqs and their transaction,
reading after a cursor, head and oldest, retention by age and by bytes, removal, the time of an
event and the event at a time, waiting for new events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from firehose_helpers import EPOCH, Clock
from strato.firehose import TABLES, EventLog, LmdbEventLog, Retention
from strato.storage import Store

#: A change the caller writes in the same transaction as its event.
RECORDS = "records"
SECOND = 1_000_000
#: Long enough never to end a wait in these tests: a wait that returns was woken.
NEVER = 3600.0


def lmdb_log(path: Path, clock: Clock, retention: Retention) -> tuple[EventLog, Store]:
    store = Store.open(
        path, name="contract", schema_version=1, tables=(*TABLES, RECORDS), sync=False
    )
    return LmdbEventLog(store, retention=retention, clock=clock), store


#: Each implementation: a log (and the store whose write transactions it appends in) at a
#: path, with a clock and a retention window.
IMPLEMENTATIONS: dict[str, Callable[[Path, Clock, Retention], tuple[EventLog, Store]]] = {
    "lmdb": lmdb_log,
}


def frame_of(seq: int, size: int = 10) -> bytes:
    return seq.to_bytes(4, "big") + b"f" * (size - 4)


@dataclass
class Subject:
    """A log under test, its store and the clock it stamps events with."""

    log: EventLog
    store: Store
    clock: Clock

    def append(self, count: int = 1, size: int = 10) -> list[int]:
        """``count`` events of ``size`` bytes in one transaction; their seqs."""
        with self.store.write() as txn:
            first = self.log.append(txn, [lambda seq: frame_of(seq, size)] * count)
        self.log.notify()
        return list(range(first, first + count))

    def seqs(self) -> list[int]:
        return [event.seq for event in self.log.events_after(0, limit=10_000)]


OpenLog = Callable[..., Subject]


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> OpenLog:
    """Opens a fresh log of the implementation (``retention``: none unless given)."""
    build = IMPLEMENTATIONS[request.param]
    opened = 0

    def make(retention: Retention | None = None) -> Subject:
        nonlocal opened
        opened += 1
        clock = Clock()
        log, store = build(tmp_path / f"log{opened}", clock, retention or Retention(None, None))
        request.addfinalizer(store.close)
        return Subject(log, store, clock)

    return make


def event_bytes(open_log: OpenLog, size: int = 10) -> int:
    """What one event of ``size`` bytes counts for in the log's byte total."""
    subject = open_log()
    subject.append(size=size)
    return subject.log.total_bytes()


# -- seqs -------------------------------------------------------------------------------------


def test_seqs_start_at_one_and_grow_by_one_per_event(open_log: OpenLog) -> None:
    subject = open_log()
    log = subject.log
    assert (log.head(), log.oldest(), log.total_bytes()) == (0, None, 0)
    assert log.events_after(0) == []
    assert subject.append(3) == [1, 2, 3]
    subject.clock.advance(2)
    assert subject.append() == [4]
    events = log.events_after(0)
    assert [(e.seq, e.frame) for e in events] == [(s, frame_of(s)) for s in (1, 2, 3, 4)]
    assert [e.time_us for e in events] == [EPOCH, EPOCH, EPOCH, EPOCH + 2 * SECOND]
    assert (log.head(), log.oldest()) == (4, 1)
    assert log.total_bytes() > 0


def test_an_empty_batch_assigns_nothing_and_names_the_next_seq(open_log: OpenLog) -> None:
    subject = open_log()
    subject.append(2)
    with subject.store.write() as txn:
        assert subject.log.append(txn, []) == 3
    assert subject.log.head() == 2
    assert subject.append() == [3]


def test_each_builder_gets_its_seq_in_order(open_log: OpenLog) -> None:
    subject = open_log()
    seen: list[int] = []

    def build(seq: int) -> bytes:
        seen.append(seq)
        return b"frame %d" % seq

    with subject.store.write() as txn:
        assert subject.log.append(txn, [build, build]) == 1
        assert subject.log.append(txn, [build]) == 3
    assert seen == [1, 2, 3]
    assert [e.frame for e in subject.log.events_after(0)] == [b"frame 1", b"frame 2", b"frame 3"]


def test_an_event_commits_with_its_change_or_not_at_all(open_log: OpenLog) -> None:
    subject = open_log()
    store, log = subject.store, subject.log
    subject.append(2)

    def failing_commit() -> None:
        with store.write() as txn:
            txn.put(RECORDS, b"k", b"v")
            log.append(txn, [frame_of])
            raise RuntimeError("the commit failed")

    with pytest.raises(RuntimeError):
        failing_commit()
    with store.read() as snapshot:
        assert snapshot.get(RECORDS, b"k") is None
    assert (log.head(), subject.seqs()) == (2, [1, 2])
    with store.write() as txn:  # the event lands with the record, in one transaction
        txn.put(RECORDS, b"k", b"v")
        assert log.append(txn, [frame_of]) == 3
    with store.read() as snapshot:
        assert snapshot.get(RECORDS, b"k") == b"v"
    assert (log.head(), subject.seqs()) == (3, [1, 2, 3])


# -- reading ----------------------------------------------------------------------------------


def test_reading_after_a_cursor_in_bounded_batches(open_log: OpenLog) -> None:
    subject = open_log()
    log = subject.log
    subject.append(10)
    assert [e.seq for e in log.events_after(7)] == [8, 9, 10]
    assert [e.seq for e in log.events_after(2, upto=5)] == [3, 4, 5]
    assert [e.seq for e in log.events_after(0, limit=4)] == [1, 2, 3, 4]
    assert [e.seq for e in log.events_after(4, limit=4)] == [5, 6, 7, 8]
    assert [e.seq for e in log.events_after(0, max_bytes=25)] == [1, 2, 3]  # frames of 10
    assert [e.seq for e in log.events_after(0, max_bytes=1)] == [1]
    assert log.events_after(10) == []
    assert log.events_after(99) == []
    assert log.events_after(3, upto=3) == []


# -- retention --------------------------------------------------------------------------------


def test_retention_by_age(open_log: OpenLog) -> None:
    subject = open_log(Retention(max_age_seconds=60, max_bytes=None))
    log, clock = subject.log, subject.clock
    assert log.retention == Retention(max_age_seconds=60, max_bytes=None)
    subject.append(3)
    clock.advance(30)
    subject.append(2)
    assert log.prune() == 0
    clock.advance(31)  # the first three are 61 s old, the last two 31 s
    assert log.prune() == 3
    assert (log.oldest(), log.head(), subject.seqs()) == (4, 5, [4, 5])
    assert log.events_after(0)[0].frame == frame_of(4)
    clock.advance(60)
    assert log.prune() == 2
    assert (log.oldest(), log.head(), log.total_bytes()) == (None, 5, 0)
    assert log.events_after(0) == []
    assert subject.append() == [6]  # a seq is never reused, even after the log emptied
    assert (log.oldest(), log.head()) == (6, 6)


def test_retention_by_bytes_keeps_the_newest_that_fit(open_log: OpenLog) -> None:
    each = event_bytes(open_log)
    subject = open_log(Retention(max_age_seconds=None, max_bytes=5 * each))
    log = subject.log
    subject.append(8)
    assert log.total_bytes() == 8 * each
    assert log.prune() == 3
    assert (log.oldest(), log.head(), log.total_bytes()) == (4, 8, 5 * each)
    assert log.prune() == 0
    subject.append()
    assert log.prune() == 1
    assert subject.seqs() == [5, 6, 7, 8, 9]


# -- removal ----------------------------------------------------------------------------------


def test_removed_events_go_and_their_seqs_are_never_assigned_again(open_log: OpenLog) -> None:
    each = event_bytes(open_log)
    subject = open_log()
    log = subject.log
    subject.append(5)
    with subject.store.write() as txn:
        assert log.remove(txn, [2, 4, 99, 0]) == 2  # 99 and 0 were never in the log
    assert subject.seqs() == [1, 3, 5]
    assert [e.seq for e in log.events_after(1, limit=1)] == [3]
    assert (log.head(), log.oldest(), log.total_bytes()) == (5, 1, 3 * each)
    with subject.store.write() as txn:
        assert log.remove(txn, [2, 4]) == 0  # already gone: nothing changes
    assert log.total_bytes() == 3 * each
    with subject.store.write() as txn:
        assert log.remove(txn, [5]) == 1  # the newest: the head stays
    assert (log.head(), subject.seqs()) == (5, [1, 3])
    assert subject.append() == [6]


def test_a_removal_in_an_aborted_transaction_removes_nothing(open_log: OpenLog) -> None:
    subject = open_log()
    subject.append(3)

    def failing_removal() -> None:
        with subject.store.write() as txn:
            subject.log.remove(txn, [1, 2])
            raise RuntimeError("the takedown failed")

    with pytest.raises(RuntimeError):
        failing_removal()
    assert subject.seqs() == [1, 2, 3]


def test_retention_by_bytes_counts_what_removal_left(open_log: OpenLog) -> None:
    each = event_bytes(open_log)
    subject = open_log(Retention(max_age_seconds=None, max_bytes=3 * each))
    subject.append(4)
    with subject.store.write() as txn:
        subject.log.remove(txn, [1])
    assert subject.log.prune() == 0  # three events fit
    subject.append()
    assert subject.log.prune() == 1
    assert subject.seqs() == [3, 4, 5]


# -- time -------------------------------------------------------------------------------------


def test_the_time_of_an_event(open_log: OpenLog) -> None:
    subject = open_log(Retention(max_age_seconds=60, max_bytes=None))
    log, clock = subject.log, subject.clock
    subject.append(2)
    clock.advance(45)
    subject.append()
    assert [log.time_of(seq) for seq in (1, 2, 3)] == [EPOCH, EPOCH, EPOCH + 45 * SECOND]
    with subject.store.write() as txn:
        log.remove(txn, [3])
    clock.advance(30)
    log.prune()  # 1 and 2 are 75 s old
    assert [log.time_of(seq) for seq in (0, 1, 2, 3, 4, -1)] == [None] * 6


def test_times_never_decrease_along_seqs_when_the_clock_goes_back(open_log: OpenLog) -> None:
    subject = open_log()
    log, clock = subject.log, subject.clock
    clock.advance(10)
    subject.append()
    clock.advance(-5)  # the system clock was set back
    subject.append()
    clock.advance(10)
    subject.append()
    times = [event.time_us for event in log.events_after(0)]
    assert times == [EPOCH + 10 * SECOND, EPOCH + 10 * SECOND, EPOCH + 15 * SECOND]
    assert log.seq_at(EPOCH + 10 * SECOND) == 1


def test_the_first_event_at_or_after_a_time(open_log: OpenLog) -> None:
    subject = open_log()
    log, clock = subject.log, subject.clock
    assert log.seq_at(EPOCH) is None  # empty
    subject.append(3)  # 1-3 at 0 s
    clock.advance(10)
    subject.append()  # 4 at 10 s
    clock.advance(10)
    subject.append(2)  # 5-6 at 20 s
    clock.advance(5)
    subject.append()  # 7 at 25 s
    assert log.seq_at(EPOCH - SECOND) == 1  # before the first
    assert log.seq_at(EPOCH) == 1  # equal times: the first of them
    assert log.seq_at(EPOCH + 1) == 4  # between
    assert log.seq_at(EPOCH + 10 * SECOND) == 4
    assert log.seq_at(EPOCH + 15 * SECOND) == 5
    assert log.seq_at(EPOCH + 20 * SECOND) == 5
    assert log.seq_at(EPOCH + 25 * SECOND) == 7  # the last
    assert log.seq_at(EPOCH + 25 * SECOND + 1) is None  # after the last
    with subject.store.write() as txn:
        log.remove(txn, [4, 5])
    assert log.seq_at(EPOCH + 1) == 6  # over the gap the removal left
    assert log.seq_at(EPOCH + 20 * SECOND) == 6


def test_the_event_at_a_time_among_many(open_log: OpenLog) -> None:
    subject = open_log()
    for _ in range(100):
        subject.append(3)
        subject.clock.advance(1)
    with subject.store.write() as txn:
        subject.log.remove(txn, range(100, 200))
    for second in (0, 17, 33, 34, 66, 67, 99):
        expected = 200 if 33 <= second <= 66 else 3 * second + 1
        assert subject.log.seq_at(EPOCH + second * SECOND) == expected, second
    assert subject.log.seq_at(EPOCH + 100 * SECOND) is None


# -- waiting ----------------------------------------------------------------------------------


def test_a_wait_returns_at_once_when_the_head_is_past_it(open_log: OpenLog) -> None:
    subject = open_log()
    subject.append(2)
    assert asyncio.run(subject.log.wait(1, NEVER)) == 2


def test_a_wait_is_woken_by_notify_after_a_commit(open_log: OpenLog) -> None:
    subject = open_log()
    subject.append()

    async def scenario() -> int:
        waiting = asyncio.create_task(subject.log.wait(1, NEVER))
        await asyncio.sleep(0)  # the wait is listening
        # The writer commits and notifies from its own thread, as a service's writer does.
        await asyncio.to_thread(subject.append, 2)
        async with asyncio.timeout(60):  # a guard against a hang, not a measure
            return await waiting

    assert asyncio.run(scenario()) == 3


def test_a_notify_wakes_every_wait_even_without_new_events(open_log: OpenLog) -> None:
    subject = open_log()
    subject.append()

    async def scenario() -> list[int]:
        waits = [asyncio.create_task(subject.log.wait(1, NEVER)) for _ in range(3)]
        await asyncio.sleep(0)
        subject.log.notify()
        async with asyncio.timeout(60):  # a guard against a hang, not a measure
            return await asyncio.gather(*waits)

    assert asyncio.run(scenario()) == [1, 1, 1]


def test_a_wait_ends_at_its_timeout(open_log: OpenLog) -> None:
    subject = open_log()
    subject.append()
    assert asyncio.run(subject.log.wait(1, 0.01)) == 1


def test_a_cancelled_wait_does_not_disturb_the_next(open_log: OpenLog) -> None:
    subject = open_log()

    async def scenario() -> int:
        waiting = asyncio.create_task(subject.log.wait(0, NEVER))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        subject.log.notify()  # nobody is waiting: a no-op
        subject.append()
        return await subject.log.wait(0, NEVER)

    assert asyncio.run(scenario()) == 1
