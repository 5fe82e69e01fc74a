"""The embedded :class:`~strato.firehose.log.EventLog`: :class:`LmdbEventLog`, in LMDB tables of
the service's own store.

A service opens its :class:`~strato.storage.Store` with :data:`TABLES` among its tables, so an
event is written in the same transaction as the change it reports::

    store = Store.open(path, name="pds", schema_version=1, tables=(*REPO_TABLES, *TABLES))
    log = LmdbEventLog(store)
    with store.write() as txn:
        ...                                            # the commit's blocks and indexes
        seq = log.append(txn, [commit_message(commit)])
    log.notify()                                       # after the commit: now it is durable

- ``firehose_events``: ``u64(seq)`` -> 8-byte big-endian append time (microseconds since the
  epoch) + the exact frame bytes to send.
- ``firehose_meta``: ``head`` (the last seq ever assigned, so a seq is never reused even when
  retention has emptied the log) and ``bytes`` (the total size of the stored values).

Seqs are the next after ``head``, in the caller's transaction. An append is stamped with the
clock, or with the newest event's time when the clock reads earlier (it was set back), so times
never decrease along seqs and :meth:`LmdbEventLog.seq_at` is a binary search over seqs, each
probe one range lookup. Replay reads ``seq > cursor`` as a range scan in bounded batches (each
its own snapshot). :meth:`LmdbEventLog.prune` drops the oldest events beyond the retention
window (by age and by total bytes), in bounded write transactions so writers never wait long.
Other processes may open the same tables (read-only, the relay's fan-out workers): their log's
:meth:`~LmdbEventLog.wait` is woken by their own :meth:`~LmdbEventLog.notify` (a wake pipe's
reader calls it) or by its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Sequence
from typing import Final

from strato.firehose.log import (
    REPLAY_BATCH,
    Clock,
    Event,
    FrameBuilder,
    Retention,
    system_clock,
)
from strato.storage import ReadTxn, Store, WriteTxn, from_u64, u64

EVENTS: Final = "firehose_events"
META: Final = "firehose_meta"
#: The tables a store must be opened with for an :class:`LmdbEventLog`.
TABLES: Final = (EVENTS, META)
_HEAD: Final = b"head"
_BYTES: Final = b"bytes"
_TIME_BYTES: Final = 8
#: Events removed per pruning transaction.
PRUNE_BATCH: Final = 1000


class LmdbEventLog:
    """An event log in a store opened with :data:`TABLES`."""

    def __init__(
        self,
        store: Store,
        *,
        retention: Retention | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.retention = retention if retention is not None else Retention()
        self.clock = clock
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._waiters_lock = threading.Lock()

    # -- writing ------------------------------------------------------------------------------

    def append(self, txn: WriteTxn, builders: Sequence[FrameBuilder]) -> int:
        """Assign the next seqs inside the caller's write transaction (the log's counters are
        read and written once), store each builder's frame, and return the first seq (the head
        + 1 when ``builders`` is empty). The events are visible (and must be announced with
        :meth:`notify`) only once ``txn`` has committed."""
        first = _meta(txn, _HEAD) + 1
        if not builders:
            return first
        total = _meta(txn, _BYTES)
        now = self.clock()
        newest = txn.last(EVENTS)
        if newest is not None:
            now = max(now, _time(newest[1]))
        stamp = now.to_bytes(_TIME_BYTES, "big")
        for seq, build_frame in enumerate(builders, first):
            value = stamp + build_frame(seq)
            txn.append(EVENTS, u64(seq), value)
            total += len(value)
        txn.put(META, _HEAD, u64(first + len(builders) - 1))
        txn.put(META, _BYTES, u64(total))
        return first

    def remove(self, txn: WriteTxn, seqs: Iterable[int]) -> int:
        """Delete the events with these seqs inside the caller's write transaction (seqs not
        in the log are skipped) and keep the byte total right; returns how many were deleted.
        The head stays: a removed seq is never assigned again."""
        removed = 0
        freed = 0
        for seq in seqs:
            key = u64(seq)
            value = txn.get(EVENTS, key)
            if value is None:
                continue
            txn.delete(EVENTS, key)
            removed += 1
            freed += len(value)
        if freed:
            txn.put(META, _BYTES, u64(max(0, _meta(txn, _BYTES) - freed)))
        return removed

    def prune(self) -> int:
        """Remove the oldest events outside the retention window, at most :data:`PRUNE_BATCH`
        per write transaction; returns how many were removed."""
        removed = 0
        while True:
            batch = self.store.transact(self._prune_batch)
            removed += batch
            if batch < PRUNE_BATCH:
                return removed

    def _prune_batch(self, txn: WriteTxn) -> int:
        limits = self.retention
        cutoff = None
        if limits.max_age_seconds is not None:
            cutoff = self.clock() - int(limits.max_age_seconds * 1_000_000)
        total = _meta(txn, _BYTES)
        doomed: list[bytes] = []
        for key, value in txn.items(EVENTS, limit=PRUNE_BATCH):
            too_old = cutoff is not None and _time(value) < cutoff
            too_big = limits.max_bytes is not None and total > limits.max_bytes
            if not (too_old or too_big):
                break
            doomed.append(key)
            total -= len(value)
        for key in doomed:
            txn.delete(EVENTS, key)
        if doomed:
            txn.put(META, _BYTES, u64(total))
        return len(doomed)

    # -- reading ------------------------------------------------------------------------------

    def head(self, txn: ReadTxn | None = None) -> int:
        """The last seq assigned (0 before the first event), read in ``txn`` when given."""
        if txn is not None:
            return _meta(txn, _HEAD)
        with self.store.read() as snapshot:
            return _meta(snapshot, _HEAD)

    def oldest(self) -> int | None:
        """The smallest seq still in the log, or None when the log is empty."""
        with self.store.read() as txn:
            first = txn.first(EVENTS)
        return None if first is None else from_u64(first[0])

    def total_bytes(self) -> int:
        """The size of the stored values (append times and frames) now in the log."""
        with self.store.read() as txn:
            return _meta(txn, _BYTES)

    def events_after(
        self,
        cursor: int,
        *,
        upto: int | None = None,
        limit: int = REPLAY_BATCH,
        max_bytes: int | None = None,
    ) -> list[Event]:
        """The events with ``cursor < seq <= upto`` (no upper bound when ``upto`` is None), in
        seq order, read from one snapshot: at most ``limit`` of them, and none after the one
        that brings their frames to ``max_bytes``."""
        start = u64(max(cursor, 0) + 1)
        stop = None if upto is None else u64(upto + 1)
        events: list[Event] = []
        size = 0
        with self.store.read() as txn:
            for key, value in txn.items(EVENTS, start, stop, limit=limit):
                events.append(Event(from_u64(key), _time(value), value[_TIME_BYTES:]))
                size += len(value) - _TIME_BYTES
                if max_bytes is not None and size >= max_bytes:
                    break
        return events

    def time_of(self, seq: int) -> int | None:
        """When the event ``seq`` was appended (microseconds), None when it is not in the log."""
        if seq < 1:
            return None
        with self.store.read() as txn:
            value = txn.get(EVENTS, u64(seq))
        return None if value is None else _time(value)

    def seq_at(self, time_us: int) -> int | None:
        """The first event appended at or after ``time_us``, None when every event is older:
        a binary search over the seqs from the oldest to the newest (removed seqs are gaps; a
        probe takes the first event at or after its seq)."""
        with self.store.read() as txn:
            newest = txn.last(EVENTS)
            if newest is None or _time(newest[1]) < time_us:
                return None
            first = txn.first(EVENTS)
            assert first is not None
            # Every event below ``low`` is older than ``time_us``; the first event at or after
            # ``high`` is not.
            low, high = from_u64(first[0]), from_u64(newest[0])
            while low < high:
                middle = (low + high) // 2
                key, value = _first_from(txn, middle)
                if _time(value) >= time_us:
                    high = middle
                else:
                    low = from_u64(key) + 1
            return from_u64(_first_from(txn, low)[0])

    # -- waking readers -----------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every :meth:`wait` of this log in this process. Safe from any thread."""
        with self._waiters_lock:
            waiters = list(self._waiters)
        for loop, woken in waiters:
            with contextlib.suppress(RuntimeError):  # that loop closed meanwhile
                loop.call_soon_threadsafe(woken.set)

    async def wait(self, after: int, timeout: float) -> int:
        """Wait until the head is past ``after``, :meth:`notify` is called, or ``timeout``
        seconds pass; returns the head then."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        # Listed before the head is read: a notify after the read finds it.
        with self._waiters_lock:
            self._waiters.add(waiter)
        try:
            head = self.head()
            if head > after:
                return head
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # lands as the wake-up completes, and a stop() cancelling the waiter would hang.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await waiter[1].wait()
            return self.head()
        finally:
            with self._waiters_lock:
                self._waiters.discard(waiter)


def _meta(txn: ReadTxn, key: bytes) -> int:
    value = txn.get(META, key)
    return 0 if value is None else from_u64(value)


def _time(value: bytes) -> int:
    return int.from_bytes(value[:_TIME_BYTES], "big")


def _first_from(txn: ReadTxn, seq: int) -> tuple[bytes, bytes]:
    """The first event at or after ``seq`` (the caller knows there is one)."""
    return next(txn.items(EVENTS, u64(seq), limit=1))
