"""uvicorn's HTTP protocol (httptools) held to a server's connection limits
(:mod:`strato.service.limits`): :func:`guarded_protocol` is the ``http=`` of its
``uvicorn.Config``, so every connection the server accepts, or is handed by a relay's fan-out
worker, goes through it.

uvicorn closes a kept-alive connection idle after a response (``timeout_keep_alive``) but has no
limit on the time to a complete request head, so a client that never sends one, or trickles it,
holds its connection forever; ``limit_concurrency`` answers 503 to requests, not to
connections, so idle ones are never bounded; and a request head may be of any size. This
protocol adds all three: its connection is refused in ``connection_made`` when the server's
guard has no slot for it, a head past about 64 KiB is answered 431 and its connection closed,
and a timer closes it unless the request head is complete in time. The timer starts at the
accept and, on a kept-alive connection, at the first byte received after a response (uvicorn's
keep-alive timer covers the wait for that byte); it is stopped when a head is complete and
never restarted while one is being received. Once a head is complete the request's body must
keep coming: a connection that sends nothing for the keep-alive timeout while the app waits for
more of its body is closed (a slow-body client would otherwise hold its connection forever),
unless the server itself stopped reading (the app has not taken what came) or has not yet
asked for the body (``Expect: 100-continue``). A WebSocket upgrade keeps the slot until the
WebSocket closes.

A server may take some WebSocket endpoints over from uvicorn (:data:`Takeover`, by path): the
upgrade request's socket, its head and its slot are handed to the server's own code (the event
stream's fan-out, which writes frames from Rust and so needs the socket itself) instead of to
uvicorn's WebSocket protocol, with the path matched once percent-decoded (as the app's routes
are). The connection still counts under the server's caps until it closes. An upgrade
pipelined behind a request is taken over once that request's answer has gone out.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Final
from urllib.parse import unquote

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from strato.service.limits import (
    BODY_TIMEOUT,
    HEAD_TOO_LARGE,
    HEAD_TOO_LARGE_ANSWER,
    HEADER_TIMEOUT,
    MAX_REQUEST_HEAD,
    REFUSAL,
    ConnectionGuard,
    Slot,
    peer_address,
)

#: Takes over a WebSocket upgrade: the connected socket (its own from then on), the request
#: head as received (through its blank line), and the connection's slot, to release when the
#: connection closes. Called in the server's event loop; it must not block.
Takeover = Callable[[socket.socket, bytes, Slot], None]
_NONE: Final[Mapping[str, Takeover]] = MappingProxyType({})
#: Seconds between looks at whether the answer to a request pipelined before an upgrade that is
#: taken over has gone out.
_PIPELINE_WAIT: Final = 0.01


def guarded_protocol(
    connections: ConnectionGuard,
    head_timeout: float,
    takeovers: Mapping[str, Takeover] = _NONE,
) -> type[GuardedHttpToolsProtocol]:
    """The protocol class of a server whose connections ``connections`` counts, and whose
    request heads must be complete within ``head_timeout`` seconds; a WebSocket upgrade to a
    path of ``takeovers`` goes to its :data:`Takeover`."""

    class Guarded(GuardedHttpToolsProtocol):
        guard = connections
        header_timeout = head_timeout
        websocket_takeovers = takeovers

    return Guarded


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head timeout and connection caps (see the
    module's docstring); subclassed with its server's guard by :func:`guarded_protocol`."""

    guard: ClassVar[ConnectionGuard]
    header_timeout: ClassVar[float]
    websocket_takeovers: ClassVar[Mapping[str, Takeover]] = _NONE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: None once refused, or once the WebSocket the connection became holds it.
        self._slot: Slot | None = None
        self._upgraded = False
        #: Its socket was handed to a :data:`Takeover` (its slot with it).
        self._taken = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        #: When the connection last received bytes (the event loop's clock).
        self._received_at = 0.0
        #: Bytes received since the request head being received began.
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._slot = self.guard.admit(peer_address(transport.get_extra_info("peername")))
        if self._slot is None:
            transport.write(REFUSAL)
            transport.close()
            return
        super().connection_made(transport)
        self._start_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._slot is None:  # refused: what it sent is not read
            return
        self._received_at = self.loop.time()
        super().data_received(data)
        if self._upgraded:
            return
        if self._head_timer is not None:  # the head is not complete yet
            self._head_bytes += len(data)
            if self._head_bytes > MAX_REQUEST_HEAD:
                self._stop_head_timer()
                self.guard.refuse(HEAD_TOO_LARGE)
                self.transport.write(HEAD_TOO_LARGE_ANSWER)
                self.transport.close()
                return
        if not self._in_request():
            if self._head_timer is None:
                self._start_head_timer()
        elif self._body_timer is None and self._awaiting_body():
            self._body_timer = self.loop.call_later(self.timeout_keep_alive, self._body_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._taken:  # the socket lives on elsewhere: only uvicorn's own state ends here
            super().connection_lost(None)
            return
        slot, self._slot = self._slot, None
        if slot is None:  # refused, uvicorn never saw it
            return
        self._stop_head_timer()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        slot.release()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        self._head_bytes = 0
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        self._upgraded = True
        path = unquote(self.url.partition(b"?")[0].decode("latin-1"))
        takeover = self.websocket_takeovers.get(path)
        if takeover is not None:
            self._take_over(takeover)
            return
        super().handle_websocket_upgrade()
        # uvicorn has made the WebSocket protocol the transport's: it gets connection_lost
        websocket = self.transport.get_protocol()
        assert isinstance(websocket, asyncio.Protocol)
        assert self._slot is not None
        self.transport.set_protocol(_ReleasedAtClose(websocket, self._slot))
        self._slot = None

    def _take_over(self, takeover: Takeover) -> None:
        """Hand the connection to ``takeover``: a duplicate of its socket, the head rebuilt as
        uvicorn does for its own WebSocket protocol, and the slot; the transport is then
        aborted, which closes only uvicorn's descriptor (no shutdown: the TCP connection lives
        on in the duplicate, and the event loop stops watching it first). The answer to a
        request pipelined before the upgrade goes out first: until it has, the connection
        reads nothing more and the takeover waits."""
        if self.transport.is_closing():
            return
        if self._in_request() or self.transport.get_write_buffer_size():
            self.transport.pause_reading()
            self.loop.call_later(_PIPELINE_WAIT, self._take_over, takeover)
            return
        version = self.scope.get("http_version", "1.1").encode()
        head = [self.scope["method"].encode(), b" ", self.url, b" HTTP/", version, b"\r\n"]
        for name, value in self.scope["headers"]:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"\r\n")
        try:
            fd = os.dup(self.transport.get_extra_info("socket").fileno())
        except OSError:  # out of descriptors: the connection ends here, as a refused one
            self.transport.abort()
            return
        slot, self._slot = self._slot, None
        assert slot is not None
        self._taken = True
        self.transport.abort()
        sock = socket.socket(fileno=fd)
        try:
            takeover(sock, b"".join(head), slot)
        except BaseException:
            sock.close()
            slot.release()
            raise

    def _in_request(self) -> bool:
        """Between a complete head and the end of its response (the app's time, not limited)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _awaiting_body(self) -> bool:
        """Whether the request's body is still to come from the client."""
        return self._in_request() and self.cycle.more_body

    def _body_idle(self) -> None:
        """The body timer: close a connection silent for the keep-alive timeout while its
        body is awaited, else look again when it could have been."""
        self._body_timer = None
        if self.transport.is_closing() or not self._awaiting_body():
            return
        silent = self.loop.time() - self._received_at
        waiting_on_us = self.flow.read_paused or self.cycle.waiting_for_100_continue
        if silent < self.timeout_keep_alive or waiting_on_us:
            wait = (
                self.timeout_keep_alive - silent if not waiting_on_us else self.timeout_keep_alive
            )
            self._body_timer = self.loop.call_later(wait, self._body_idle)
            return
        self.guard.refuse(BODY_TIMEOUT)
        self.transport.close()

    def _start_head_timer(self) -> None:
        if self.transport.is_closing():
            return
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.guard.refuse(HEADER_TIMEOUT)
            self.transport.close()


class ForwardingProtocol(asyncio.Protocol):
    """Passes every event of its transport to ``inner``; subclasses add to some."""

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class _ReleasedAtClose(ForwardingProtocol):
    """A WebSocket protocol whose connection gives its slot back when it is lost."""

    def __init__(self, inner: asyncio.Protocol, slot: Slot) -> None:
        super().__init__(inner)
        self._slot = slot

    def connection_lost(self, exc: Exception | None) -> None:
        self._slot.release()
        super().connection_lost(exc)
