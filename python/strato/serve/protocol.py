"""uvicorn's HTTP protocol (httptools) held to a server's connection limits
(:mod:`strato.serve.limits`): :func:`guarded_protocol` is the ``http=`` of its
``uvicorn.Config``, so every connection the server accepts, or is handed by a relay's fan-out
worker, goes through it.

uvicorn closes a kept-alive connection idle after a response (``timeout_keep_alive``) but has no
limit on the time to a complete request head, so a client that never sends one, or trickles it,
holds its connection forever; and ``limit_concurrency`` answers 503 to requests, not to
connections, so idle ones are never bounded. This protocol adds both: its connection is refused
in ``connection_made`` when the server's guard has no slot for it, and a timer closes it unless
the request head is complete in time. The timer starts at the accept and, on a kept-alive
connection, at the first byte received after a response (uvicorn's keep-alive timer covers the
wait for that byte); it is stopped when a head is complete and never restarted while one is
being received. A WebSocket upgrade keeps the slot until the WebSocket closes.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from strato.serve.limits import HEADER_TIMEOUT, REFUSAL, ConnectionGuard, Slot, peer_address


def guarded_protocol(
    connections: ConnectionGuard, head_timeout: float
) -> type[GuardedHttpToolsProtocol]:
    """The protocol class of a server whose connections ``connections`` counts, and whose
    request heads must be complete within ``head_timeout`` seconds."""

    class Guarded(GuardedHttpToolsProtocol):
        guard = connections
        header_timeout = head_timeout

    return Guarded


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head timeout and connection caps (see the
    module's docstring); subclassed with its server's guard by :func:`guarded_protocol`."""

    guard: ClassVar[ConnectionGuard]
    header_timeout: ClassVar[float]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: None once refused, or once the WebSocket the connection became holds it.
        self._slot: Slot | None = None
        self._upgraded = False
        self._head_timer: asyncio.TimerHandle | None = None

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
        super().data_received(data)
        if self._head_timer is None and not self._upgraded and not self._in_request():
            self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        slot, self._slot = self._slot, None
        if slot is None:  # refused, uvicorn never saw it
            return
        self._stop_head_timer()
        slot.release()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        self._upgraded = True
        super().handle_websocket_upgrade()
        # uvicorn has made the WebSocket protocol the transport's: it gets connection_lost
        websocket = self.transport.get_protocol()
        assert isinstance(websocket, asyncio.Protocol)
        assert self._slot is not None
        self.transport.set_protocol(_ReleasedAtClose(websocket, self._slot))
        self._slot = None

    def _in_request(self) -> bool:
        """Between a complete head and the end of its response (the app's time, not limited)."""
        return self.cycle is not None and not self.cycle.response_complete

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
