"""One upstream subscriber of an event stream (``subscribeRepos`` on a PDS or relay):
:class:`StreamClient`. The relay's crawler reads its raw frames into the ingest pipeline;
``strato firehose tail`` reads its decoded view.

::

    client = StreamClient(url, cursor=store, connector=..., hooks=...)
    async with contextlib.aclosing(client.raw_frames()) as frames:  # closes the socket on break
        async for data in frames:       # the bytes received, never re-encoded
            await handle(data)          # which commits the frame's seq to ``store``

    client = StreamClient(url, cursor=0)
    async with contextlib.aclosing(client.frames()) as frames:      # decoded
        async for frame in frames:
            print(frame.t, frame.body)  # client.last_seq is the last seq yielded

What the client owns:

- **The cursor.** Every connection asks for ``?cursor=N`` (none: join live), N the higher of
  what the :class:`CursorStore` holds, read at every connection, and :attr:`StreamClient.position`
  (the last seq the decoded view yielded; past an oversized frame). A store that the handler
  commits in the same transaction as the frame's effects (the relay's host row; an indexer's
  own table) resumes exactly after what is durable: no gap, and no duplicate of what was
  committed. :class:`MemoryCursor` keeps it in memory.
- **Connecting**, through a :data:`Connector` (:func:`websocket_connector` by default; the
  relay's connects to an address it checked under its network policy, with its own headers).
- **The frame cap**: the connector gives the socket ``max_size``, a larger frame ends the
  connection (``frame_too_big``) and the next one resumes past it: after the seq that follows
  the last frame received (the cursor, when none came first). No seq lies between that frame
  and the oversized one, so what is skipped is the oversized frame or a seq that does not
  exist; a stream with gaps takes one connection per missing seq to get past it.
- **Error frames** end the connection with :class:`~strato.errors.EventStreamError`
  (``future_cursor`` for ``FutureCursor``, else ``upstream_error``); text messages with
  ``text_frame``; a connection lost with ``connection_lost``.
- **Backoff** (:class:`Backoff`): the wait before each new connection doubles, jittered, after
  every connection that could not be opened or ended (with an error, or closed by the server)
  before it had been up ``healthy_after`` seconds, so a server that sends one bad frame and
  hangs up is not redialled several times a second; only a connection that stayed up that
  long resets it.
- **Hooks** (:class:`StreamHooks`) for what the caller decides: whether to go on before each
  connection, checks of the handshake answer (:class:`StreamRefusedError` ends the subscription),
  a wait before each frame (rate limits; or a pause: the connection closes and the next one
  resumes from the cursor), and the wait after each ending (status changes, longer waits).

With ``reconnect`` (the default) the client reconnects after every ending except an error
frame outside ``retry_errors``, which is raised (``None``: every one is retried); without it
the error that ended the connection is raised, and a normal close ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.frames import CloseCode

from strato.errors import EventStreamError, FrameError
from strato.firehose.frames import ERROR_HEADER, MAX_FRAME_BYTES, Frame, decode_frame

logger = logging.getLogger("strato.firehose.consumer")

#: Error frames after which a new connection may succeed (the default ``retry_errors``).
RETRYABLE_ERRORS: Final = frozenset({"ConsumerTooSlow"})

#: Opens a websocket to a URL (the cursor in it), frames capped at the given ``max_size``.
#: It raises what ``websockets`` raises, :class:`ConnectError`, or :class:`StreamRefusedError`.
Connector = Callable[[str, int], Awaitable[ClientConnection]]


class CursorStore(Protocol):
    """Where a subscriber's cursor lives: the seq of the last event it has handled."""

    async def load(self) -> int | None:
        """The seq to resume after (None: join the stream live); read before each connection."""
        ...


class MemoryCursor:
    """A cursor kept in memory: the handler commits each seq it is done with."""

    def __init__(self, seq: int | None = None) -> None:
        self.seq = seq

    async def load(self) -> int | None:
        return self.seq

    def commit(self, seq: int) -> None:
        if self.seq is None or seq > self.seq:
            self.seq = seq


class StreamRefusedError(Exception):
    """Raised by a connector or a hook: the stream is not to be read; the subscription ends
    (``reason`` names why, as the metrics count it)."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message


class ConnectError(Exception):
    """Raised by a connector: no connection was opened, for ``reason`` (counted as a failed
    connection, as ``connect_failed`` is)."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message


@dataclass
class Ending:
    """How one connection, or an attempt to open one, ended: ``reason`` (None: the server
    closed the stream normally, or the hooks paused it), the ``error`` behind it, when it
    opened (None: it did not), ``paused`` (closed by :meth:`StreamHooks.admit` to wait) and
    ``final`` (:class:`StreamRefusedError`: no next connection)."""

    reason: str | None = None
    error: Exception | None = None
    opened_at: float | None = None
    paused: bool = False
    final: bool = False

    @property
    def opened(self) -> bool:
        return self.opened_at is not None

    def healthy(self, healthy_after: float) -> bool:
        """Whether the connection stayed up ``healthy_after`` seconds."""
        return self.opened_at is not None and time.monotonic() - self.opened_at >= healthy_after


@dataclass
class Backoff:
    """The wait before the next connection: a short jitter (up to ``min_delay``) after a
    connection that stayed up ``healthy_after`` seconds, else doubling from ``min_delay`` up to
    ``max_delay`` with each connection in a row that failed or ended early, jittered (a half to
    the whole of it, so each wait is at least the one before until the cap)."""

    min_delay: float = 0.5
    max_delay: float = 30.0
    healthy_after: float = 30.0
    #: Connections in a row that failed or ended before they were healthy.
    failures: int = 0

    def next(self, ending: Ending) -> float:
        """The wait after ``ending`` (none after a pause, which is not a failure)."""
        if ending.healthy(self.healthy_after):
            self.failures = 0
        elif not ending.paused:
            self.failures += 1
        if ending.paused:
            return 0.0
        if self.failures == 0:
            return random.uniform(0, self.min_delay)
        delay = self.min_delay * 2.0 ** min(self.failures - 1, 32)
        return min(self.max_delay, delay) * random.uniform(0.5, 1.0)


class StreamHooks:
    """What the caller decides about a subscription; this base goes on always, admits every
    frame at once and waits the backoff."""

    async def connecting(self) -> bool:
        """Before each connection (before the cursor is loaded): False ends the subscription."""
        return True

    async def opened(self, websocket: ClientConnection) -> None:
        """A connection is open (the handshake answer in ``websocket.response``); raise
        :class:`StreamRefusedError` to close it and end the subscription."""

    async def admit(self) -> bool:
        """Before each frame is handed on; may wait (rate limits). False closes the connection
        without handing the frame on (a paused :class:`Ending`): :meth:`closed` may wait, and
        the next connection resumes from the cursor."""
        return True

    async def closed(self, ending: Ending, backoff: float) -> float:
        """After each connection or attempt: the wait before the next one, ``backoff`` being
        the client's (0 after a pause)."""
        return backoff


def websocket_connector(*, open_timeout: float = 10.0, max_queue: int = 16) -> Connector:
    """A plain websocket connect (no compression: frames are passed on as received)."""

    async def open_websocket(url: str, max_size: int) -> ClientConnection:
        return await connect(
            url,
            max_size=max_size,
            max_queue=max_queue,
            open_timeout=open_timeout,
            compression=None,
        )

    return open_websocket


class StreamClient:
    """A reconnecting subscriber to one stream URL (``ws://`` or ``wss://``, with the path of
    the subscription; a ``cursor`` in the URL is replaced). ``cursor`` is a
    :class:`CursorStore` or a starting seq (kept in a :class:`MemoryCursor`)."""

    def __init__(
        self,
        url: str,
        *,
        cursor: CursorStore | int | None = None,
        connector: Connector | None = None,
        hooks: StreamHooks | None = None,
        backoff: Backoff | None = None,
        reconnect: bool = True,
        retry_errors: frozenset[str] | None = RETRYABLE_ERRORS,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self.url = url
        self.store: CursorStore = (
            MemoryCursor(cursor) if cursor is None or isinstance(cursor, int) else cursor
        )
        self.connector = connector or websocket_connector()
        self.hooks = hooks or StreamHooks()
        self.backoff = backoff or Backoff()
        self.reconnect = reconnect
        self.retry_errors = retry_errors
        self.max_frame_bytes = max_frame_bytes
        #: The seq the client itself resumes after: the last the decoded view yielded, or past
        #: an oversized frame (the next connection's cursor when above the store's).
        self.position: int | None = None
        #: Connections opened, and connections that ended in an error (for logs and tests).
        self.connections = 0
        self.failures = 0
        self._drop: tuple[str, Exception] | None = None

    @property
    def last_seq(self) -> int | None:
        """The cursor of the current (or next) connection, advanced by the decoded view."""
        return self.position

    def connect_url(self, cursor: int | None) -> str:
        """:attr:`url` with ``cursor`` (none when None)."""
        parts = urlsplit(self.url)
        query = [part for part in parts.query.split("&") if part and not part.startswith("cursor=")]
        if cursor is not None:
            query.append(urlencode({"cursor": cursor}))
        return urlunsplit(parts._replace(query="&".join(query)))

    def drop_connection(self, reason: str, error: Exception) -> None:
        """End the connection before the next frame is read (the frame just yielded could not
        be handled): the next connection resumes from the cursor after the backoff, or, without
        ``reconnect``, ``error`` is raised."""
        self._drop = (reason, error)

    async def raw_frames(self) -> AsyncGenerator[bytes, None]:
        """Every frame but error frames, as the bytes received, across connections, until the
        subscription ends."""
        while True:
            if not await self.hooks.connecting():
                return
            stored = await self.store.load()
            if stored is not None and (self.position is None or stored > self.position):
                self.position = stored
            ending = Ending()
            self._drop = None
            try:
                websocket = await self._open(self.connect_url(self.position), ending)
                if websocket is not None:
                    async with websocket:
                        ending.opened_at = time.monotonic()
                        self.connections += 1
                        await self.hooks.opened(websocket)
                        async with contextlib.aclosing(self._read(websocket, ending)) as frames:
                            async for data in frames:
                                yield data
            except StreamRefusedError as err:
                ending.reason, ending.error, ending.final = err.reason, err, True
            except EventStreamError as err:
                ending.reason, ending.error = _error_reason(err), err
            except FrameError as err:  # an error frame that breaks the rules
                ending.reason, ending.error = "upstream_error", err
            except Exception as err:  # a bug in a hook: never the end of the subscription
                logger.exception("reading %s failed", self.url)
                ending.reason, ending.error = "internal_error", err
            if ending.reason is not None:
                self.failures += 1
            delay = await self.hooks.closed(ending, self.backoff.next(ending))
            if ending.final:
                return
            if self._gives_up(ending):
                if ending.error is None:
                    return
                raise ending.error
            await asyncio.sleep(delay)

    async def frames(self) -> AsyncGenerator[Frame, None]:
        """Message frames decoded (strictly), in stream order, across connections. Unknown
        ``op`` values are skipped (the spec says so); message types are passed through. A
        malformed frame or a ``seq`` that does not increase ends the connection (``bad_frame``).
        """
        async with contextlib.aclosing(self.raw_frames()) as raw:
            async for data in raw:
                try:
                    frame = decode_frame(data, max_bytes=self.max_frame_bytes)
                    if frame.is_error:  # an error header not in its canonical form
                        raise EventStreamError(frame.body["error"], frame.body.get("message", ""))
                    seq = frame.seq if frame.is_message else None
                    if seq is not None and self.position is not None and seq <= self.position:
                        raise FrameError(f"seq {seq} after {self.position}: not increasing")
                except EventStreamError as err:
                    self.drop_connection(_error_reason(err), err)
                    continue
                except FrameError as err:
                    self.drop_connection("bad_frame", err)
                    continue
                if not frame.is_message:
                    continue
                if seq is not None:
                    self.position = seq
                yield frame

    async def _open(self, url: str, ending: Ending) -> ClientConnection | None:
        """The connection (None when it could not be opened: the reason is in ``ending``)."""
        try:
            return await self.connector(url, self.max_frame_bytes)
        except ConnectError as err:
            ending.reason, ending.error = err.reason, err
        except (OSError, TimeoutError, WebSocketException) as err:
            ending.reason, ending.error = "connect_failed", err
        return None

    async def _read(
        self, websocket: ClientConnection, ending: Ending
    ) -> AsyncGenerator[bytes, None]:
        cursor = self.position
        last: bytes | None = None
        try:
            async for data in websocket:
                if isinstance(data, str):
                    ending.reason = "text_frame"
                    ending.error = FrameError("text message on a binary stream")
                    return
                if data.startswith(ERROR_HEADER):
                    body = decode_frame(data, max_bytes=self.max_frame_bytes).body
                    raise EventStreamError(str(body["error"]), str(body.get("message", "")))
                if not await self.hooks.admit():
                    ending.paused = True
                    return
                last = data
                yield data
                if self._drop is not None:
                    (ending.reason, ending.error), self._drop = self._drop, None
                    return
        except ConnectionClosed as closed:
            if closed.sent is not None and closed.sent.code == CloseCode.MESSAGE_TOO_BIG:
                ending.reason, ending.error = "frame_too_big", closed
                self._skip_oversized(last, cursor)
            else:
                ending.reason, ending.error = "connection_lost", closed

    def _skip_oversized(self, last: bytes | None, cursor: int | None) -> None:
        """Resume past the seq that follows the last frame received (the cursor, when none
        came first)."""
        after = cursor
        if last is not None:
            with contextlib.suppress(FrameError):
                seq = decode_frame(last, max_bytes=self.max_frame_bytes).seq
                if seq is not None:
                    after = seq
        if after is not None and after >= 0:
            self.position = max(after + 1, self.position or 0)

    def _gives_up(self, ending: Ending) -> bool:
        if not self.reconnect:
            return True
        error = ending.error
        return (
            isinstance(error, EventStreamError)
            and self.retry_errors is not None
            and error.error not in self.retry_errors
        )


def _error_reason(err: EventStreamError) -> str:
    """The ending reason of an error frame."""
    return "future_cursor" if err.error == "FutureCursor" else "upstream_error"


__all__ = [
    "RETRYABLE_ERRORS",
    "Backoff",
    "ConnectError",
    "Connector",
    "CursorStore",
    "Ending",
    "MemoryCursor",
    "StreamClient",
    "StreamHooks",
    "StreamRefusedError",
    "websocket_connector",
]
