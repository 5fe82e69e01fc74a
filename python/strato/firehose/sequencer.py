"""The event log of a stream with backfill: sequence numbers, the stored frames, replay from a
cursor and the retention window, in LMDB tables of the service's own store.

A service opens its :class:`~strato.storage.Store` with :data:`TABLES` among its tables, so an
event is written in the same transaction as the change it reports::

    store = Store.open(path, name="pds", schema_version=1, tables=(*REPO_TABLES, *TABLES))
    sequencer = Sequencer(store)
    with store.write() as txn:
        ...                                            # the commit's blocks and indexes
        seq = sequencer.append(txn, lambda seq: encode_message("#commit", {"seq": seq, ...}))
    broadcaster.notify()                               # after the commit: now it is durable

- ``firehose_events``: ``u64(seq)`` -> 8-byte big-endian append time (microseconds since the
  epoch) + the exact frame bytes to send.
- ``firehose_meta``: ``head`` (the last seq ever assigned, so a seq is never reused even when
  retention has emptied the log) and ``bytes`` (the total size of the stored values).

Seqs start at 1 and grow by one per committed append; an aborted transaction assigns nothing.
Replay reads ``seq > cursor`` as a range scan in bounded batches (each its own snapshot).
:meth:`Sequencer.prune` drops the oldest events beyond the retention window (by age and by total
bytes), in bounded write transactions so writers never wait long. :meth:`Sequencer.remove`
deletes chosen events (a relay purging a taken-down account's events from replay); their seqs
are never reused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from strato.storage import ReadTxn, Store, WriteTxn, from_u64, u64

EVENTS: Final = "firehose_events"
META: Final = "firehose_meta"
#: The tables a store must be opened with for a :class:`Sequencer`.
TABLES: Final = (EVENTS, META)
_HEAD: Final = b"head"
_BYTES: Final = b"bytes"
_TIME_BYTES: Final = 8

#: Default retention: three days of events, at most 8 GiB of frames.
DEFAULT_MAX_AGE_SECONDS: Final = 72 * 3600
DEFAULT_MAX_BYTES: Final = 8 << 30
#: Events removed per pruning transaction, and events read per replay batch.
PRUNE_BATCH: Final = 1000
REPLAY_BATCH: Final = 500

Clock = Callable[[], int]


def system_clock() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class Retention:
    """How much of the log is kept: events younger than ``max_age_seconds`` and, of those, the
    newest that fit in ``max_bytes``. None means no limit of that kind."""

    max_age_seconds: float | None = DEFAULT_MAX_AGE_SECONDS
    max_bytes: int | None = DEFAULT_MAX_BYTES


@dataclass(frozen=True, slots=True)
class Event:
    """A stored event: its seq, when it was appended (microseconds) and its frame bytes."""

    seq: int
    time_us: int
    frame: bytes


class Sequencer:
    """Assigns seqs and stores frames in a store opened with :data:`TABLES`."""

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

    # -- writing ------------------------------------------------------------------------------

    def append(self, txn: WriteTxn, build_frame: Callable[[int], bytes]) -> int:
        """Assign the next seq inside the caller's write transaction, store the frame that
        ``build_frame(seq)`` returns, and return the seq. The event is visible (and must be
        announced to the broadcaster) only once ``txn`` has committed."""
        return self.append_many(txn, (build_frame,))

    def append_many(self, txn: WriteTxn, builders: Sequence[Callable[[int], bytes]]) -> int:
        """:meth:`append` for several events in order (the log's counters are read and written
        once); returns the first seq assigned (the head + 1 when ``builders`` is empty)."""
        first = _meta(txn, _HEAD) + 1
        if not builders:
            return first
        total = _meta(txn, _BYTES)
        stamp = self.clock().to_bytes(_TIME_BYTES, "big")
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
            too_old = cutoff is not None and int.from_bytes(value[:_TIME_BYTES], "big") < cutoff
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
        """The last seq assigned (0 before the first event)."""
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
                time_us = int.from_bytes(value[:_TIME_BYTES], "big")
                events.append(Event(from_u64(key), time_us, value[_TIME_BYTES:]))
                size += len(value) - _TIME_BYTES
                if max_bytes is not None and size >= max_bytes:
                    break
        return events


def _meta(txn: ReadTxn, key: bytes) -> int:
    value = txn.get(META, key)
    return 0 if value is None else from_u64(value)
