"""Fan-out of an event log to live subscribers, and each subscriber's replay-then-live stream.

One :class:`Broadcaster` per stream runs a pump task in the server's event loop. The writer calls
:meth:`Broadcaster.notify` (the log's :meth:`~strato.firehose.log.EventLog.notify`) after its
transaction commits, from any thread; the pump, waiting on the
:class:`~strato.firehose.log.EventLog`, then reads the new events (``seq > published``) and
hands each stored frame, the same ``bytes`` object, to every live subscription's bounded queue.
The pump's wait also ends every ``poll_interval`` seconds, so events appended by another
process (LMDB is multi-process) go out too.

A :class:`Subscription` yields frames in seq order, exactly once each:

1. replay: batches of stored events with ``last < seq <= published``, read from the log;
2. handover: when ``last == published`` it joins the live set in the same step (no ``await``
   between the check and the join, and only the pump advances ``published``), so the next event
   the pump hands out is the next one it needs;
3. live: frames from its queue; any seq at or below the last one sent is skipped (a cursor can
   be ahead of ``published`` for the moment between a commit and its notification).

A queue that fills (the consumer reads slower than events arrive) cuts the subscription: its
queue is dropped, and the stream ends with :class:`ConsumerTooSlowError`.

Each subscription carries who it serves (:class:`Peer`: an id, the remote address, the
User-Agent, when it connected) and how many frames it has sent, for an admin's consumer list
(:meth:`Broadcaster.subscriptions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Final

from strato.firehose.log import EventLog
from strato.firehose.messages import OUTDATED_CURSOR_FRAME
from strato.firehose.metrics import FirehoseMetrics

#: Frames a live subscriber may have waiting before it is cut as too slow.
DEFAULT_QUEUE_SIZE: Final = 1000
#: Seconds between polls of the log for events nobody announced (another process's writes).
DEFAULT_POLL_INTERVAL: Final = 1.0
#: A replay or pump batch stops after this many frame bytes (and at least one event).
BATCH_BYTES: Final = 4 << 20


class ConsumerTooSlowError(Exception):
    """The subscription's queue overflowed; the consumer gets a ``ConsumerTooSlow`` error."""


_ids: Final = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Peer:
    """Who a subscription serves: ``remote`` is ``address:port``, ``connected_at`` unix time."""

    remote: str = ""
    user_agent: str = ""
    connected_at: float = field(default_factory=time.time)
    id: int = field(default_factory=lambda: next(_ids))


class Subscription:
    """One subscriber's stream; iterate :meth:`frames` once. ``sent`` counts the frames its
    endpoint has sent."""

    def __init__(
        self, broadcaster: Broadcaster, last: int, *, outdated: bool, peer: Peer | None = None
    ) -> None:
        self._broadcaster = broadcaster
        self.peer = peer if peer is not None else Peer()
        self.sent = 0
        self.last = last
        self._outdated = outdated
        self._queue: deque[tuple[int, bytes]] = deque()
        self._wakeup = asyncio.Event()
        self.live = False
        self.closed = False
        self.too_slow = False
        #: Set when the subscription is cut (too slow) or the broadcaster stops.
        self.ended = asyncio.Event()

    async def frames(self) -> AsyncGenerator[bytes, None]:
        """The frames to send: an ``OutdatedCursor`` info first when the cursor was older than
        the window, then the replay, then live frames until :meth:`close` (or the broadcaster
        stops). Raises :class:`ConsumerTooSlowError` once the subscription has been cut."""
        broadcaster = self._broadcaster
        try:
            if self._outdated:
                yield OUTDATED_CURSOR_FRAME
            while not self.live:
                if self.closed:
                    return
                target = broadcaster.published
                if self.last >= target:
                    broadcaster._join(self)
                    break
                events = broadcaster.sequencer.events_after(
                    self.last, upto=target, max_bytes=BATCH_BYTES
                )
                if not events:  # pruned while we replayed: nothing left up to target
                    self.last = target
                    continue
                for event in events:
                    yield event.frame
                    self.last = event.seq
            while True:
                queue = self._queue
                while queue:
                    seq, frame = queue.popleft()
                    if seq > self.last:
                        yield frame
                        self.last = seq
                if self.too_slow:
                    raise ConsumerTooSlowError
                if self.closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
        finally:
            self.close()

    def offer(self, seq: int, frame: bytes) -> None:
        """Queue a live frame; a full queue cuts the subscription."""
        if len(self._queue) >= self._broadcaster.queue_size:
            self._queue.clear()
            self.too_slow = True
            self._broadcaster._leave(self)
            self._broadcaster.metrics.consumer_cut("ConsumerTooSlow")
            self.ended.set()
        else:
            self._queue.append((seq, frame))
        self._wakeup.set()

    def close(self) -> None:
        """Stop the stream (the consumer left, or the server stops)."""
        if not self.closed:
            self.closed = True
            self._broadcaster._leave(self)
            self.ended.set()
            self._wakeup.set()


class Broadcaster:
    """Fans out one :class:`~strato.firehose.log.EventLog`'s events. Start it in the server's
    event loop (:meth:`start`, from the app's lifespan) and :meth:`stop` it there."""

    def __init__(
        self,
        sequencer: EventLog,
        metrics: FirehoseMetrics,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self.sequencer = sequencer
        self.metrics = metrics
        self.queue_size = queue_size
        self.poll_interval = poll_interval
        #: The last seq handed to live subscribers.
        self.published = 0
        self._live: tuple[Subscription, ...] = ()
        self._all: set[Subscription] = set()
        self._pump_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the pump from the log's current head (what is already durable is replay)."""
        self.published = self.sequencer.head()
        self.metrics.head.set(self.published)
        self._pump_task = asyncio.create_task(self._pump(), name="firehose-pump")

    async def stop(self) -> None:
        """End every subscription and stop the pump."""
        for subscription in list(self._all):
            subscription.close()
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
            self._pump_task = None

    def notify(self) -> None:
        """Tell the pump new events are durable (the log wakes its waiters). Safe from any
        thread; a no-op when stopped."""
        self.sequencer.notify()

    def subscribe(self, cursor: int | None, peer: Peer | None = None) -> Subscription:
        """A subscription starting after ``cursor`` (None: live only) for ``peer``. The caller
        has checked that the cursor is not in the future; a cursor below the log's window is
        outdated."""
        if cursor is None:
            # Live from the log's head: events made durable before this subscriber came are
            # not its, even when the pump has not announced them yet.
            subscription = Subscription(self, self.sequencer.head(), outdated=False, peer=peer)
        else:
            # Replaying seq > start is the whole window (empty log: nothing, start at the head).
            oldest = self.sequencer.oldest()
            start = self.sequencer.head() if oldest is None else oldest - 1
            outdated = 0 < cursor < start
            subscription = Subscription(self, max(cursor, start), outdated=outdated, peer=peer)
        self._all.add(subscription)
        self.metrics.subscribers.set(len(self._all))
        return subscription

    @property
    def subscriber_count(self) -> int:
        return len(self._all)

    def subscriptions(self) -> list[Subscription]:
        """The open subscriptions, oldest first."""
        return sorted(self._all, key=lambda subscription: subscription.peer.id)

    # -- internals ----------------------------------------------------------------------------

    def _join(self, subscription: Subscription) -> None:
        subscription.live = True
        self._live = (*self._live, subscription)

    def _leave(self, subscription: Subscription) -> None:
        if subscription.live:
            self._live = tuple(other for other in self._live if other is not subscription)
        if subscription in self._all:
            self._all.discard(subscription)
            self.metrics.subscribers.set(len(self._all))

    async def _pump(self) -> None:
        # ``seen`` is the head the last wait returned, not ``published``: events removed past
        # ``published`` never move it, and waiting on it would not wait at all.
        seen = self.published
        while True:
            seen = await self.sequencer.wait(seen, self.poll_interval)
            self._publish_new()

    def _publish_new(self) -> None:
        """Hand every event after ``published`` to the live subscriptions, in seq order."""
        while True:
            events = self.sequencer.events_after(self.published, max_bytes=BATCH_BYTES)
            if not events:
                return
            for event in events:
                for subscription in self._live:  # a cut rebinds _live, not this tuple
                    subscription.offer(event.seq, event.frame)
                self.published = event.seq
            self.metrics.head.set(self.published)
