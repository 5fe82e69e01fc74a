"""The event log of a stream with backfill, as one interface: :class:`EventLog`.

Every service that writes or serves a stream types it :class:`EventLog`; only where a service
is assembled (its context, a fan-out worker, a command) is a backend built.
:class:`~strato.firehose.lmdb_log.LmdbEventLog`, in LMDB tables of the service's own store, is
the embedded default. What every backend keeps (``tests/firehose/test_event_log_contract.py``
holds each to it):

- **append** (:meth:`EventLog.append`): a batch of events inside the caller's write
  transaction, so an event commits atomically with the change it reports, and its frame is
  built once its seq is known (the seq is inside the frame's bytes). Seqs start at 1 and grow by
  one per event; an aborted transaction assigns nothing; a seq is never assigned twice, even
  after its event is pruned or removed. Each event is stamped with its append time, and times
  never decrease along seqs.
- **read**: :meth:`~EventLog.events_after` a cursor, in seq order, in bounded batches, each from
  one snapshot; :meth:`~EventLog.head` (the last seq assigned) and :meth:`~EventLog.oldest`
  (the first still kept); :meth:`~EventLog.time_of` an event and :meth:`~EventLog.seq_at` a
  time (the first event at or after it, a binary search since times never decrease): a
  time-based cursor, as Jetstream takes, is a seq cursor.
- **wait** (:meth:`~EventLog.wait`): until the head passes a seq, woken by
  :meth:`~EventLog.notify`, which whoever commits events calls after the commit (from any
  thread), or at a timeout, so events another process appended are seen within it. A reader in
  another process than the writer (the relay's fan-out workers) is woken by what carries the
  writer's wake-ups there, a pipe whose reader calls :meth:`~EventLog.notify` on its own log.
- **retention** (:meth:`~EventLog.prune`): the events older than :attr:`Retention.max_age_seconds`
  and, of the rest, the oldest beyond :attr:`Retention.max_bytes` go, in bounded steps.
- **removal** (:meth:`~EventLog.remove`): chosen events go (a relay's takedown purge). The
  interface takes seqs, not a DID: the log holds opaque frames and knows no account; the one
  caller that purges (the relay) indexes each account's events in the transaction that
  appends them anyway (its admin API lists them), so a second index inside the log, written on
  every append of every service, would serve only that rare path.

**A NATS JetStream backend** maps onto this interface as follows, so that it can be added as a
setting without changing a caller.

- *Append, a transactional outbox.* The caller's transaction is the service's LMDB one, so
  :meth:`~EventLog.append` writes the frames there, into an outbox table under seqs from the
  outbox's own head: the event commits with its change, or neither does. After the commit,
  :meth:`~EventLog.notify` wakes a publisher task that publishes the outbox in seq order, one
  stream per log, and deletes each entry once the server has acknowledged it (``PubAck``).
- *Seq.* Our seq is the JetStream stream sequence: event n is published with
  ``Nats-Expected-Last-Sequence: n-1`` (the server stores it as sequence n or refuses it, so the
  two never drift) and ``Nats-Msg-Id`` naming the log and n (a publish repeated after a crash
  is dropped as a duplicate within the stream's duplicate window, or refused by the expected
  sequence and then confirmed by reading sequence n back). The log assigns the seq, rather
  than taking it from the ``PubAck``, because the frame carries it and is written inside the
  caller's transaction, before anything can be published.
- *Retention.* The stream's ``MaxAge`` and ``MaxBytes`` (``Discard: old``, limits retention)
  are :class:`Retention`'s: the server prunes, :meth:`~EventLog.prune` has nothing to do, and
  :meth:`~EventLog.total_bytes` is the stream's byte count (the server's message sizes, which
  include subject and headers). :meth:`~EventLog.oldest` and :meth:`~EventLog.head` are the
  stream state's first and last sequence (the outbox's head while it is ahead).
- *Removal of one account's events.* :meth:`~EventLog.remove` writes the seqs to the outbox,
  after the events before them; the publisher deletes each message by sequence
  (``$JS.API.STREAM.MSG.DELETE``, ``no_erase``), which is idempotent, so a replay after a crash
  is safe. (A DID-keyed interface could instead publish on a subject per account and purge by
  subject filter up to a sequence, ``$JS.API.STREAM.PURGE`` with ``filter`` and ``seq``; see
  above for why the interface takes seqs.)
- *Reading.* :meth:`~EventLog.events_after` is an ordered consumer (ephemeral, flow
  controlled, delivered in order, recreated from the last sequence seen after a gap) with
  ``DeliverPolicy: by_start_sequence``, ``opt_start_seq`` the cursor + 1, read in batches
  bounded by count and bytes; entries still in the outbox fill in what the stream has not
  acknowledged yet, so a reader sees no gap. :meth:`~EventLog.wait` listens to the stream's
  subjects, so it wakes in any process. ``DeliverPolicy: by_start_time`` starts at a time by
  the server's own timestamp, which may step back when the stream's leader changes; to keep
  times non-decreasing along seqs the backend stamps each event in a header of its own and
  answers :meth:`~EventLog.seq_at` by a binary search over direct gets by sequence
  (``$JS.API.STREAM.MSG.GET``), then reads from that sequence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from strato.storage import WriteTxn

#: What the log appends: the frame of an event, given the seq assigned to it.
FrameBuilder = Callable[[int], bytes]
#: A clock: microseconds since the epoch.
Clock = Callable[[], int]

#: Default retention: three days of events, at most 8 GiB of frames.
DEFAULT_MAX_AGE_SECONDS: Final = 72 * 3600
DEFAULT_MAX_BYTES: Final = 8 << 30
#: Events read per replay batch.
REPLAY_BATCH: Final = 500


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


class EventLog(Protocol):
    """A stream's event log; see the module for what every implementation keeps."""

    @property
    def retention(self) -> Retention:
        """The window :meth:`prune` keeps."""
        ...

    def append(self, txn: WriteTxn, builders: Sequence[FrameBuilder]) -> int:
        """Assign the next seqs inside the caller's write transaction, in order, store the
        frame each builder returns for its seq, and return the first seq (the head + 1 when
        ``builders`` is empty). The events exist for readers once ``txn`` has committed; then
        call :meth:`notify`."""
        ...

    def remove(self, txn: WriteTxn, seqs: Iterable[int]) -> int:
        """Delete the events with these seqs inside the caller's write transaction (seqs not in
        the log are skipped); returns how many were deleted. The head stays."""
        ...

    def prune(self) -> int:
        """Apply the retention window, in bounded steps of their own; returns how many events
        went."""
        ...

    def head(self) -> int:
        """The last seq assigned (0 before the first event)."""
        ...

    def oldest(self) -> int | None:
        """The smallest seq still in the log, or None when the log is empty."""
        ...

    def total_bytes(self) -> int:
        """The size of what the log holds now (the measure :attr:`Retention.max_bytes`
        bounds)."""
        ...

    def events_after(
        self,
        cursor: int,
        *,
        upto: int | None = None,
        limit: int = REPLAY_BATCH,
        max_bytes: int | None = None,
    ) -> list[Event]:
        """The events with ``cursor < seq <= upto`` (no upper bound when ``upto`` is None), in
        seq order, from one snapshot: at most ``limit`` of them, and none after the one that
        brings their frames to ``max_bytes``."""
        ...

    def time_of(self, seq: int) -> int | None:
        """When the event ``seq`` was appended (microseconds), or None when it is not in the
        log."""
        ...

    def seq_at(self, time_us: int) -> int | None:
        """The first event in the log appended at or after ``time_us``, or None when every
        event is older (or the log is empty)."""
        ...

    def notify(self) -> None:
        """New events are durable: wake every :meth:`wait` of this log in this process. Safe
        from any thread."""
        ...

    async def wait(self, after: int, timeout: float) -> int:
        """Wait in the running event loop until the head is past ``after``, :meth:`notify` is
        called, or ``timeout`` seconds pass, whichever comes first; returns the head then."""
        ...
