"""A client of an event stream (``subscribeRepos`` on a PDS or relay): connect with a cursor,
yield decoded frames, reconnect with backoff from the last seq seen.

::

    client = StreamClient("ws://localhost:2583/xrpc/com.atproto.sync.subscribeRepos", cursor=0)
    async with contextlib.aclosing(client.frames()) as frames:   # closes the socket on break
        async for frame in frames:
            handle(frame.t, frame.body)       # client.last_seq is the last seq yielded

Rules (the event-stream spec): frames are decoded strictly
(:func:`~strato.firehose.frames.decode_frame`); unknown ``op`` values are skipped; message types
are passed through (the caller ignores what it does not know). A malformed frame, a text
message, or a ``seq`` that does not increase drops the connection; an error frame ends it with
:class:`~strato.errors.EventStreamError`. With ``reconnect`` (the default) dropped connections
and ``ConsumerTooSlow`` are followed by a new connection from :attr:`StreamClient.last_seq`
after an exponential backoff; ``FutureCursor`` and other error frames are raised. Without
``reconnect`` every failure is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator
from typing import Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK, WebSocketException

from strato.errors import EventStreamError, FrameError
from strato.firehose.frames import MAX_FRAME_BYTES, Frame, decode_frame

#: Error frames after which a new connection may succeed.
RETRYABLE_ERRORS: Final = frozenset({"ConsumerTooSlow"})


class StreamClient:
    """A reconnecting subscriber to one stream URL (``ws://`` or ``wss://``, with the path of
    the subscription; a ``cursor`` in the URL is replaced)."""

    def __init__(
        self,
        url: str,
        *,
        cursor: int | None = None,
        reconnect: bool = True,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        open_timeout: float = 10.0,
        max_queue: int = 16,
    ) -> None:
        self.url = url
        #: The seq of the last frame yielded (the cursor of the next connection).
        self.last_seq = cursor
        self.reconnect = reconnect
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.max_frame_bytes = max_frame_bytes
        self.open_timeout = open_timeout
        self.max_queue = max_queue
        #: Connections opened, and connections that ended in an error (for logs and tests).
        self.connections = 0
        self.failures = 0

    def connect_url(self) -> str:
        """The URL of the next connection: :attr:`url` with ``cursor=last_seq`` when set."""
        parts = urlsplit(self.url)
        query = [part for part in parts.query.split("&") if part and not part.startswith("cursor=")]
        if self.last_seq is not None:
            query.append(urlencode({"cursor": self.last_seq}))
        return urlunsplit(parts._replace(query="&".join(query)))

    async def frames(self) -> AsyncGenerator[Frame, None]:
        """Message frames in stream order, across reconnections, until the server closes the
        stream normally (or forever, with ``reconnect``)."""
        attempt = 0
        while True:
            try:
                # Closed explicitly, so a consumer that stops early closes the socket now.
                async with contextlib.aclosing(self._connection()) as connection:
                    async for frame in connection:
                        attempt = 0
                        yield frame
                if not self.reconnect:
                    return
            except EventStreamError as err:
                if not (self.reconnect and err.error in RETRYABLE_ERRORS):
                    raise
                self.failures += 1
            except (FrameError, WebSocketException, OSError, TimeoutError):
                if not self.reconnect:
                    raise
                self.failures += 1
            attempt += 1
            delay = min(self.max_backoff, self.min_backoff * 2 ** (attempt - 1))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter

    async def _connection(self) -> AsyncGenerator[Frame, None]:
        async with connect(
            self.connect_url(),
            max_size=self.max_frame_bytes,
            max_queue=self.max_queue,
            open_timeout=self.open_timeout,
            compression=None,
        ) as websocket:
            self.connections += 1
            try:
                async for data in websocket:
                    if isinstance(data, str):
                        raise FrameError("text message on a binary stream")
                    frame = decode_frame(data, max_bytes=self.max_frame_bytes)
                    if frame.is_error:
                        raise EventStreamError(frame.body["error"], frame.body.get("message", ""))
                    if not frame.is_message:
                        continue  # unknown op: skipped, as the spec says
                    seq = frame.seq
                    if seq is not None:
                        if self.last_seq is not None and seq <= self.last_seq:
                            raise FrameError(f"seq {seq} after {self.last_seq}: not increasing")
                        self.last_seq = seq
                    yield frame
            except ConnectionClosedOK:
                return


__all__ = ["RETRYABLE_ERRORS", "StreamClient"]
