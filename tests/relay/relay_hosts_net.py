"""Test servers for the relay's host side: :class:`FakeUpstream`, a ``subscribeRepos`` server
on 127.0.0.1 (Starlette in uvicorn, in a thread) whose frames, ``Server`` header, error frame
and refusals a test sets; plus a relay store with the host tables."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from localnet import serve_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from strato.firehose.frames import encode_message
from strato.relay import bans, hosts, limits
from strato.relay.hosts import Host, HostStatus, HostStore
from strato.storage import Store

TABLES = hosts.TABLES + limits.TABLES + bans.TABLES


def open_store(path: Path) -> Store:
    return Store.open(path, name="relay", schema_version=1, tables=TABLES, sync=False)


def add_host(store: Store, hostname: str, *, last_seq: int = -1, **fields: Any) -> Host:
    host_store = HostStore(store)
    with store.write() as txn:
        host = host_store.add(txn, hostname, no_ssl=True, account_limit=100)
        if last_seq >= 0:
            host_store.set_cursor(txn, host.id, last_seq)
        row = host_store.get_by_id(txn, host.id)
        assert row is not None
        for name, value in fields.items():
            setattr(row, name, value)
        host_store.put(txn, row)
        return row


def frame(seq: int, *, pad: int = 0) -> bytes:
    """An ``#identity`` frame with ``seq`` (``pad`` bytes of handle make it big)."""
    body = {"seq": seq, "did": "did:plc:abc", "time": "2026-11-24T00:00:00Z"}
    if pad:
        body["handle"] = "x" * pad
    return encode_message("#identity", body, max_bytes=1 << 30)


class FakeUpstream:
    """``/xrpc/com.atproto.sync.subscribeRepos`` serving :attr:`frames` (seq > cursor; no
    cursor: only frames added later) and ``describeServer``. ``server`` is sent as the
    ``Server`` header; ``error`` is sent as the first frame, then the socket closes;
    ``reject`` answers the upgrade with 503; :meth:`drop` closes the open connections."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bytes]] = []
        self.server: str | None = None
        self.error: bytes | None = None
        self.reject = False
        #: The ``describeServer`` answer (None: 501).
        self.describe: bytes | None = (
            b'{"did": "did:web:upstream.test", "availableUserDomains": []}'
        )
        self.cursors: list[int | None] = []
        self.user_agents: list[str | None] = []
        self._generation = 0
        self._lock = threading.Lock()
        app = Starlette(
            routes=[
                WebSocketRoute("/xrpc/com.atproto.sync.subscribeRepos", self._stream),
                Route("/xrpc/com.atproto.server.describeServer", self._describe),
            ]
        )
        self._serving = serve_app(app, server_header=False)
        self.url = self._serving.__enter__()
        self.port = int(self.url.rsplit(":", 1)[1])

    def close(self) -> None:
        self._serving.__exit__(None, None, None)

    def add(self, *frames: tuple[int, bytes]) -> None:
        with self._lock:
            self.frames.extend(frames)

    def drop(self) -> None:
        """Close every open connection."""
        with self._lock:
            self._generation += 1

    def _headers(self) -> dict[str, str]:
        return {"server": self.server} if self.server else {}

    async def _describe(self, request: Request) -> Response:
        if self.describe is None:
            return JSONResponse({"error": "MethodNotImplemented"}, 501, self._headers())
        return Response(self.describe, media_type="application/json", headers=self._headers())

    async def _stream(self, ws: WebSocket) -> None:
        self.user_agents.append(ws.headers.get("user-agent"))
        raw = ws.query_params.get("cursor")
        cursor = None if raw is None else int(raw)
        self.cursors.append(cursor)
        if self.reject:
            await ws.close(code=1013)
            return
        headers = [(b"server", self.server.encode())] if self.server else None
        await ws.accept(headers=headers)
        if self.error is not None:
            await ws.send_bytes(self.error)
            await ws.close()
            return
        with self._lock:
            generation = self._generation
            after = cursor if cursor is not None else max((s for s, _ in self.frames), default=0)
        gone = asyncio.create_task(ws.receive())  # the client's close (or the server's stop)
        try:
            while not gone.done():
                with self._lock:
                    dropped = generation != self._generation
                    pending = [(s, f) for s, f in self.frames if s > after]
                if dropped:
                    await ws.close()
                    return
                for seq, data in pending:
                    await ws.send_bytes(data)
                    after = seq
                await asyncio.sleep(0.01)
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            gone.cancel()


@contextlib.contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    try:
        yield upstream
    finally:
        upstream.close()


async def eventually(check: Callable[[], bool], *, timeout: float = 20.0) -> None:
    """Wait until ``check()`` holds (fails the test after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def status(store: Store, host_id: int) -> HostStatus:
    row = HostStore(store).get_by_id(None, host_id)
    assert row is not None
    return row.status
