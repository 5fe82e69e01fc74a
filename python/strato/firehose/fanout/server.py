"""One process's ``subscribeRepos`` fan-out: take connections, upgrade them, then replay and
stream the event log through the Rust :class:`~strato._core.FanoutWriter`.

The ASGI servers give no access to a WebSocket's socket, so the fan-out answers the upgrade on
the raw socket and then hands the fd to the writer, which owns it from then on. Connections come
to it in one of two ways:

- in a service's own process (a PDS, a relay without workers), the service's HTTP server takes
  every connection and hands an upgrade to the stream's path over (:meth:`FanoutServer.adopt`,
  a :data:`~strato.service.protocol.Takeover`), head, socket and connection slot: it is held to
  the server's connection limits, and its slot is released when it closes;
- in a fan-out worker process (:mod:`.worker`), the server accepts on its own listening socket
  (:meth:`FanoutServer.start` with ``listener``), reads each request head with the event loop's
  raw socket calls, and hands a request for another path to the main process (:mod:`.handoff`),
  else 404. Its own connection limits (:mod:`strato.service.limits`) hold every connection it
  accepts: one over its caps (in all, per client address) is answered 503 and closed at its
  accept; one whose request head is not complete within the handshake timeout of its accept is
  closed; a subscriber holds its slot until it closes, a request handed over holds none here.

Then, either way:

- per-IP limit (across every fan-out process, through the consumer table): HTTP 429 before the
  upgrade; a request that is not a WebSocket upgrade: 426 (in a service's process the app
  answers it: :func:`~strato.firehose.fanout.service.stream_routes`);
- ``cursor`` not an integer from 0 to 2^63-1
  (:func:`~strato.firehose.fanout.handshake.parse_cursor`): error frame ``InvalidRequest``;
  above the log's head: ``FutureCursor``; each followed by close 1008 with the error's name
  (after the upgrade, as the reference server answers: a client reads the reason from the
  stream);
- older than the window: ``#info OutdatedCursor``, then the whole window; ``cursor=0``: the
  whole window; no cursor: live only, from the log's head when it connected; otherwise events
  with ``seq > cursor``, then live (a reconnect never sees an event twice);
- replay runs in batches under flow control (a batch is read while the writer sends the one
  before, and queued once that one is out: two batches per subscriber at most), then, its
  replay sent, the connection joins the live set in the same step as its last check, so it
  sees every seq once, in order;
- live frames go to every live connection as one broadcast per batch read from the log, tagged
  with the seq broadcast before it: one frame, the same bytes, for every subscriber;
- a live connection that falls behind is served from the log, not from memory: the writer
  demotes one whose queue is over the live bound (``live_backlog_frames``/``_bytes``) at the
  start of a broadcast and reports the tag, the last seq it was given; the connection's
  ``last`` becomes that seq and it goes back to the replay loop above, which makes it live
  again once it has caught up. So the writer holds at most the bound plus one batch for it,
  whatever its lag, and delivery stays exactly once and in order across the switch;
- a subscriber that has been demoted is cut with ``ConsumerTooSlow`` and close 1008 (counted as
  cut) once its lag (the published head minus the last seq it was given) passes
  ``max_backlog_frames``, judged at every publish (a stalled socket never drains), or when the
  retention window has moved past what it was given; from its first demotion on, even when
  live again in between. A subscriber replaying from a cursor it asked for, never live, is not
  cut for its lag: it reads at its own pace, as far back as the window goes;
- any subscriber whose socket takes no byte for ``stall_timeout`` while frames wait for it is
  cut the same way by the writer (a ``stalled`` event), so one that stops reading holds its
  queue and its connection for that long at most;
- what a client sends is read and dropped by the writer (it answers pings and close frames);
  when the server stops, every subscriber gets close 1001 after what is queued, within
  ``cut_grace``.

The pump reads new events when woken (:meth:`FanoutServer.notify`, the log's own wake-up in the
writer's process, or a wake pipe from it in a worker) and at least every ``poll_interval``
seconds, so events appended by another process go out too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from typing import Final

from strato._core import FanoutWriter
from strato.errors import EventStreamError
from strato.firehose.fanout.consumers import Consumer, ConsumerRegistry
from strato.firehose.fanout.handoff import HandoffSender
from strato.firehose.fanout.handshake import (
    CLOSE_POLICY,
    MAX_HEAD_BYTES,
    READ_CHUNK,
    SUBSCRIBE_REPOS_PATH,
    HandshakeError,
    error_response,
    head_end,
    parse_cursor,
    parse_request,
    switching_protocols,
)
from strato.firehose.fanout.metrics import FanoutMetrics
from strato.firehose.fanout.wake import drain
from strato.firehose.frames import encode_error
from strato.firehose.log import EventLog
from strato.firehose.messages import OUTDATED_CURSOR_FRAME
from strato.service.limits import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS_PER_IP,
    HEADER_TIMEOUT,
    REFUSAL,
    ConnectionGuard,
    ConnectionMetrics,
    Slot,
    connection_share,
    peer_address,
)
from strato.xrpc.ratelimit import forwarded_client

log = logging.getLogger("strato.firehose.fanout")

TOO_SLOW_FRAME: Final = encode_error("ConsumerTooSlow", "Stream consumer too slow")
#: A replay or pump batch stops after this many frame bytes (and at least one event).
BATCH_BYTES: Final = 4 << 20
#: Connections accepted per readiness callback before other work gets a turn.
_ACCEPT_BURST: Final = 64
#: What the writer may hold queued for a live subscriber at a batch boundary before demoting
#: it: about one ingest commit (up to 1,024 events, broadcast in batches of at most 500) may
#: wait there while the socket takes the one before, and 16 MiB is four batches of
#: :data:`BATCH_BYTES`. A demoted subscriber pins at most this plus one batch (~4 MB of frames
#: at the relay's ~3 KB events), however far behind it is; a healthy one is not demoted by a
#: burst, and a demotion costs only a replay from the log.
LIVE_BACKLOG_FRAMES: Final = 1000
LIVE_BACKLOG_BYTES: Final = 16 << 20
#: A subscriber whose socket takes no byte for this long while frames wait for it is cut as
#: too slow, live, demoted or replaying a cursor: what it holds (its queue, its connection) is
#: not held for longer. A reader that is merely slow takes something well within it.
STALL_TIMEOUT: Final = 60.0


@dataclass(frozen=True)
class FanoutOptions:
    """Limits of a fan-out process. ``max_per_ip`` bounds the subscribers of one address (in
    every process); ``max_backlog_frames`` is the lag, in events, after which a subscriber that
    has been live is cut with ``ConsumerTooSlow`` (the relay's ``--consumer-buffer``);
    ``live_backlog_frames`` and ``live_backlog_bytes`` bound what the writer queues to a live
    subscriber before it is demoted to replay from the log; ``stall_timeout`` is how long frames
    may wait for a subscriber whose socket takes nothing before it is cut; ``cut_grace`` how long
    a closing one may take to accept its last frames. ``handshake_timeout`` bounds the time from
    the accept (or the takeover) to the 101 sent. When the server accepts connections itself,
    the connection limits (:mod:`strato.service.limits`) hold every connection it holds, while it
    reads the request head and as a subscriber: ``max_connections`` (None: this process's share
    of its open-file limit) and ``max_connections_per_ip`` (0: no cap). Behind
    ``trusted_proxies`` reverse proxies (``--trust-proxy``) a subscriber's address, for
    ``max_per_ip`` and the consumer list, is the one they put in ``X-Forwarded-For``.
    ``server_header``: the ``Server`` header of its answers (None: none)."""

    path: str = SUBSCRIBE_REPOS_PATH
    max_per_ip: int = 16
    max_backlog_frames: int = 1000
    live_backlog_frames: int = LIVE_BACKLOG_FRAMES
    live_backlog_bytes: int = LIVE_BACKLOG_BYTES
    stall_timeout: float = STALL_TIMEOUT
    cut_grace: float = 10.0
    poll_interval: float = 1.0
    #: How often a worker publishes the frames sent to each consumer in the consumer table,
    #: where the other processes (its main process) read them.
    sent_interval: float = 1.0
    handshake_timeout: float = DEFAULT_HEADER_TIMEOUT
    server_header: str | None = None
    max_connections: int | None = None
    max_connections_per_ip: int = DEFAULT_MAX_CONNECTIONS_PER_IP
    trusted_proxies: int = 0


@dataclass(eq=False)
class _Conn:
    serial: int
    slot: Slot
    last: int
    outdated: bool
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    #: Demoted once: its lag is bounded from then on (a cursor replay's is not).
    demoted: bool = False


class FanoutServer:
    """Serves ``subscribeRepos`` from ``sequencer``: connections taken over from the process's
    HTTP server (:meth:`adopt`), or accepted on a listening socket given to :meth:`start`, whose
    limits ``connections`` counts (``handoff``: where requests for other paths go, a worker's
    main process; None: answered 404). ``publish_sent``: publish the frames sent to its
    consumers in the consumer table every ``sent_interval`` (a worker, whose consumers another
    process lists; a fan-out in the service's own process lists its live counts). :meth:`start`
    and :meth:`stop` it in the process's event loop."""

    def __init__(
        self,
        sequencer: EventLog,
        registry: ConsumerRegistry,
        metrics: FanoutMetrics,
        options: FanoutOptions | None = None,
        *,
        handoff: HandoffSender | None = None,
        connections: ConnectionMetrics | None = None,
        publish_sent: bool = False,
    ) -> None:
        self.sequencer = sequencer
        self._publishes_sent = publish_sent
        self.handoff = handoff
        self.registry = registry
        self.metrics = metrics
        self.options = options if options is not None else FanoutOptions()
        max_connections = self.options.max_connections
        #: The limits of the connections it accepts itself (those adopted count elsewhere).
        self.guard = ConnectionGuard(
            max_connections if max_connections is not None else connection_share(1),
            self.options.max_connections_per_ip,
            connections,
        )
        self.writer = FanoutWriter(
            live_backlog_frames=self.options.live_backlog_frames,
            live_backlog_bytes=self.options.live_backlog_bytes,
            stall_timeout=self.options.stall_timeout,
            close_grace=self.options.cut_grace,
            too_slow_frame=TOO_SLOW_FRAME,
        )
        #: The last seq handed to live connections.
        self.published = 0
        self._conns: dict[int, _Conn] = {}
        #: Connections whose start is past ``published``: they go live when the pump gets there.
        self._waiting: dict[int, _Conn] = {}
        #: Demoted connections replaying from the log, whose lag the pump judges.
        self._lagging: dict[int, _Conn] = {}
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: socket.socket | None = None
        self._wake_fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._sent = (0, 0)
        #: The counts last published (unchanged ones are not written again).
        self._published_sent: dict[int, int] = {}
        #: The write of the counts under way in a thread, which :meth:`stop` lets finish
        #: before it drops this process's rows.
        self._sent_write: asyncio.Future[None] | None = None
        #: Set when the wake pipe's writer (the ingest process) has gone.
        self.orphaned = asyncio.Event()

    # -- life cycle ---------------------------------------------------------------------------

    async def start(
        self, listener: socket.socket | None = None, *, wake_fd: int | None = None
    ) -> None:
        """Start pumping the log, and accepting on ``listener`` (bound and listening) when
        given; ``wake_fd``: the read end of a wake pipe."""
        loop = self._loop = asyncio.get_running_loop()
        self.published = self.sequencer.head()
        self.metrics.head.set(self.published)
        if listener is not None:
            listener.setblocking(False)
            self._listener = listener
            loop.add_reader(listener.fileno(), self._accept)
        loop.add_reader(self.writer.notify_fd, self._on_writer_events)
        if wake_fd is not None:
            self._wake_fd = wake_fd
            loop.add_reader(wake_fd, self._on_wake_pipe)
        self._pump_task = asyncio.create_task(self._pump(), name="fanout-pump")
        if self._publishes_sent:
            self._spawn(self._publish_sent_counts())

    async def stop(self) -> None:
        """Stop accepting, close every connection (1001 after what is queued, within the
        grace), and drop this process's consumer rows."""
        loop = asyncio.get_running_loop()
        self._stopping = True  # no replay starts after the tasks are gathered
        if self._listener is not None:
            loop.remove_reader(self._listener.fileno())
            self._listener = None
        if self._wake_fd is not None:
            loop.remove_reader(self._wake_fd)
            self._wake_fd = None
        tasks = [*self._tasks]
        if self._pump_task is not None:
            tasks.append(self._pump_task)
            self._pump_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._sent_write is not None:  # its failure was logged, or is moot: the rows go
            await asyncio.gather(self._sent_write, return_exceptions=True)
        await loop.run_in_executor(None, self.writer.shutdown)
        loop.remove_reader(self.writer.notify_fd)
        self._on_writer_events()
        self.registry.purge_pid(self.registry.pid)
        self._loop = None

    def notify(self) -> None:
        """Tell the pump new events are durable (the log wakes its waiters). Safe from any
        thread."""
        self.sequencer.notify()

    def consumers(self) -> list[Consumer]:
        """Every consumer in the table (of every process), those this server serves with the
        frames sent to them so far."""
        sent = {conn.serial: self.writer.sent(conn_id) for conn_id, conn in self._conns.items()}
        return [
            replace(row, events_sent=sent.get(row.serial)) if row.pid == self.registry.pid else row
            for row in self.registry.list()
        ]

    async def publish_sent(self) -> None:
        """Record the frames sent to each consumer in the consumer table, unless unchanged
        since the last time. The write runs in a thread: it waits for the table's write lock,
        which every fan-out process shares, and the event loop serves the subscribers
        meanwhile."""
        counts = ((conn.serial, self.writer.sent(conn_id)) for conn_id, conn in self._conns.items())
        # None: the writer has let the connection go (its closing is on the way).
        sent = {serial: count for serial, count in counts if count is not None}
        if sent == self._published_sent:
            return
        write = self._sent_write = asyncio.ensure_future(
            asyncio.to_thread(self.registry.record_sent, sent)
        )
        # Shielded: a stop cancelling the loop waits for the write instead (see stop).
        await asyncio.shield(write)
        self._published_sent = sent

    async def _publish_sent_counts(self) -> None:
        while True:
            await asyncio.sleep(self.options.sent_interval)
            try:
                await self.publish_sent()
            except Exception:  # a full map, say: the next round tries again
                log.warning("cannot publish the frames sent to consumers", exc_info=True)

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    @property
    def lagging_count(self) -> int:
        """Demoted subscribers being served from the log."""
        return len(self._lagging)

    # -- accepting and the handshake ----------------------------------------------------------

    def _accept(self) -> None:
        listener = self._listener
        if listener is None:
            return
        for _ in range(_ACCEPT_BURST):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:  # EMFILE and the like: log, keep serving the others
                log.warning("accept failed: %s", err)
                return
            sock.setblocking(False)
            remote = address[0] if isinstance(address, tuple) else ""
            slot = self.guard.admit(remote)
            if slot is None:  # answered without waiting: a full socket buffer drops it
                with contextlib.suppress(OSError):
                    sock.send(REFUSAL)
                sock.close()
                continue
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._spawn(self._handshake(sock, remote, slot))

    def adopt(self, sock: socket.socket, head: bytes, slot: Slot) -> None:
        """Serve the WebSocket upgrade request ``head`` that the process's HTTP server read
        from ``sock`` (a :data:`~strato.service.protocol.Takeover`); ``slot`` is released when
        the connection closes. Refused as over a cap (503) when the server is not running."""
        if self._loop is None or self._stopping:
            with contextlib.suppress(OSError):
                sock.send(REFUSAL)
            sock.close()
            slot.release()
            return
        sock.setblocking(False)
        try:
            remote = peer_address(sock.getpeername())
        except OSError:  # gone already
            sock.close()
            slot.release()
            return
        self._spawn(self._handshake(sock, remote, slot, head))

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handshake(
        self, sock: socket.socket, remote: str, slot: Slot, head: bytes = b""
    ) -> None:
        """Read the request head unless given (within the handshake timeout from the accept,
        however it trickles in) and answer the upgrade, or refuse it, or hand it to the main
        process, where it counts from then on."""
        loop = asyncio.get_running_loop()
        options = self.options
        serial: int | None = None
        refusal: EventStreamError | None = None
        try:
            try:
                async with asyncio.timeout(options.handshake_timeout):
                    if not head:
                        head = await _read_head(loop, sock)
                    request = parse_request(head[: head_end(head)], path=options.path)
                    try:
                        cursor = parse_cursor(request.query.get("cursor", [None])[-1])
                    except EventStreamError as invalid:  # refused by an error frame once open
                        cursor, refusal = None, invalid
                    client = forwarded_client(
                        remote, [request.forwarded_for], options.trusted_proxies
                    )
                    serial = self.registry.register(
                        client, cursor, max_per_ip=options.max_per_ip, user_agent=request.user_agent
                    )
                    if serial is None:
                        self.metrics.consumer_cut("ConnectionLimit")
                        raise HandshakeError(429, "RateLimitExceeded", "too many connections")
                    await loop.sock_sendall(
                        sock, switching_protocols(request.key, server=options.server_header)
                    )
            except HandshakeError as refused:
                if refused.status == 404 and self.handoff is not None:
                    slot.release()
                    self.handoff.send(sock, head)
                    return
                extra = {"Retry-After": "10"} if refused.status == 429 else None
                response = error_response(
                    refused.status,
                    refused.error,
                    refused.message,
                    server=options.server_header,
                    headers=extra,
                )
                with contextlib.suppress(OSError, TimeoutError):
                    async with asyncio.timeout(options.handshake_timeout):
                        await loop.sock_sendall(sock, response)
                raise
        except (HandshakeError, OSError, TimeoutError) as failed:
            if isinstance(failed, TimeoutError) and not head:
                self.guard.refuse(HEADER_TIMEOUT)
            if serial is not None:
                self.registry.unregister(serial)
            slot.release()
            sock.close()
            return
        except BaseException:
            if serial is not None:
                self.registry.unregister(serial)
            slot.release()
            sock.close()
            raise
        conn_id = self.writer.add(sock.detach())
        self.metrics.subscribers.inc()
        self._start_stream(conn_id, serial, slot, cursor, refusal)

    # -- streaming ----------------------------------------------------------------------------

    def _start_stream(
        self,
        conn_id: int,
        serial: int,
        slot: Slot,
        cursor: int | None,
        refusal: EventStreamError | None,
    ) -> None:
        head = self.sequencer.head()
        if refusal is None and cursor is not None and cursor > head:
            refusal = EventStreamError("FutureCursor", "Cursor in the future.")
        if refusal is not None:
            self._conns[conn_id] = _Conn(serial, slot, head, outdated=False, closed=True)
            self.metrics.consumer_cut(refusal.error)
            self.writer.send(
                conn_id, [encode_error(refusal.error, refusal.message)], notify_drained=False
            )
            self.writer.close(conn_id, CLOSE_POLICY, refusal.error)
            return
        if cursor is None:
            conn = _Conn(serial, slot, head, outdated=False)
        else:
            oldest = self.sequencer.oldest()
            start = head if oldest is None else oldest - 1
            conn = _Conn(serial, slot, max(cursor, start), outdated=0 < cursor < start)
        self._conns[conn_id] = conn
        self._spawn(self._replay(conn_id, conn))

    async def _replay(self, conn_id: int, conn: _Conn) -> None:
        if conn.outdated:
            conn.outdated = False  # said once, not again after a demotion
            await self._send(conn_id, conn, [OUTDATED_CURSOR_FRAME])
        if conn.demoted:
            # What the live stream left queued goes out before anything is read from the log
            # for it: a stalled subscriber holds no batch of its own on top of it.
            await self._send(conn_id, conn, [])
        # One batch may be with the writer while the next is read from the log: reading and
        # sending overlap, and a replaying subscriber holds two batches at most.
        queued = False
        while not conn.closed:
            target = self.published
            if conn.last >= target:
                if queued:  # live only once the replay is out: a live queue is judged
                    await self._drained(conn)
                    queued = False
                    continue
                if conn.last == target:
                    self.writer.go_live(conn_id)
                    self._lagging.pop(conn_id, None)
                else:  # a start the pump has not reached yet
                    self._waiting[conn_id] = conn
                return
            events = self.sequencer.events_after(conn.last, upto=target, max_bytes=BATCH_BYTES)
            if conn.demoted and (not events or events[0].seq > conn.last + 1) and self._lost(conn):
                self._cut(conn_id, conn)
                return
            if not events:  # pruned while we replayed: nothing left up to target
                conn.last = target
                continue
            if queued:
                await self._drained(conn)
                if conn.closed:
                    return
            conn.last = events[-1].seq
            conn.drained.clear()
            self.writer.send(conn_id, [event.frame for event in events])
            queued = True

    async def _send(self, conn_id: int, conn: _Conn, frames: list[bytes]) -> None:
        """Queue ``frames`` to one connection and wait until its queue is empty or it closed."""
        conn.drained.clear()
        self.writer.send(conn_id, frames)
        await self._drained(conn)

    @staticmethod
    async def _drained(conn: _Conn) -> None:
        """Wait until the writer has sent everything queued to ``conn``, or it closed."""
        if not conn.closed:  # a connection closed already sets ``drained`` no more
            await conn.drained.wait()

    async def _pump(self) -> None:
        # ``seen`` is the head the last wait returned, not ``published``: events removed past
        # ``published`` never move it, and waiting on it would not wait at all.
        seen = self.published
        while True:
            seen = await self.sequencer.wait(seen, self.options.poll_interval)
            self._publish_new()
            self._cut_laggards()
            self._count_sent()

    def _publish_new(self) -> None:
        """Broadcast every event after ``published``, in seq order, batch by batch."""
        writer = self.writer
        while True:
            events = self.sequencer.events_after(self.published, max_bytes=BATCH_BYTES)
            if not events:
                return
            writer.broadcast([event.frame for event in events], self.published)
            newest = events[-1].seq
            for conn_id, conn in list(self._waiting.items()):
                if conn.last <= newest:
                    tail = [event.frame for event in events if event.seq > conn.last]
                    if tail:
                        writer.send(conn_id, tail, notify_drained=False)
                    writer.go_live(conn_id)
                    conn.last = newest
                    del self._waiting[conn_id]
            self.published = newest
            self.metrics.head.set(newest)

    def _cut_laggards(self) -> None:
        """Cut the demoted connections whose lag has passed the bound."""
        for conn_id, conn in list(self._lagging.items()):
            if self.published - conn.last > self.options.max_backlog_frames:
                self._cut(conn_id, conn)

    def _lost(self, conn: _Conn) -> bool:
        """Whether retention has pruned events after the last one ``conn`` was given."""
        oldest = self.sequencer.oldest()
        return oldest is None or oldest > conn.last + 1

    def _cut(self, conn_id: int, conn: _Conn) -> None:
        """End a connection as too slow (the writer sends the error frame and close 1008)."""
        self._cut_off(conn_id, conn)
        self.writer.cut(conn_id)

    def _cut_off(self, conn_id: int, conn: _Conn) -> None:
        """Count a connection cut as too slow and stop serving it."""
        conn.closed = True
        conn.drained.set()  # its replay stops
        self._lagging.pop(conn_id, None)
        self.metrics.consumer_cut("ConsumerTooSlow")

    def _demote(self, conn_id: int, conn: _Conn, given: int) -> None:
        """The writer took ``conn`` out of the live set having given it every event up to
        ``given``: serve it the rest from the log."""
        if conn.closed or self._stopping:
            return
        self.metrics.consumers_lagging.inc()
        conn.last = given
        conn.demoted = True
        self._lagging[conn_id] = conn
        self._spawn(self._replay(conn_id, conn))

    def _on_wake_pipe(self) -> None:
        fd = self._wake_fd
        if fd is None:
            return
        if not drain(fd):
            assert self._loop is not None
            self._loop.remove_reader(fd)
            self._wake_fd = None
            self.orphaned.set()
        self.sequencer.notify()

    def _on_writer_events(self) -> None:
        for kind, conn_id, reason, tag in self.writer.take_events():
            conn = self._conns.get(conn_id)
            if conn is None:
                continue
            if kind == "drained":
                conn.drained.set()
            elif kind == "lagging":
                self._demote(conn_id, conn, tag)
            elif kind == "stalled":  # the writer cuts it
                self._cut_off(conn_id, conn)
            elif kind == "closed":
                del self._conns[conn_id]
                self._waiting.pop(conn_id, None)
                self._lagging.pop(conn_id, None)
                conn.closed = True
                conn.drained.set()
                self.registry.unregister(conn.serial)
                conn.slot.release()
                self.metrics.subscribers.dec()
                log.debug("consumer %d closed (%s)", conn_id, reason)
        self._count_sent()

    def _count_sent(self) -> None:
        frames, sent_bytes, _, _, queued_bytes = self.writer.stats()
        self.metrics.queued_bytes.set(queued_bytes)
        before_frames, before_bytes = self._sent
        if frames > before_frames:
            self.metrics.frames_sent.inc(frames - before_frames)
        if sent_bytes > before_bytes:
            self.metrics.bytes_sent.inc(sent_bytes - before_bytes)
        self._sent = (frames, sent_bytes)


async def _read_head(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    buffer = bytearray()
    while True:
        chunk = await loop.sock_recv(sock, READ_CHUNK)
        if not chunk:
            raise ConnectionResetError("closed during the handshake")
        buffer += chunk
        if head_end(buffer) >= 0:
            # Everything read, not just the head: a request handed to the main process may
            # have brought the start of its body along.
            return bytes(buffer)
        if len(buffer) > MAX_HEAD_BYTES:
            raise HandshakeError(431, "InvalidRequest", "request head too large")
