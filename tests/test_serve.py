"""strato.service.serving and strato.service.logs: several apps in one loop, bound up front,
stopped cleanly; text and JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strato.firehose.fanout.handoff import uvicorn_handler
from strato.service import logs
from strato.service.serving import Running, ServeError, Service, _bind, run, serve


def app(name: str, events: list[str], *, fail: bool = False) -> Starlette:
    async def hello(request: Request) -> Response:
        return PlainTextResponse(name)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if fail:
            raise RuntimeError(f"{name} cannot open its store")
        events.append(f"{name} up")
        yield
        events.append(f"{name} down")

    return Starlette(routes=[Route("/", hello)], lifespan=lifespan)


def test_two_apps_served_and_stopped() -> None:
    events: list[str] = []

    async def scenario() -> list[str]:
        stop = asyncio.Event()
        ready: asyncio.Future[list[Running]] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            serve(
                [Service("one", app("one", events)), Service("two", app("two", events))],
                ready.set_result,
                stop_when=stop,
            )
        )
        running = await ready
        async with httpx.AsyncClient() as client:
            answers = [(await client.get(item.url + "/")).text for item in running]
        stop.set()
        await task
        return answers

    assert asyncio.run(scenario()) == ["one", "two"]
    assert sorted(events) == ["one down", "one up", "two down", "two up"]


def test_a_port_in_use_fails_before_anything_starts() -> None:
    events: list[str] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        services = [
            Service("first", app("first", events)),
            Service("second", app("second", events), port=port),
        ]
        with pytest.raises(ServeError, match=f"second cannot listen on 127.0.0.1:{port}: "):
            asyncio.run(serve(services))
    assert events == []


def test_an_empty_host_is_refused_not_read_as_every_address() -> None:
    events: list[str] = []
    stop = asyncio.Event()
    stop.set()  # were it served, it would stop at once
    with pytest.raises(ServeError, match=r"^blank has no address to listen on \(an empty host\)$"):
        asyncio.run(serve([Service("blank", app("blank", events), host="")], stop_when=stop))
    assert events == []


def test_an_app_that_fails_to_start() -> None:
    events: list[str] = []
    services = [Service("ok", app("ok", events)), Service("bad", app("bad", events, fail=True))]
    with pytest.raises(ServeError, match="bad failed to start"):
        asyncio.run(serve(services, stop_when=asyncio.Event()))
    assert "bad up" not in events


def test_json_log_lines(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json", "info")
    try:
        logging.getLogger("strato.test").info("hello %s", "there", extra={"service": "plc"})
        logging.getLogger("strato.test").debug("not shown")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("strato.test").exception("failed")
    finally:
        logs.configure("text", "warning")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["msg"] for line in lines] == ["hello there", "failed"]
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "strato.test"
    assert lines[0]["service"] == "plc"
    assert lines[0]["ts"].endswith("Z")
    assert "ValueError: boom" in lines[1]["exc"]


@pytest.mark.parametrize(
    ("fmt", "level", "message"),
    [("xml", "info", "log format must be one of"), ("json", "loud", "log level must be one of")],
)
def test_bad_log_options(fmt: str, level: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        logs.configure(fmt, level)  # type: ignore[arg-type]


def test_plc_command_logs_json_and_stops_on_sigint(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "strato", "plc", "--port", "0", "--log-format", "json"]
    command += ["--data-dir", str(tmp_path / "plc")]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stderr is not None
            lines = []
            for raw in process.stderr:  # uvicorn's own lines may come first
                lines.append(json.loads(raw))
                if lines[-1]["msg"].startswith("plc running on "):
                    break
            ready = lines[-1]
            assert ready["url"].startswith("http://127.0.0.1:")
            assert httpx.get(ready["url"] + "/_health").status_code == 200
            process.send_signal(signal.SIGINT)
            rest = [json.loads(line) for line in process.stderr]
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()
    assert rest[-1]["msg"] == "stopped"


def test_the_client_address_is_the_sockets_peer_whatever_it_forwards() -> None:
    """uvicorn believes X-Forwarded-For from 127.0.0.1 by default: a local client could then
    choose the address the per-IP limits count it under. The services read that header
    themselves, behind --trust-proxy only."""

    async def peer(request: Request) -> Response:
        assert request.client is not None
        return PlainTextResponse(request.client.host)

    async def scenario() -> str:
        stop = asyncio.Event()
        ready: asyncio.Future[list[Running]] = asyncio.get_running_loop().create_future()
        probe = Starlette(routes=[Route("/", peer)])
        task = asyncio.create_task(
            serve([Service("peer", probe)], ready.set_result, stop_when=stop)
        )
        (running,) = await ready
        async with httpx.AsyncClient() as client:
            forged = {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7"}
            answer = (await client.get(running.url + "/", headers=forged)).text
        stop.set()
        await task
        return answer

    assert asyncio.run(scenario()) == "127.0.0.1"


def test_accepted_connections_have_nagle_off() -> None:
    """The listening socket serve() binds yields connections with TCP_NODELAY set by asyncio
    (a keep-alive client would otherwise wait for delayed ACKs between requests)."""

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[asyncio.BaseTransport] = loop.create_future()

        class Accept(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted.set_result(transport)

        sock = _bind(Service("nodelay", app("nodelay", [])))
        server = await loop.create_server(Accept, sock=sock)
        async with server:
            host, port = sock.getsockname()[:2]
            _, writer = await asyncio.open_connection(host, port)
            transport = await accepted
            option = transport.get_extra_info("socket").getsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY
            )
            transport.close()
            writer.close()
            return int(option)

    assert asyncio.run(scenario()) != 0


def test_run_serves_on_uvloop_with_the_c_http_parser() -> None:
    """:func:`strato.service.serving.run` (what every ``strato`` server command uses) runs on
    uvloop, and uvicorn parses HTTP with httptools."""
    seen: dict[str, str] = {}

    async def where(request: Request) -> Response:
        seen["loop"] = type(asyncio.get_running_loop()).__module__
        return PlainTextResponse("ok")

    probe = Starlette(routes=[Route("/", where)])

    def on_ready(running: list[Running]) -> None:
        # runs in the serving loop: ask from a thread, then stop the servers
        def ask() -> None:
            httpx.get(running[0].url + "/")
            signal.raise_signal(signal.SIGTERM)

        threading.Thread(target=ask, daemon=True).start()

    run([Service("probe", probe)], on_ready)
    assert seen["loop"].startswith("uvloop")
    config = uvicorn.Config(probe)
    config.load()
    assert config.http_protocol_class.__module__ == "uvicorn.protocols.http.httptools_impl"


def test_websockets_are_served_without_per_message_compression() -> None:
    """A client offering permessage-deflate (websockets' default) gets plain frames: event
    streams share one encoded frame among all subscribers and compress nothing per connection."""

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_bytes(b"frame")
        await websocket.close()

    streams = Starlette(routes=[WebSocketRoute("/ws", echo)])

    async def scenario() -> tuple[list[str], bytes]:
        stop = asyncio.Event()
        ready: asyncio.Future[list[Running]] = asyncio.get_running_loop().create_future()
        services = [Service("ws", streams)]
        task = asyncio.create_task(serve(services, ready.set_result, stop_when=stop))
        url = (await ready)[0].url.replace("http://", "ws://") + "/ws"
        async with websockets.connect(url) as client:
            assert client.request is not None
            assert client.response is not None
            offered = client.request.headers.get_all("Sec-WebSocket-Extensions")
            assert offered, "the client offers permessage-deflate"
            accepted = client.response.headers.get_all("Sec-WebSocket-Extensions")
            frame = await client.recv()
        stop.set()
        await task
        assert isinstance(frame, bytes)
        return accepted, frame

    assert asyncio.run(scenario()) == ([], b"frame")


def test_a_companion_accepts_for_a_service_that_does_not() -> None:
    """``accept=False`` binds the address without listening; the companion starts after the
    app's lifespan startup, takes the connections (here: accepting on the same address with
    SO_REUSEPORT, handing each to the server) and stops before the lifespan shutdown."""
    events: list[str] = []

    @asynccontextmanager
    async def companion(server: uvicorn.Server, sock: socket.socket) -> AsyncIterator[None]:
        assert not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        events.append("companion up")
        listener = socket.socket(sock.family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(sock.getsockname())
        listener.listen()
        listener.setblocking(False)
        handle = uvicorn_handler(server)
        loop = asyncio.get_running_loop()

        async def accept() -> None:
            while True:
                conn, _ = await loop.sock_accept(listener)
                handle(conn, b"")

        task = asyncio.create_task(accept())
        try:
            yield
        finally:
            task.cancel()
            listener.close()
            events.append("companion down")

    async def scenario() -> str:
        stop = asyncio.Event()
        ready: asyncio.Future[list[Running]] = asyncio.get_running_loop().create_future()
        service = Service("one", app("one", events), accept=False, companion=companion)
        task = asyncio.create_task(serve([service], ready.set_result, stop_when=stop))
        (running,) = await ready
        async with httpx.AsyncClient() as client:
            answer = (await client.get(running.url + "/")).text
        stop.set()
        await task
        return answer

    assert asyncio.run(scenario()) == "one"
    assert events == ["one up", "companion up", "companion down", "one down"]


def test_a_companion_that_fails_to_start() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def companion(server: uvicorn.Server, sock: socket.socket) -> AsyncIterator[None]:
        raise RuntimeError("no workers")
        yield

    service = Service("one", app("one", events), companion=companion)
    with pytest.raises(ServeError, match=r"^one failed to start: no workers$"):
        asyncio.run(serve([service]))
    assert events == ["one up", "one down"]  # the app was stopped
