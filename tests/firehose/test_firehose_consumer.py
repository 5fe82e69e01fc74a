"""The reconnecting stream client: against the strato endpoint (replay, live, FutureCursor,
resuming after ConsumerTooSlow without gaps or duplicates) and against a scripted server that
sends malformed streams (each refused with its reason) or drops connections."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import pytest
from firehose_helpers import FirehoseService, serve, serve_stream, wait_for
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from strato.dagcbor import encode
from strato.errors import EventStreamError, FrameError
from strato.firehose import (
    Backoff,
    StreamClient,
    encode_error,
    encode_message,
    websocket_connector,
)

PATH = "/xrpc/com.atproto.sync.subscribeRepos"
FAST = Backoff(min_delay=0.01)


def test_connect_url_carries_the_cursor() -> None:
    client = StreamClient("ws://h:1/xrpc/x?cursor=5&other=1", cursor=None)
    assert client.connect_url(None) == "ws://h:1/xrpc/x?other=1"
    assert client.connect_url(42) == "ws://h:1/xrpc/x?other=1&cursor=42"
    assert StreamClient("ws://h/x").connect_url(0) == "ws://h/x?cursor=0"


def test_replay_then_live(tmp_path: Path) -> None:
    service = FirehoseService(tmp_path)
    service.append(count=3)

    async def run(address: str) -> tuple[list[tuple[str | None, int | None]], StreamClient]:
        client = StreamClient(f"ws://{address}{PATH}", cursor=0, reconnect=False)
        got = []
        async with aclosing(client.frames()) as frames:
            async for frame in frames:
                got.append((frame.t, frame.seq))
                if frame.seq == 3:
                    await asyncio.to_thread(service.append, "#identity")
                if frame.seq == 4:
                    break
        return got, client

    with serve_stream(service) as address:
        got, client = asyncio.run(run(address))
    assert got == [("#commit", 1), ("#commit", 2), ("#commit", 3), ("#identity", 4)]
    assert (client.last_seq, client.connections, client.failures) == (4, 1, 0)


def test_future_cursor_is_raised_even_when_reconnecting(tmp_path: Path) -> None:
    service = FirehoseService(tmp_path)

    async def run(address: str) -> None:
        async for _ in StreamClient(f"ws://{address}{PATH}", cursor=7, backoff=FAST).frames():
            pass

    with serve_stream(service) as address, pytest.raises(EventStreamError) as err:
        asyncio.run(run(address))
    assert err.value.error == "FutureCursor"


def test_resumes_after_consumer_too_slow_without_gaps(tmp_path: Path) -> None:
    service = FirehoseService(tmp_path, max_backlog_frames=4, live_backlog_frames=4)
    service.append()
    done = threading.Event()

    def writer() -> None:
        while not service.metric("strato_firehose_consumers_cut_total", reason="ConsumerTooSlow"):
            service.append(count=4, padding=64_000)
        service.append(count=5)
        done.set()

    async def run(address: str) -> tuple[list[int | None], StreamClient]:
        client = StreamClient(
            f"ws://{address}{PATH}",
            cursor=0,
            backoff=FAST,
            connector=websocket_connector(max_queue=1),
        )
        got: list[int | None] = []
        thread = threading.Thread(target=writer)
        async with aclosing(client.frames()) as frames:
            async for frame in frames:
                got.append(frame.seq)
                if len(got) == 1:  # stop reading until the server has cut us and the writer is done
                    thread.start()
                    await asyncio.to_thread(done.wait)
                if frame.seq == service.sequencer.head():
                    break
        thread.join()
        return got, client

    with serve_stream(service) as address:
        got, client = asyncio.run(run(address))
    assert got == list(range(1, service.sequencer.head() + 1))
    assert (client.connections, client.failures) == (2, 1)


class ScriptedServer:
    """A stream server that sends each connection the next script of raw messages, then
    closes (normally, or abruptly with ``drop``); it records each connection's query."""

    def __init__(self, scripts: list[list[bytes | str]], *, drop: bool = False) -> None:
        self.scripts = scripts
        self.drop = drop
        self.queries: list[str] = []
        self.app = Starlette(routes=[WebSocketRoute(PATH, self.endpoint)])

    async def endpoint(self, websocket: WebSocket) -> None:
        self.queries.append(websocket.url.query)
        await websocket.accept()
        for message in self.scripts.pop(0) if self.scripts else []:
            if isinstance(message, str):
                await websocket.send_text(message)
            else:
                await websocket.send_bytes(message)
        if self.drop:
            raise RuntimeError("connection dropped")  # uvicorn closes with 1011 / aborts
        await websocket.close()


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedServer, str]]:
    server = ScriptedServer([])
    with serve(server.app) as address:
        yield server, f"ws://{address}{PATH}"


def message(seq: int) -> bytes:
    return encode_message("#commit", {"seq": seq})


async def collect(client: StreamClient) -> list[int | None]:
    return [frame.seq async for frame in client.frames()]


BAD_STREAMS = [
    pytest.param(["not binary"], "text message on a binary stream", id="text"),
    pytest.param([message(1), b"\xa0"], "frame has a header but no payload", id="no-payload"),
    pytest.param([encode({"op": 1}) + encode({})], "message header has no t", id="no-t"),
    pytest.param([message(5), message(3)], "seq 3 after 5: not increasing", id="seq-back"),
    pytest.param([message(5), message(5)], "seq 5 after 5: not increasing", id="seq-repeat"),
]


@pytest.mark.parametrize(("script", "reason"), BAD_STREAMS)
def test_malformed_streams_are_refused(
    scripted: tuple[ScriptedServer, str], script: list[bytes | str], reason: str
) -> None:
    server, url = scripted
    server.scripts.append(script)
    with pytest.raises(FrameError) as err:
        asyncio.run(collect(StreamClient(url, reconnect=False)))
    assert err.value.reason == reason


def test_cursor_is_below_the_first_seq(scripted: tuple[ScriptedServer, str]) -> None:
    server, url = scripted
    server.scripts.append([message(3)])
    with pytest.raises(FrameError, match="seq 3 after 3: not increasing"):
        asyncio.run(collect(StreamClient(url, cursor=3, reconnect=False)))


def test_unknown_ops_are_skipped_and_types_passed(scripted: tuple[ScriptedServer, str]) -> None:
    server, url = scripted
    unknown_op = encode({"op": 7, "t": "#new"}) + encode({"seq": 2})
    unknown_type = encode_message("#future", {"seq": 3})
    server.scripts.append([message(1), unknown_op, unknown_type, message(4)])
    client = StreamClient(url, reconnect=False)
    assert asyncio.run(collect(client)) == [1, 3, 4]
    assert client.last_seq == 4


def test_error_frames_are_raised(scripted: tuple[ScriptedServer, str]) -> None:
    server, url = scripted
    server.scripts.append([message(1), encode_error("InternalError", "oops")])
    with pytest.raises(EventStreamError) as err:
        asyncio.run(collect(StreamClient(url, reconnect=False)))
    assert (err.value.error, err.value.message) == ("InternalError", "oops")


def test_reconnects_from_the_last_seq(tmp_path: Path) -> None:
    server = ScriptedServer(
        [[message(1), message(2)], [b"\xff"], [message(3)], [encode_error("ConsumerTooSlow")]],
        drop=True,
    )

    async def run(url: str) -> tuple[list[int | None], StreamClient]:
        client = StreamClient(url, backoff=Backoff(min_delay=0.01, max_delay=0.02))
        got: list[int | None] = []
        async with aclosing(client.frames()) as frames:
            async for frame in frames:
                got.append(frame.seq)
                if frame.seq == 3:
                    break
        return got, client

    with serve(server.app) as address:
        got, client = asyncio.run(run(f"ws://{address}{PATH}"))
        wait_for(lambda: len(server.queries) == 3)
    assert got == [1, 2, 3]
    assert server.queries == ["", "cursor=2", "cursor=2"]
    assert (client.connections, client.failures) == (3, 2)
