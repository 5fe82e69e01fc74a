"""Requests a fan-out process does not serve are handed, socket and all, to the main process's
uvicorn server (SCM_RIGHTS over a Unix socket): the app answers them with the client's own
address, keep-alive requests on the same connection included, while ``subscribeRepos`` on the
same port is still served by the fan-out."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strato.firehose import SUBSCRIBE_REPOS_PATH, TABLES, LmdbEventLog, Retention
from strato.firehose.fanout.consumers import ConsumerRegistry
from strato.firehose.fanout.handoff import HandoffReceiver, HandoffSender, uvicorn_handler
from strato.firehose.fanout.metrics import FanoutMetrics
from strato.firehose.fanout.server import FanoutServer
from strato.storage import Store
from websockets.asyncio.client import connect


async def whoami(request: Request) -> JSONResponse:
    assert request.client is not None
    return JSONResponse({"client": request.client.host, "path": request.url.path})


def test_other_requests_reach_the_main_app_through_the_handoff(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "log", name="relay", schema_version=1, tables=TABLES)
    sequencer = LmdbEventLog(store, retention=Retention(None, None))

    async def main() -> None:
        app = Starlette(routes=[Route("/xrpc/_health", whoami), Route("/admin", whoami)])
        uvicorn_server = uvicorn.Server(
            uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        )
        own = socket.create_server(("127.0.0.1", 0))  # the main process's own listener
        serving = asyncio.create_task(uvicorn_server.serve(sockets=[own]))
        while not uvicorn_server.started:
            await asyncio.sleep(0.01)
        receiver = HandoffReceiver(tmp_path / "fanout.sock", uvicorn_handler(uvicorn_server))
        receiver.start()
        sender = HandoffSender(receiver.path)
        registry = ConsumerRegistry.open(tmp_path / "data", "relay")
        fanout = FanoutServer(
            sequencer, registry, FanoutMetrics(CollectorRegistry()), handoff=sender
        )
        listener = socket.create_server(("127.0.0.1", 0))
        await fanout.start(listener)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        try:
            async with httpx.AsyncClient(base_url=f"http://{address}") as http:
                first = await http.get("/xrpc/_health")
                second = await http.get("/admin")  # the same kept-alive connection
            assert first.json() == {"client": "127.0.0.1", "path": "/xrpc/_health"}
            assert second.json() == {"client": "127.0.0.1", "path": "/admin"}
            async with connect(f"ws://{address}{SUBSCRIBE_REPOS_PATH}"):
                await asyncio.wait_for(_until_connected(fanout), 20)
                assert [consumer.remote for consumer in registry.list()] == ["127.0.0.1"]
        finally:
            await fanout.stop()
            listener.close()
            sender.close()
            receiver.stop()
            uvicorn_server.should_exit = True
            await serving
            own.close()
            registry.close()

    asyncio.run(main())
    store.close()


async def _until_connected(fanout: FanoutServer) -> None:
    while fanout.connection_count != 1:
        await asyncio.sleep(0.01)
