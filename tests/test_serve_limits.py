"""Connection limits of the servers strato.service.serving runs (strato.service.limits,
strato.service.protocol), on real sockets on 127.0.0.x: the per-IP cap while another address is
served, the per-process cap, the request-head timeout (idle, partial and trickled heads; on a
kept-alive connection too), the keep-alive idle close, a request body that stops coming closed
(not one that keeps coming), WebSockets holding a slot while open, no per-IP cap behind a trusted
proxy, the metrics, and the open-file limit the default cap comes from."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import websockets
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
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strato.pds.settings import PdsSettings
from strato.relay.settings import RelaySettings
from strato.service.limits import ConnectionGuard, ConnectionLimits
from strato.service.metrics import ServerMetrics
from strato.service.serving import Service


@dataclass
class Served:
    """The test server: its URL, metrics, and the raw connections the test opens to it."""

    url: str
    metrics: ServerMetrics
    connections: Connections

    async def open(
        self, source: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await self.connections.open(source)


def limits(**given: float) -> ConnectionLimits:
    """Test limits: long timeouts unless given (no connection closes while a test counts)."""
    return ConnectionLimits(**{"header_timeout": 60.0, "keepalive_timeout": 60.0, **given})  # type: ignore[arg-type]


@asynccontextmanager
async def serving(connection_limits: ConnectionLimits) -> AsyncIterator[Served]:
    """A small app (``/``, ``POST /size`` answering ``size <its body's length>``, and a
    WebSocket at ``/ws`` that stays open until the client closes) served by
    :func:`strato.service.serving.serve` with ``connection_limits``; its URL and metrics."""
    metrics = ServerMetrics("test")

    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello")

    async def stay(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive()

    async def size(request: Request) -> Response:
        return PlainTextResponse(f"size {len(await request.body())}")

    routes = [
        Route("/", hello),
        Route("/size", size, methods=["POST"]),
        WebSocketRoute("/ws", stay),
    ]
    app = Starlette(routes=routes)
    service = Service("test", app, limits=connection_limits, metrics=metrics)
    async with serving_service(service) as connections:
        yield Served(connections.url, metrics, connections)


def refused(metrics: ServerMetrics, reason: str) -> float:
    sample = metrics.registry.get_sample_value(
        "strato_connections_refused_total", {"service": "test", "reason": reason}
    )
    return sample or 0.0


def held(metrics: ServerMetrics) -> float:
    sample = metrics.registry.get_sample_value("strato_connections_open", {"service": "test"})
    return sample or 0.0


async def get_from(url: str, source: str) -> str:
    async with client_from(source) as client:
        response = await client.get(url + "/")
    assert response.status_code == 200
    return response.text


def test_idle_connections_over_the_per_ip_cap_are_refused_while_another_address_is_served() -> None:
    async def scenario() -> None:
        async with serving(limits(max_connections_per_ip=3)) as served:
            metrics = served.metrics
            idle = [await served.open() for _ in range(5)]
            await wait_for(lambda: refused(metrics, "max_connections_per_ip") == 2, "refusals")
            # the kernel queues connections in order: the first three hold the slots
            for reader, _ in idle[3:]:
                assert_refused(await until_closed(reader))
            assert held(metrics) == 3
            assert await get_from(served.url, OTHER) == "hello"
            idle[0][1].close()  # a slot given back: 127.0.0.1 is served again
            await wait_for(lambda: held(metrics) == 2, "the closed connection released")
            assert await get_from(served.url, "127.0.0.1") == "hello"

    asyncio.run(scenario())


def test_the_per_process_cap_counts_every_address() -> None:
    async def scenario() -> None:
        async with serving(limits(max_connections=2, max_connections_per_ip=0)) as served:
            metrics = served.metrics
            _, first = await served.open("127.0.0.1")
            await served.open("127.0.0.2")
            await wait_for(lambda: held(metrics) == 2, "two connections held")
            reader, _ = await served.open("127.0.0.3")
            assert_refused(await until_closed(reader))
            assert refused(metrics, "max_connections") == 1
            first.close()
            await wait_for(lambda: held(metrics) == 1, "the closed connection released")
            assert await get_from(served.url, "127.0.0.3") == "hello"

    asyncio.run(scenario())


def test_a_request_head_not_complete_in_time_is_closed() -> None:
    """Silent, partial and trickled heads are all closed once the head timeout has passed since
    the accept; a whole request on a new connection is still answered."""

    async def scenario() -> None:
        async with serving(limits(header_timeout=0.5)) as served:
            silent, _ = await served.open()
            partial, partial_writer = await served.open()
            partial_writer.write(HEAD)
            slow = await served.open()
            answers = list(
                await asyncio.gather(until_closed(silent), until_closed(partial), trickle(*slow))
            )
            assert answers == [b"", b"", b""]  # closed without an answer
            assert refused(served.metrics, "header_timeout") == 3
            assert await get_from(served.url, "127.0.0.1") == "hello"
            await wait_for(lambda: held(served.metrics) == 0, "every connection released")

    asyncio.run(scenario())


def test_a_kept_alive_connection_gets_the_head_timeout_from_its_next_byte() -> None:
    """After a response, a byte that starts no request (a CRLF, which stops uvicorn's keep-alive
    timer) or the start of a head must be followed by a whole head in time."""

    async def scenario() -> None:
        async with serving(limits(header_timeout=0.5)) as served:
            for after_response in (b"\r\n", HEAD):
                reader, writer = await served.open()
                writer.write(HEAD + b"\r\n")
                answer = await reader.readuntil(b"hello")
                assert answer.startswith(b"HTTP/1.1 200 OK")
                writer.write(after_response)
                assert await until_closed(reader) == b""
            assert refused(served.metrics, "header_timeout") == 2

    asyncio.run(scenario())


def test_an_idle_kept_alive_connection_is_closed() -> None:
    """Closed by the setting, well before uvicorn's own default (5 s) would."""

    async def scenario() -> None:
        async with serving(limits(keepalive_timeout=0.5)) as served:
            reader, writer = await served.open()
            writer.write(HEAD + b"\r\n")
            assert (await reader.readuntil(b"hello")).startswith(b"HTTP/1.1 200 OK")
            assert await until_closed(reader, within=4.0) == b""
            await wait_for(lambda: held(served.metrics) == 0, "the connection released")
            assert refused(served.metrics, "header_timeout") == 0  # idle, not a late head

    asyncio.run(scenario())


def test_a_request_body_is_closed_when_it_stops_coming_not_while_it_comes() -> None:
    """Pieces of a body each within the keep-alive timeout keep the request going for longer
    than the timeout; once the body stops coming, the connection is closed unanswered."""

    async def scenario() -> None:
        async with serving(limits(keepalive_timeout=1.0)) as served:
            reader, writer = await served.open()
            writer.write(b"POST /size HTTP/1.1\r\nHost: test\r\nContent-Length: 40\r\n\r\n")
            for _ in range(40):  # two seconds of body, a byte every 50 ms
                writer.write(b"x")
                await asyncio.sleep(0.05)
            assert (await reader.readuntil(b"size 40")).startswith(b"HTTP/1.1 200 OK")
            assert refused(served.metrics, "body_timeout") == 0
            writer.write(b"POST /size HTTP/1.1\r\nHost: test\r\nContent-Length: 40\r\n\r\nx")
            assert await until_closed(reader) == b""
            assert refused(served.metrics, "body_timeout") == 1
            await wait_for(lambda: held(served.metrics) == 0, "the connection released")

    asyncio.run(scenario())


def test_a_websocket_holds_its_slot_until_it_closes() -> None:
    async def scenario() -> None:
        async with serving(limits(max_connections_per_ip=1)) as served:
            ws_url = served.url.replace("http://", "ws://") + "/ws"
            async with websockets.connect(ws_url):
                reader, _ = await served.open()
                assert_refused(await until_closed(reader))
                assert held(served.metrics) == 1
            await wait_for(lambda: held(served.metrics) == 0, "the WebSocket's slot released")
            assert await get_from(served.url, "127.0.0.1") == "hello"

    asyncio.run(scenario())


@pytest.mark.parametrize("settings_class", [PdsSettings, RelaySettings])
def test_no_per_ip_cap_behind_a_trusted_proxy(
    tmp_path: Path, settings_class: type[PdsSettings] | type[RelaySettings]
) -> None:
    """Behind ``--trust-proxy`` every connection comes from the proxy: only the per-process cap
    applies."""
    direct = settings_class(data_dir=tmp_path, max_connections_per_ip=2, max_connections=5)
    assert direct.connection_limits.max_connections_per_ip == 2
    proxied = settings_class(
        data_dir=tmp_path, max_connections_per_ip=2, max_connections=5, trust_proxy=1
    )
    assert proxied.connection_limits == ConnectionLimits(
        max_connections=5, max_connections_per_ip=0
    )

    async def scenario() -> None:
        async with serving(proxied.connection_limits) as served:
            for _ in range(4):
                await served.open()
            await wait_for(lambda: held(served.metrics) == 4, "four connections from one address")
            assert await get_from(served.url, "127.0.0.1") == "hello"
            await wait_for(lambda: held(served.metrics) == 4, "the client's connection released")
            await served.open()
            reader, _ = await served.open()
            assert_refused(await until_closed(reader))  # the sixth: over the process's cap
            assert refused(served.metrics, "max_connections") == 1
            assert refused(served.metrics, "max_connections_per_ip") == 0

    asyncio.run(scenario())


def test_the_default_cap_is_half_the_raised_open_file_limit_shared_by_the_servers() -> None:
    """In a child whose soft open-file limit is 64: raised to the hard limit, half of which the
    servers of the process share."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    check = (
        "import resource; from strato.service.limits import connection_share; "
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]; "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard)); "
        "share = connection_share(3); print(share, *resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], check=True, capture_output=True, text=True, env=os.environ
    )
    assert [int(word) for word in done.stdout.split()] == [hard // 2 // 3, hard, hard]


def test_the_per_ip_cap_counts_an_ipv6_client_by_its_64() -> None:
    # A host is given a /64 at least: counted per address, one client would hold unlimited
    # slots. An IPv4-mapped address counts as its IPv4 address.
    guard = ConnectionGuard(100, 2)
    held = [guard.admit("2001:db8:1:2::1"), guard.admit("2001:db8:1:2:ffff::9")]
    assert all(held)
    assert guard.admit("2001:db8:1:2::abcd") is None
    assert guard.admit("2001:db8:1:3::1") is not None
    assert guard.admit("10.0.0.1") is not None
    assert guard.admit("::ffff:10.0.0.1") is not None
    assert guard.admit("10.0.0.1") is None
