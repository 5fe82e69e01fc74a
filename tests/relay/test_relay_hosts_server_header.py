"""The relay's ``Server`` header (:mod:`strato.relay.server_header`) on HTTP answers and on the
websocket handshake, and the loop guard it feeds: a crawler refuses to subscribe to a relay
that sends it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from localnet import serve_app
from relay_hosts_net import add_host, eventually, open_store, status
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strato.netpolicy import NetworkPolicy
from strato.relay.crawler import USER_AGENT, Crawler, CrawlerConfig
from strato.relay.hosts import Host, HostStatus, HostStore
from strato.relay.server_header import ServerHeader
from websockets.asyncio.client import connect


async def describe(request: Request) -> Response:
    return JSONResponse({"did": "did:web:relay.test"}, headers={"Server": "other"})


async def stream(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive()


@pytest.fixture
def relay_url() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/xrpc/com.atproto.server.describeServer", describe),
            WebSocketRoute("/xrpc/com.atproto.sync.subscribeRepos", stream),
        ],
        middleware=[Middleware(ServerHeader)],
    )
    with serve_app(app, server_header=False) as url:
        yield url


def test_http_and_websocket_answers_name_the_relay(relay_url: str) -> None:
    got = httpx.get(relay_url + "/xrpc/com.atproto.server.describeServer")
    assert got.headers.get_list("server") == [USER_AGENT]
    assert "(atproto-relay)" in USER_AGENT
    missing = httpx.get(relay_url + "/nowhere")
    assert missing.headers.get_list("server") == [USER_AGENT]

    async def handshake() -> list[str]:
        url = relay_url.replace("http://", "ws://") + "/xrpc/com.atproto.sync.subscribeRepos"
        async with connect(url) as ws:
            assert ws.response is not None
            return ws.response.headers.get_all("Server")

    assert asyncio.run(handshake()) == [USER_AGENT]


def test_a_crawler_refuses_a_strato_relay(relay_url: str, tmp_path: Path) -> None:
    async def on_frame(host: Host, data: bytes) -> None:
        raise AssertionError("no frame is read from a relay")

    async def main() -> None:
        crawl = Crawler(
            HostStore(store),
            on_frame,
            config=CrawlerConfig(policy=NetworkPolicy(local_network=True)),
        )
        crawl.subscribe(host)
        await eventually(lambda: status(store, host.id) == HostStatus.BANNED)
        await eventually(lambda: not crawl.is_subscribed(host.id))
        await crawl.stop()

    with open_store(tmp_path / "relay") as store:
        host = add_host(store, relay_url.removeprefix("http://"), last_seq=0)
        asyncio.run(main())
