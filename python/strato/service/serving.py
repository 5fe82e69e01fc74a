"""Running strato's servers: one or more ASGI apps, each on its own address, in one event loop,
stopped cleanly by SIGINT or SIGTERM.

Owns :func:`serve` and :func:`run` over uvicorn (HTTP parsed by httptools, the C parser
uvicorn picks when it is installed). ``strato plc`` serves one app; ``strato up``
serves a whole local network from one process. Every listening socket is bound before any
server starts, so a port in use fails at once with a clear error, before anything runs. Port 0
takes any free port; the address really used is logged (``<name> running on <url>``) and given
to ``on_ready``. The first signal asks every server to finish its requests and stop (each app's
lifespan shutdown runs, so stores are closed); a second SIGINT stops at once.

A service may run a companion beside its server (:data:`Companion`, the relay's fan-out workers):
it starts once the app has started, before the service counts as running, and stops first when
the service stops. A service with ``accept=False`` binds its address with ``SO_REUSEPORT``
without listening: other processes (the companion's) accept its connections and may hand them
to this server (the companion gets the ``uvicorn.Server`` for that). A service's ``takeovers``
take WebSocket upgrades to their paths over from uvicorn, socket and all
(:data:`~strato.service.protocol.Takeover`: the event stream's fan-out in the server's process).

Every server holds its connections to its service's :class:`~strato.service.limits.ConnectionLimits`
(request-head and keep-alive timeouts, caps on connections in all and per client address; see
:mod:`strato.service.limits`), through its HTTP protocol (:mod:`strato.service.protocol`), and
counts them in the service's metrics. The open-file limit is raised to its hard limit first,
and a cap not given is a share of it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, contextmanager
from dataclasses import dataclass, field

import uvicorn
import uvloop
from starlette.types import ASGIApp

from strato.errors import AtprotoError
from strato.service.limits import (
    ConnectionGuard,
    ConnectionLimits,
    ConnectionMetrics,
    connection_share,
)
from strato.service.protocol import Takeover, guarded_protocol

log = logging.getLogger("strato.service.serving")


class ServeError(AtprotoError):
    """A server that cannot start (its address cannot be bound, its app fails to start)."""


#: What runs beside a service's server, given the server and the service's bound socket.
Companion = Callable[[uvicorn.Server, socket.socket], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class Service:
    """An app and where to serve it. ``accept=False``: the address is bound (``SO_REUSEPORT``)
    but this process does not accept on it; ``companion`` runs beside the server; WebSocket
    upgrades to a path of ``takeovers`` go to its handler, not to the app. ``limits`` hold its
    connections; ``metrics`` (the app's) count them."""

    name: str
    app: ASGIApp
    host: str = "127.0.0.1"
    port: int = 0
    accept: bool = True
    companion: Companion | None = None
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    metrics: ConnectionMetrics | None = None
    takeovers: Mapping[str, Takeover] = field(default_factory=dict)


@dataclass(frozen=True)
class Running:
    """A started service and its URL (with the port really bound)."""

    service: Service
    url: str


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to :func:`serve`, since several servers share one
    event loop and uvicorn's own handlers would each replace the others', and runs its
    service's companion: started after the app's lifespan startup (:attr:`ready` then), stopped
    before the server closes its connections and the app's lifespan shutdown."""

    def __init__(self, config: uvicorn.Config, service: Service, sock: socket.socket) -> None:
        super().__init__(config)
        self.service = service
        self.sock = sock
        self.ready = False
        #: Why the companion did not start (the server then stops as if signalled).
        self.failure: Exception | None = None
        self._companion = AsyncExitStack()

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        companion = self.service.companion
        if companion is not None:
            try:
                await self._companion.enter_async_context(companion(self, self.sock))
            except Exception as err:
                if not self.should_exit:  # not a failure when a signal stopped it starting
                    self.failure = err
                self.should_exit = True
                return
        self.ready = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await self._companion.aclose()
        except Exception:
            log.exception("%s: its companion failed to stop", self.service.name)
        await super().shutdown(sockets)


async def serve(
    services: Sequence[Service],
    on_ready: Callable[[list[Running]], None] | None = None,
    *,
    stop_when: asyncio.Event | None = None,
    signals: bool = True,
) -> None:
    """Serve every service until SIGINT or SIGTERM (or ``stop_when`` being set) stops them;
    with ``signals=False`` (an event loop off the main thread) only ``stop_when`` does.
    Raises :class:`ServeError` when one cannot start; then none keeps running."""
    sockets = _bind_all(services)
    share = connection_share(len(services))
    servers = [
        _Server(_config(service, service.limits.resolved(share)), service, sock)
        for service, sock in zip(services, sockets, strict=True)
    ]
    loop = asyncio.get_running_loop()

    def stop(force: bool = False) -> None:
        for server in servers:
            if server.should_exit and force:
                server.force_exit = True
            server.should_exit = True

    if signals:
        loop.add_signal_handler(signal.SIGINT, stop, True)
        loop.add_signal_handler(signal.SIGTERM, stop)
    tasks = [asyncio.create_task(_serve_one(server)) for server in servers]
    watcher = asyncio.create_task(_stop_on(stop_when, stop)) if stop_when is not None else None
    try:
        while not all(server.ready for server in servers):
            failed = next((task for task in tasks if task.done()), None)
            if failed is not None:
                stop()
                await asyncio.gather(*tasks, return_exceptions=True)
                failed.result()  # raises the ServeError
                raise ServeError("a server stopped while starting")
            await asyncio.sleep(0.01)
        running = [
            Running(service, _url(sock)) for service, sock in zip(services, sockets, strict=True)
        ]
        for item in running:
            log.info(
                "%s running on %s",
                item.service.name,
                item.url,
                extra={"service": item.service.name, "url": item.url},
            )
        if on_ready is not None:
            on_ready(running)
        await asyncio.gather(*tasks)
    finally:
        if watcher is not None:
            watcher.cancel()
        if signals:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
        for sock in sockets:
            sock.close()
    log.info("stopped")


def run(
    services: Sequence[Service], on_ready: Callable[[list[Running]], None] | None = None
) -> None:
    """:func:`serve` from synchronous code (the command line), on uvloop's event loop (libuv:
    cheaper I/O than asyncio's own loop for every socket the servers hold)."""
    uvloop.run(serve(services, on_ready))


def _config(service: Service, limits: ConnectionLimits) -> uvicorn.Config:
    assert limits.max_connections is not None
    guard = ConnectionGuard(limits.max_connections, limits.max_connections_per_ip, service.metrics)
    per_ip = limits.max_connections_per_ip or "no cap"
    log.info(
        "%s: at most %d connections, per IP %s; request heads within %g s, idle kept-alive "
        "connections closed after %g s",
        service.name,
        limits.max_connections,
        per_ip,
        limits.header_timeout,
        limits.keepalive_timeout,
    )
    return uvicorn.Config(
        service.app,
        http=guarded_protocol(guard, limits.header_timeout, service.takeovers),
        # uvicorn declares whole seconds; its timer takes any number.
        timeout_keep_alive=limits.keepalive_timeout,  # type: ignore[arg-type]
        log_config=None,
        access_log=False,
        # Event streams send DAG-CBOR frames encoded once for every subscriber: no
        # per-connection compression (the reference's servers do not offer it either).
        ws_per_message_deflate=False,
        # Services set their own Server header (the relay's is its loop guard).
        server_header=False,
        # The client's address is the socket's peer. uvicorn would otherwise take it from
        # X-Forwarded-For whenever the peer is 127.0.0.1, so any local client could pick its
        # address for the per-IP limits; the services read that header themselves, and only
        # behind the proxies named by --trust-proxy.
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


async def _stop_on(event: asyncio.Event, stop: Callable[[], None]) -> None:
    await event.wait()
    stop()


async def _serve_one(server: _Server) -> None:
    name = server.service.name
    try:
        await server.serve(sockets=[server.sock] if server.service.accept else [])
    except SystemExit as exited:  # uvicorn exits when the app's startup fails
        raise ServeError(f"{name} failed to start (its log says why)") from exited
    if server.failure is not None:
        raise ServeError(f"{name} failed to start: {server.failure}") from server.failure


def _bind_all(services: Sequence[Service]) -> list[socket.socket]:
    """A bound socket per service, or none at all (those bound are closed) and a ServeError."""
    bound: list[socket.socket] = []
    try:
        for service in services:
            bound.append(_bind(service))
    except ServeError:
        for sock in bound:
            sock.close()
        raise
    return bound


def _bind(service: Service) -> socket.socket:
    if not service.host.strip():
        # the socket layer reads "" as every address: a listener nobody asked to expose
        raise ServeError(f"{service.name} has no address to listen on (an empty host)")
    family = socket.AF_INET6 if ":" in service.host else socket.AF_INET
    # Naming the protocol matters: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # connections accepted from a socket whose proto is IPPROTO_TCP. Without it, a response
    # written in two parts (headers, then body) waits for the client's delayed ACK: ~40 ms per
    # request on a kept-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((service.host, service.port))
    except OSError as err:
        sock.close()
        raise ServeError(
            f"{service.name} cannot listen on {service.host}:{service.port}: {err.strerror}"
        ) from err
    if not service.accept:
        # Kept bound, never listening: the kernel gives connections only to sockets that
        # listen, the companion's processes' (bound to the same address with this option).
        # Set after the bind, so that the bind itself fails on a port already in use (by
        # another server that lets others share it too, such as a second relay).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
