"""Handing connections a fan-out worker does not serve to the main process.

Every process listening on the service's port with ``SO_REUSEPORT`` gets a share of *all* new
connections, not only ``subscribeRepos`` ones. A worker serves the stream itself; any other
request (``/xrpc/...``, ``/metrics``, the admin pages) belongs to the main process's app. The
worker has already read that request's head, so it passes the connected socket and those bytes
over a Unix socket (``SCM_RIGHTS``) to the main process, which feeds both to its HTTP server as
if it had accepted the connection itself: nothing is proxied, and the app sees the client's own
address.

- worker side: :class:`HandoffSender` (one ``sendmsg`` per connection on a ``SOCK_SEQPACKET``
  socket, so the head and the descriptor arrive together);
- main side: :class:`HandoffReceiver` listens at a path under the data directory and calls a
  handler with each socket and head; :func:`uvicorn_handler` is that handler for a running
  ``uvicorn.Server`` (the connection joins it exactly as an accepted one does).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Final

import uvicorn

from strato.firehose.fanout.handshake import MAX_RECEIVED
from strato.service.protocol import ForwardingProtocol
from strato.storage.private import make_private

log = logging.getLogger("strato.firehose.fanout.handoff")

Handler = Callable[[socket.socket, bytes], None]
#: The largest message: what a worker read before the head was complete.
_MESSAGE_BYTES: Final = MAX_RECEIVED


class HandoffSender:
    """A worker's connection to the main process's :class:`HandoffReceiver`."""

    def __init__(self, path: str | Path) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._sock.connect(str(path))
        except OSError:
            self._sock.close()
            raise

    def send(self, sock: socket.socket, head: bytes) -> None:
        """Pass ``sock`` (then closed here) and the bytes already read from it."""
        try:
            socket.send_fds(self._sock, [head], [sock.fileno()])
        finally:
            sock.close()

    def close(self) -> None:
        self._sock.close()


class HandoffReceiver:
    """Receives handed-over connections in the main process's event loop."""

    def __init__(self, path: str | Path, handler: Handler) -> None:
        self.path = Path(path)
        self.handler = handler
        self._listener: socket.socket | None = None
        self._peers: set[socket.socket] = set()

    def start(self) -> None:
        """Listen at :attr:`path` (replacing a stale socket file) in the running loop."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(str(self.path))
        make_private(self.path)  # bind gave it 0777 less the umask
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        asyncio.get_running_loop().add_reader(listener.fileno(), self._accept)

    def stop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._listener is not None:
            loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        for peer in self._peers:
            loop.remove_reader(peer.fileno())
            peer.close()
        self._peers.clear()

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            peer, _ = self._listener.accept()
        except BlockingIOError:
            return
        peer.setblocking(False)
        self._peers.add(peer)
        asyncio.get_running_loop().add_reader(peer.fileno(), self._receive, peer)

    def _receive(self, peer: socket.socket) -> None:
        while True:
            fds = array.array("i")
            try:
                head, ancillary, _, _ = peer.recvmsg(
                    _MESSAGE_BYTES, socket.CMSG_SPACE(fds.itemsize)
                )
            except BlockingIOError:
                return
            except OSError:
                head, ancillary = b"", []
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            if not head and not fds:  # the worker has gone
                asyncio.get_running_loop().remove_reader(peer.fileno())
                self._peers.discard(peer)
                peer.close()
                return
            for fd in fds:
                sock = socket.socket(fileno=fd)
                try:
                    self.handler(sock, head)
                except Exception:
                    log.exception("a handed-over connection failed")
                    sock.close()


def uvicorn_handler(server: uvicorn.Server) -> Handler:
    """A handler that gives each connection to a started ``uvicorn.Server`` (its HTTP protocol,
    its app, its lifespan state), with the bytes already read as the first data received."""

    def handle(sock: socket.socket, head: bytes) -> None:
        config = server.config
        protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config,
            server_state=server.server_state,
            app_state=server.lifespan.state,
        )
        task = asyncio.ensure_future(_attach(sock, protocol, head))
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    return handle


_pending: set[asyncio.Future[None]] = set()


async def _attach(sock: socket.socket, protocol: asyncio.Protocol, head: bytes) -> None:
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    await loop.connect_accepted_socket(lambda: _HeadFirst(protocol, head), sock)


class _HeadFirst(ForwardingProtocol):
    """Feeds the bytes the worker read to the protocol as soon as the connection is made:
    before the transport reads anything, so a request body that arrives meanwhile cannot come
    before its head."""

    def __init__(self, inner: asyncio.Protocol, head: bytes) -> None:
        super().__init__(inner)
        self._head = head

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.inner.data_received(self._head)
