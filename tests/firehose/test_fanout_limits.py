"""Connection limits of a fan-out process, served as the relay serves them (in this process: a
service that does not accept, whose companion runs a :class:`FanoutServer` on its address
and hands other requests to its uvicorn server): the per-IP cap while another address
subscribes and is served, the request-head timeout, and a handed-over connection counted once,
in the process that holds it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from prometheus_client import CollectorRegistry
from serve_limits_helpers import (
    HEAD,
    OTHER,
    Connections,
    assert_refused,
    client_from,
    serving_service,
    trickle,
    until_closed,
    wait_for,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from strato.firehose import (
    SUBSCRIBE_REPOS_PATH,
    TABLES,
    LmdbEventLog,
    Retention,
    decode_frame,
    encode_message,
)
from strato.firehose.fanout.consumers import ConsumerRegistry
from strato.firehose.fanout.handoff import HandoffReceiver, HandoffSender, uvicorn_handler
from strato.firehose.fanout.metrics import FanoutMetrics, WorkerConnectionMetrics
from strato.firehose.fanout.server import FanoutOptions, FanoutServer
from strato.firehose.fanout.workers import bind_reuseport
from strato.service.limits import ConnectionLimits
from strato.service.metrics import ServerMetrics
from strato.service.serving import Service
from strato.storage import Store
from websockets.asyncio.client import connect


@dataclass
class Relay:
    """The relay-like service: its URL, the main server's metrics, the fan-out and its metrics,
    and the raw connections the test opens."""

    url: str
    metrics: ServerMetrics
    fanout: FanoutServer
    fanout_metrics: CollectorRegistry
    connections: Connections

    @property
    def stream(self) -> str:
        return self.url.replace("http://", "ws://") + SUBSCRIBE_REPOS_PATH

    def main_refused(self, reason: str) -> float:
        labels = {"service": "relay", "reason": reason}
        return (
            self.metrics.registry.get_sample_value("strato_connections_refused_total", labels)
            or 0.0
        )

    def fanout_refused(self, reason: str) -> float:
        name = "strato_firehose_connections_refused_total"
        return self.fanout_metrics.get_sample_value(name, {"reason": reason}) or 0.0


@asynccontextmanager
async def relay(tmp_path: Path, limits: ConnectionLimits) -> AsyncIterator[Relay]:
    """A fan-out process's server and the main server it hands requests to (``/`` answers
    ``main``), both held to ``limits``, over a log with one event."""
    store = Store.open(tmp_path / "log", name="relay", schema_version=1, tables=TABLES)
    sequencer = LmdbEventLog(store, retention=Retention(None, None))
    with store.write() as txn:
        sequencer.append(txn, [lambda seq: encode_message("#info", {"name": "n", "message": "1"})])
    metrics = ServerMetrics("relay")
    fanout_registry = CollectorRegistry()
    found: list[FanoutServer] = []

    async def main(request: Request) -> Response:
        return PlainTextResponse("main")

    @asynccontextmanager
    async def companion(server: uvicorn.Server, sock: socket.socket) -> AsyncIterator[None]:
        host, port = sock.getsockname()[:2]
        listener = bind_reuseport(host, port)
        receiver = HandoffReceiver(tmp_path / "fanout.sock", uvicorn_handler(server))
        receiver.start()
        sender = HandoffSender(receiver.path)
        registry = ConsumerRegistry.open(tmp_path / "data", "relay")
        options = FanoutOptions(
            handshake_timeout=limits.header_timeout,
            max_connections=limits.max_connections,
            max_connections_per_ip=limits.max_connections_per_ip,
        )
        fanout = FanoutServer(
            sequencer,
            registry,
            FanoutMetrics(fanout_registry),
            options,
            handoff=sender,
            connections=WorkerConnectionMetrics(fanout_registry),
        )
        await fanout.start(listener)
        found.append(fanout)
        try:
            yield
        finally:
            await fanout.stop()
            listener.close()
            sender.close()
            receiver.stop()
            registry.close()

    app = Starlette(routes=[Route("/", main)])
    service = Service(
        "relay", app, accept=False, companion=companion, limits=limits, metrics=metrics
    )
    try:
        async with serving_service(service) as connections:
            yield Relay(connections.url, metrics, found[0], fanout_registry, connections)
    finally:
        store.close()


def test_a_worker_refuses_idle_connections_over_its_per_ip_cap_and_serves_another_address(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        limits = ConnectionLimits(header_timeout=60, max_connections_per_ip=3)
        async with relay(tmp_path, limits) as served:
            idle = [await served.connections.open() for _ in range(5)]
            await wait_for(lambda: served.fanout.guard.held == 3, "three idle connections held")
            for reader, _ in idle[3:]:
                assert_refused(await until_closed(reader))
            assert served.fanout_refused("max_connections_per_ip") == 2
            async with connect(served.stream + "?cursor=0", local_addr=(OTHER, 0)) as subscriber:
                data = await asyncio.wait_for(subscriber.recv(), 20)
                assert isinstance(data, bytes)
                frame = decode_frame(data)
                assert frame.body["message"] == "1"
            async with client_from(OTHER) as client:
                assert (await client.get(served.url + "/")).text == "main"

    asyncio.run(scenario())


def test_a_worker_closes_a_request_head_not_complete_in_time(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with relay(tmp_path, ConnectionLimits(header_timeout=0.5)) as served:
            silent, _ = await served.connections.open()
            slow = await served.connections.open()
            answers = list(await asyncio.gather(until_closed(silent), trickle(*slow)))
            assert answers == [b"", b""]
            assert served.fanout_refused("header_timeout") == 2
            await wait_for(lambda: served.fanout.guard.held == 0, "both connections released")

    asyncio.run(scenario())


def test_a_handed_over_connection_counts_in_the_process_that_holds_it(tmp_path: Path) -> None:
    """Two kept-alive requests from one address live in the main process: the worker holds none
    of them, so that address may still subscribe; a third request, admitted by the worker, is
    refused by the main process, whose per-IP cap it would pass."""

    async def scenario() -> None:
        limits = ConnectionLimits(header_timeout=60, max_connections_per_ip=2)
        async with relay(tmp_path, limits) as served:
            for _ in range(2):
                reader, writer = await served.connections.open()
                writer.write(HEAD + b"\r\n")
                assert (await reader.readuntil(b"main")).startswith(b"HTTP/1.1 200 OK")
            assert served.fanout.guard.held == 0
            async with connect(served.stream):
                await wait_for(lambda: served.fanout.connection_count == 1, "the subscriber")
                reader, writer = await served.connections.open()
                writer.write(HEAD + b"\r\n")
                assert_refused(await until_closed(reader))
            assert served.main_refused("max_connections_per_ip") == 1
            assert served.fanout_refused("max_connections_per_ip") == 0

    asyncio.run(scenario())
