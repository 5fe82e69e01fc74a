"""A service with its ``subscribeRepos`` fan-out wired in: :func:`stream_service` makes the
:class:`~strato.service.serving.Service` that ``strato pds``, ``strato relay`` and ``strato up``
run, with the fan-out of :class:`Stream` beside the app, and :func:`stream_routes` gives the app its
answer to a plain HTTP request on the stream's path (426).

With no workers (a PDS; a relay with ``--workers 0``), the fan-out runs in the service's own
process, in the server's event loop, its writer's thread beside it: the service's HTTP server
(uvicorn) accepts every connection, and a WebSocket upgrade to the stream's path is taken over
with its socket (:data:`~strato.service.protocol.Takeover`, :meth:`FanoutServer.adopt
<strato.firehose.fanout.server.FanoutServer.adopt>`). The connection stays under the server's
connection limits until it closes. The pump wakes on the event log's own ``notify`` (the
process's writer calls it after each commit).

With workers (``workers >= 1``), the main process binds the service's address without accepting
on it (``accept=False``), and the companion (run once the app has started) starts the workers:
they accept every connection on that address (``SO_REUSEPORT``), serve ``subscribeRepos``
themselves, and hand every other request (XRPC, admin, ``/metrics``, ``/xrpc/_health``) to the
main process's uvicorn server through the hand-off socket ``<data dir>/fanout.sock``. An upgrade
that comes to the main process anyway, on a connection kept alive after such a request, is
answered 503 with ``Retry-After: 0`` and closed: on a new connection a worker takes it. Their
metrics (written under ``<data dir>/fanout-metrics``) are exposed on the main ``/metrics``. Each
worker holds the connections it accepts to the options' connection limits (its own share of
the open-file limit when no cap is given); a request it hands over counts in the main process,
under the service's limits. A worker that exits while the service runs is replaced within a
second; workers whose main process dies exit on their own.

Either way, once the fan-out serves, ``attach`` (the service's wiring) gets a :class:`Fanout`:
what to call after each commit of the log, and the consumer listing. When the service stops,
the fan-out stops first (its consumers get close 1001), before the HTTP server closes its
connections and the app's lifespan ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from strato.firehose.fanout.consumers import Consumer, ConsumerRegistry
from strato.firehose.fanout.handoff import HandoffReceiver, uvicorn_handler
from strato.firehose.fanout.handshake import SUBSCRIBE_REPOS_PATH
from strato.firehose.fanout.metrics import FanoutMetrics, add_worker_collector
from strato.firehose.fanout.server import FanoutOptions, FanoutServer
from strato.firehose.fanout.workers import FanoutWorkers, LogSpec, WorkerError, run_workers
from strato.firehose.log import EventLog
from strato.service.chores import cancel_all
from strato.service.limits import REFUSAL, ConnectionLimits, Slot
from strato.service.metrics import ServerMetrics
from strato.service.serving import Service
from strato.storage.private import make_dir

#: Under the data directory: the hand-off socket and the workers' metrics files.
HANDOFF_SOCKET: Final = "fanout.sock"
METRICS_DIRECTORY: Final = "fanout-metrics"
#: Seconds between checks that every fan-out worker is alive.
SUPERVISE_INTERVAL: Final = 1.0

log = logging.getLogger("strato.firehose.fanout")


class FanoutStartError(Exception):
    """The fan-out cannot be run beside the service."""


@dataclass(frozen=True)
class Stream:
    """What a service streams: its event log (open in this process), how a worker opens it, the
    data directory (the consumer table; the workers' hand-off socket and metrics), the
    fan-out's options, and how many worker processes serve it (0: this process)."""

    sequencer: EventLog
    log: LogSpec
    data_dir: Path
    options: FanoutOptions
    workers: int = 0


@dataclass(frozen=True)
class Fanout:
    """The running fan-out as the service sees it: ``notify`` after each commit of the log
    (safe from any thread), and its ``consumers``, in every process serving it."""

    notify: Callable[[], None]
    consumers: Callable[[], list[Consumer]]


Attach = Callable[[Fanout], contextlib.AbstractContextManager[None]]


def stream_service(
    name: str,
    app: ASGIApp,
    host: str,
    port: int,
    *,
    stream: Stream,
    limits: ConnectionLimits,
    metrics: ServerMetrics,
    attach: Attach | None = None,
) -> Service:
    """The service ``name`` serving ``app`` on ``host:port`` under ``limits`` (counted in
    ``metrics``, the app's), with the fan-out of ``stream`` beside it; ``attach`` wires the
    running fan-out into the app."""
    wire = attach if attach is not None else _unattached
    if stream.workers < 1:
        takeover = FanoutTakeover()
        fanout_metrics = FanoutMetrics(metrics.registry)

        def in_process(
            server: uvicorn.Server, listener: socket.socket
        ) -> contextlib.AbstractAsyncContextManager[None]:
            return _serve_in_process(stream, fanout_metrics, takeover, wire)

        return Service(
            name,
            app,
            host,
            port,
            companion=in_process,
            limits=limits,
            metrics=metrics,
            takeovers={stream.options.path: takeover},
        )

    def with_workers(
        server: uvicorn.Server, listener: socket.socket
    ) -> contextlib.AbstractAsyncContextManager[None]:
        return _serve_with_workers(stream, metrics, server, listener, wire)

    return Service(
        name,
        app,
        host,
        port,
        accept=False,
        companion=with_workers,
        limits=limits,
        metrics=metrics,
        takeovers={stream.options.path: _on_a_new_connection},
    )


def stream_routes(path: str = SUBSCRIBE_REPOS_PATH) -> list[BaseRoute]:
    """The app's route for a plain HTTP request on the stream's path (no upgrade): 426. The
    upgrades themselves never reach the app: the fan-out takes them."""
    return [Route(path, _upgrade_required)]


async def _upgrade_required(request: Request) -> Response:
    return JSONResponse(
        {"error": "InvalidRequest", "message": "subscribeRepos is a WebSocket endpoint"},
        status_code=426,
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )


def _unattached(fanout: Fanout) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


_NEW_CONNECTION_BODY: Final = (
    b'{"error":"TryAgain","message":"subscribeRepos is served on a new connection"}'
)
#: The answer to an upgrade that reaches the main process of a service with workers (on a
#: connection kept alive after a request a worker handed over): the client tries again at
#: once, on a new connection, which a worker takes.
NEW_CONNECTION_ANSWER: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(_NEW_CONNECTION_BODY)).encode() + b"\r\n"
    b"Retry-After: 0\r\n"
    b"Connection: close\r\n\r\n" + _NEW_CONNECTION_BODY
)


def _on_a_new_connection(sock: socket.socket, head: bytes, slot: Slot) -> None:
    """The main process's takeover when workers serve the stream: ask for a new connection."""
    with contextlib.suppress(OSError):
        sock.send(NEW_CONNECTION_ANSWER)
    sock.close()
    slot.release()


class FanoutTakeover:
    """The HTTP server's takeover of upgrades to the stream's path (the service's
    ``takeovers``): given to :attr:`server`, the fan-out running in this process; before it
    starts or once it stops, such a connection is refused as over a cap."""

    def __init__(self) -> None:
        self.server: FanoutServer | None = None

    def __call__(self, sock: socket.socket, head: bytes, slot: Slot) -> None:
        if self.server is not None:
            self.server.adopt(sock, head, slot)
            return
        with contextlib.suppress(OSError):
            sock.send(REFUSAL)
        sock.close()
        slot.release()


@contextlib.asynccontextmanager
async def _serve_in_process(
    stream: Stream, metrics: FanoutMetrics, takeover: FanoutTakeover, attach: Attach
) -> AsyncIterator[None]:
    registry = ConsumerRegistry.open(stream.data_dir, stream.log.name)
    try:
        registry.purge_dead()  # an earlier run's rows
        server = FanoutServer(stream.sequencer, registry, metrics, stream.options)
        await server.start()
        takeover.server = server
        try:
            with attach(Fanout(server.notify, server.consumers)):
                yield
        finally:
            takeover.server = None
            await server.stop()
    finally:
        registry.close()


@contextlib.asynccontextmanager
async def _serve_with_workers(
    stream: Stream,
    metrics: ServerMetrics,
    server: uvicorn.Server,
    listener: socket.socket,
    attach: Attach,
) -> AsyncIterator[None]:
    """Run ``stream.workers`` workers on ``listener``'s address for the started app served by
    ``server``; stop them on leaving."""
    data_dir = stream.data_dir
    metrics_dir = data_dir / METRICS_DIRECTORY
    _clear_metrics(metrics_dir)
    add_worker_collector(metrics.registry, str(metrics_dir))
    receiver = HandoffReceiver(data_dir / HANDOFF_SOCKET, uvicorn_handler(server))
    try:
        receiver.start()
    except OSError as err:  # such as a path longer than a Unix socket's (~100 bytes)
        raise FanoutStartError(
            f"cannot listen at {receiver.path} for the fan-out workers: {err} "
            "(a shorter --data-dir, or --workers 0)"
        ) from err
    registry = ConsumerRegistry.open(data_dir, stream.log.name)
    try:
        workers = run_workers(
            stream.log,
            data_dir,
            listener,
            stream.workers,
            options=stream.options,
            metrics_dir=metrics_dir,
            handoff_path=receiver.path,
        )
        try:
            await asyncio.to_thread(workers.wait_ready)
            with attach(Fanout(workers.notify, registry.list)):
                # Events committed while they started: the workers read the log's head on
                # start, but a commit between that read and the wiring would wait for a poll.
                workers.notify()
                supervisor = asyncio.create_task(_supervise(workers, registry), name="fanout")
                try:
                    yield
                finally:
                    await cancel_all([supervisor])
        finally:
            await asyncio.to_thread(workers.stop)
    finally:
        receiver.stop()
        registry.close()


async def _supervise(workers: FanoutWorkers, registry: ConsumerRegistry) -> None:
    """Replace any worker that exits (a crash, an OOM kill): nothing else accepts on the port.
    Its consumers leave the table; the new worker is woken once it serves."""
    while True:
        await asyncio.sleep(SUPERVISE_INTERVAL)
        restarted = await asyncio.to_thread(workers.restart_exited)
        if not restarted:
            continue
        for old, new in restarted:
            log.warning("fan-out worker %d exited; started %d in its place", old, new)
            await asyncio.to_thread(registry.purge_pid, old)
        try:
            await asyncio.to_thread(workers.wait_ready)
        except WorkerError as err:
            log.error("a replacement fan-out worker failed: %s", err)
        workers.notify()


def _clear_metrics(directory: Path) -> None:
    """Drop the metric files of earlier runs' workers (their counters would add up)."""
    make_dir(directory)
    for stale in directory.glob("*.db"):
        stale.unlink()
