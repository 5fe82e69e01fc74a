"""The relay as ``strato relay`` and ``strato up`` serve it: :func:`relay_service`, its
:class:`~strato.serve.Service`, with the fan-out worker processes of ``RelaySettings.workers``.

With one worker or more, the main process binds the relay's address without accepting on it
(``accept=False``), and :func:`run_workers_beside` (the service's companion, run once the app
has started) starts the workers: they accept every connection on that address (SO_REUSEPORT),
serve ``subscribeRepos`` themselves through the Rust frame writer, and hand every other request
(XRPC, admin, ``/metrics``, ``/xrpc/_health``) to the main process's uvicorn server through the
hand-off socket ``<data dir>/fanout.sock``. The companion also wires them into the relay: their
wake-up joins the context's :class:`~strato.relay.context.Notifier` (called after each commit
of the log), their consumer table feeds the admin API's consumer list, and their metrics
(written under ``<data dir>/fanout-metrics``) are exposed on the main ``/metrics``. When the
service stops, the workers stop first (their consumers get close 1001), before the main server
closes its connections and the app's lifespan ends; workers whose main process dies exit on
their own, and a worker that exits while the relay runs is replaced within a second.
Each worker holds the connections it accepts to the settings' connection limits
(:attr:`RelaySettings.connection_limits`, its own share of the open-file limit when no cap is
given); a request it hands over counts in the main process, under the service's limits.

With no workers, the main process accepts and serves everything, the firehose from its Python
endpoint (:class:`~strato.firehose.SubscribeReposEndpoint`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import uvicorn
from starlette.applications import Starlette

from strato.chores import cancel_all
from strato.relay.admin import RelayAdmin
from strato.relay.consumers import worker_consumers
from strato.relay.context import SCHEMA_VERSION, RelayContext
from strato.relay.fanout.consumers import ConsumerRegistry
from strato.relay.fanout.handoff import HandoffReceiver, uvicorn_handler
from strato.relay.fanout.metrics import add_worker_collector
from strato.relay.fanout.server import FanoutOptions
from strato.relay.fanout.workers import FanoutWorkers, LogSpec, WorkerError, run_workers
from strato.relay.server_header import SERVER
from strato.relay.settings import RelaySettings
from strato.serve import Service
from strato.storage.private import make_dir

#: Under the data directory: the hand-off socket and the workers' metrics files.
HANDOFF_SOCKET: Final = "fanout.sock"
METRICS_DIRECTORY: Final = "fanout-metrics"
#: Seconds between checks that every fan-out worker is alive.
SUPERVISE_INTERVAL: Final = 1.0

log = logging.getLogger("strato.relay.fanout")


class WorkersError(Exception):
    """The fan-out workers cannot be run beside the relay."""


def relay_service(settings: RelaySettings, app: Starlette) -> Service:
    """The relay app ``app`` (built over ``settings``) as a service, with ``settings.workers``
    fan-out workers (none: the main process serves everything)."""
    limits = settings.connection_limits
    metrics = app.state.ctx.metrics
    if settings.workers < 1:
        return Service("relay", app, settings.host, settings.port, limits=limits, metrics=metrics)

    def companion(
        server: uvicorn.Server, listener: socket.socket
    ) -> contextlib.AbstractAsyncContextManager[None]:
        return run_workers_beside(app, settings.workers, server, listener)

    return Service(
        "relay",
        app,
        settings.host,
        settings.port,
        accept=False,
        companion=companion,
        limits=limits,
        metrics=metrics,
    )


@contextlib.asynccontextmanager
async def run_workers_beside(
    app: Starlette, count: int, server: uvicorn.Server, listener: socket.socket
) -> AsyncIterator[None]:
    """Run ``count`` workers on ``listener``'s address for the started relay ``app`` served by
    ``server``, wired into it; stop them on leaving."""
    ctx: RelayContext = app.state.ctx
    admin: RelayAdmin = app.state.admin
    data_dir = Path(ctx.settings.data_dir)
    metrics_dir = data_dir / METRICS_DIRECTORY
    _clear_metrics(metrics_dir)
    add_worker_collector(ctx.metrics.registry, str(metrics_dir))
    # The settings' limits, not the server's: a cap not given is each worker's own share of
    # its open-file limit.
    limits = ctx.settings.connection_limits
    receiver = HandoffReceiver(data_dir / HANDOFF_SOCKET, uvicorn_handler(server))
    try:
        receiver.start()
    except OSError as err:  # such as a path longer than a Unix socket's (~100 bytes)
        raise WorkersError(
            f"cannot listen at {receiver.path} for the fan-out workers: {err} "
            "(a shorter --data-dir, or --workers 0)"
        ) from err
    registry = ConsumerRegistry.open(data_dir)
    consumers = worker_consumers(registry.list)
    try:
        workers = run_workers(
            LogSpec(data_dir / "db", "relay", SCHEMA_VERSION),
            data_dir,
            listener,
            count,
            options=FanoutOptions(
                max_backlog_frames=ctx.settings.consumer_buffer,
                server_header=SERVER.decode(),
                handshake_timeout=limits.header_timeout,
                max_connections=limits.max_connections,
                max_connections_per_ip=limits.max_connections_per_ip,
                trusted_proxies=ctx.settings.trust_proxy,
            ),
            metrics_dir=metrics_dir,
            handoff_path=receiver.path,
        )
        try:
            await asyncio.to_thread(workers.wait_ready)
            ctx.notify.add(workers.notify)
            admin.consumers.add_source(consumers)
            # Events committed while they started: the workers read the log's head on start,
            # but a commit between that read and the wake-up's joining would wait for a poll.
            workers.notify()
            supervisor = asyncio.create_task(_supervise(workers, registry), name="fanout-workers")
            try:
                yield
            finally:
                await cancel_all([supervisor])
                admin.consumers.remove_source(consumers)
                ctx.notify.remove(workers.notify)
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
