"""The stream client as a service uses it (raw frames, a cursor store, hooks) against a real
websocket server on 127.0.0.1 that serves a log from the cursor asked: resuming after drops
without gaps or duplicates, with the cursor persisted in LMDB (as an indexer keeps it); the
backoff growing on connections that end early and reset after a healthy one; the frame cap;
error frames surfaced as typed endings; pauses and refusals from the hooks."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import pytest
from firehose_helpers import serve
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from strato.errors import EventStreamError
from strato.firehose import (
    Backoff,
    MemoryCursor,
    StreamClient,
    StreamHooks,
    decode_frame,
    encode_message,
)
from strato.firehose.consumer import Ending, StreamRefusedError
from strato.firehose.frames import encode_error
from strato.storage import Store, from_u64, u64
from websockets.asyncio.client import ClientConnection

PATH = "/xrpc/com.atproto.sync.subscribeRepos"


def frame(seq: int, *, pad: int = 0) -> bytes:
    return encode_message("#identity", {"seq": seq, "did": "did:plc:abc", "handle": "x" * pad})


class LogServer:
    """Serves :attr:`log` (``(seq, frame)``) from each connection's cursor (no cursor: only
    frames added later). A connection ends after ``cuts.pop(0)`` frames when one is queued
    (dropped without a close frame, or closed normally with ``clean``), after sending
    ``errors.pop(0)`` when one is queued; else it stays open, sending frames as they are added,
    until the client leaves or :attr:`release` is set."""

    def __init__(self, log: list[tuple[int, bytes]], *, clean: bool = False) -> None:
        self.log = log
        self.clean = clean
        self.cuts: list[int] = []
        self.errors: list[bytes] = []
        self.cursors: list[int | None] = []
        self.release = threading.Event()
        self.app = Starlette(routes=[WebSocketRoute(PATH, self.endpoint)])

    async def endpoint(self, websocket: WebSocket) -> None:
        raw = websocket.query_params.get("cursor")
        after = None if raw is None else int(raw)
        self.cursors.append(after)
        if after is None:
            after = max((seq for seq, _ in self.log), default=0)
        await websocket.accept()
        if self.errors:
            await websocket.send_bytes(self.errors.pop(0))
            await websocket.close()
            return
        gone = asyncio.create_task(websocket.receive())  # the client's close
        try:
            drop = await self._send(websocket, after, gone)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client went away
        finally:
            gone.cancel()
        if drop:
            raise RuntimeError("connection dropped")  # uvicorn aborts it

    async def _send(self, websocket: WebSocket, after: int, gone: asyncio.Task[object]) -> bool:
        """Send the log after ``after`` until the cut (True: drop the connection now), the
        client leaves, or :attr:`release`."""
        cut = self.cuts.pop(0) if self.cuts else None
        sent = 0
        while not self.release.is_set() and not gone.done():
            for seq, data in [(s, d) for s, d in self.log if s > after]:
                if sent == cut:
                    break
                await websocket.send_bytes(data)
                after, sent = seq, sent + 1
            if sent == cut and not self.clean:
                return True
            if sent == cut:
                break
            await asyncio.sleep(0.01)
        if not gone.done():
            await websocket.close()
        return False


@pytest.fixture
def log_server() -> Iterator[tuple[LogServer, str]]:
    server = LogServer([(seq, frame(seq)) for seq in range(1, 11)])
    with serve(server.app) as address:
        yield server, f"ws://{address}{PATH}"


class Recorder(StreamHooks):
    """Hooks that record every ending and the backoff offered after it; after ``stop_after``
    endings the subscription ends."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.endings: list[Ending] = []
        self.backoffs: list[float] = []
        self.stop_after = stop_after

    async def connecting(self) -> bool:
        return self.stop_after is None or len(self.endings) < self.stop_after

    async def closed(self, ending: Ending, backoff: float) -> float:
        self.endings.append(ending)
        self.backoffs.append(backoff)
        return backoff

    @property
    def reasons(self) -> list[str | None]:
        return [ending.reason for ending in self.endings]


CURSORS = "cursors"
FRAMES = "frames"


class LmdbIndex:
    """An indexer's own LMDB store: each frame and the cursor written in one transaction; the
    cursor store of its stream client."""

    def __init__(self, path: Path) -> None:
        self.store = Store.open(
            path, name="index", schema_version=1, tables=(CURSORS, FRAMES), sync=False
        )

    async def load(self) -> int | None:
        with self.store.read() as txn:
            value = txn.get(CURSORS, b"upstream")
        return None if value is None else from_u64(value)

    async def handle(self, data: bytes, seq: int) -> None:
        with self.store.write() as txn:
            txn.put(FRAMES, u64(seq), data)
            txn.put(CURSORS, b"upstream", u64(seq))

    def frames(self) -> list[bytes]:
        with self.store.read() as txn:
            return [value for _, value in txn.items(FRAMES)]


def seq_of(data: bytes) -> int:
    """The seq of :func:`frame`'s frames (the handler's business, not the client's)."""
    seq = decode_frame(data).seq
    assert seq is not None
    return seq


FAST = Backoff(min_delay=0.01, max_delay=0.05)


async def read_until(
    client: StreamClient, last: int, cursor: MemoryCursor | None = None
) -> list[int]:
    """The seqs of the raw frames read up to seq ``last``, each committed to ``cursor``."""
    got: list[int] = []
    async with aclosing(client.raw_frames()) as frames:
        async for data in frames:
            got.append(seq_of(data))
            if cursor is not None:
                cursor.commit(got[-1])
            if got[-1] == last:
                break
    return got


def test_drops_resume_from_the_persisted_cursor_without_gaps_or_duplicates(
    tmp_path: Path, log_server: tuple[LogServer, str]
) -> None:
    server, url = log_server
    server.cuts = [3, 0, 4]  # three frames, none, four: each connection then dropped
    index = LmdbIndex(tmp_path / "index")
    with index.store.write() as txn:
        txn.put(CURSORS, b"upstream", u64(0))

    async def read(until: int) -> Recorder:
        hooks = Recorder()
        client = StreamClient(url, cursor=index, hooks=hooks, backoff=Backoff(0.01, 0.05))
        async with aclosing(client.raw_frames()) as frames:
            async for data in frames:
                await index.handle(data, seq_of(data))
                if seq_of(data) == until:
                    break
        return hooks

    hooks = asyncio.run(read(10))
    assert index.frames() == [data for _, data in server.log]  # byte for byte, once each
    assert server.cursors == [0, 3, 3, 7]
    assert hooks.reasons == ["connection_lost"] * 3

    # a new client (a restart) resumes after what was committed
    server.log += [(11, frame(11)), (12, frame(12))]
    asyncio.run(read(12))
    assert server.cursors[4:] == [10]
    assert index.frames() == [data for _, data in server.log]
    index.store.close()


def test_the_decoded_view_resumes_after_the_last_seq_yielded(
    log_server: tuple[LogServer, str],
) -> None:
    server, url = log_server
    server.cuts = [4]

    async def read() -> list[int | None]:
        client = StreamClient(url, cursor=0, backoff=Backoff(0.01, 0.05))
        got: list[int | None] = []
        async with aclosing(client.frames()) as frames:
            async for decoded in frames:
                got.append(decoded.seq)
                if decoded.seq == 10:
                    break
        return got

    assert asyncio.run(read()) == list(range(1, 11))
    assert server.cursors == [0, 4]


def test_a_memory_cursor_is_committed_by_the_handler(log_server: tuple[LogServer, str]) -> None:
    server, url = log_server
    server.cuts = [5]
    cursor = MemoryCursor(2)

    client = StreamClient(url, cursor=cursor, backoff=FAST)
    assert asyncio.run(read_until(client, 10, cursor)) == list(range(3, 11))
    assert server.cursors == [2, 7]


def test_backoff_grows_on_connections_that_end_early_and_resets_after_a_healthy_one() -> None:
    # every connection sends one frame and closes normally: no error, but not healthy either
    server = LogServer([(seq, frame(seq)) for seq in range(1, 7)], clean=True)
    server.cuts = [1] * 5 + [100]  # the 6th connection stays up until released
    backoff = Backoff(min_delay=0.01, max_delay=10.0, healthy_after=0.2)

    async def read(url: str) -> Recorder:
        hooks = Recorder(stop_after=6)
        client = StreamClient(url, cursor=0, hooks=hooks, backoff=backoff)
        async with aclosing(client.raw_frames()) as frames:
            async for data in frames:
                if seq_of(data) == 6:
                    await asyncio.sleep(0.3)  # up longer than healthy_after
                    server.release.set()  # then the server closes it normally
        return hooks

    with serve(server.app) as address:
        hooks = asyncio.run(read(f"ws://{address}{PATH}"))
    assert hooks.reasons == [None] * 6
    early = hooks.backoffs[:5]
    assert early == sorted(early)  # each wait at least the one before
    assert early[-1] >= 8 * backoff.min_delay  # the 5th: min_delay x 16, jittered
    assert hooks.backoffs[5] <= backoff.min_delay  # after the healthy one: a short jitter
    assert backoff.failures == 0


#: The jittered waits after 1..5 failures with min 1 and max 4: 1, 2, 4, 4, 4, each halved
#: at worst.
BOUNDS = [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (2.0, 4.0), (2.0, 4.0)]


def test_backoff_counts_failures_in_a_row() -> None:
    backoff = Backoff(min_delay=1.0, max_delay=4.0, healthy_after=30.0)
    failed = Ending(reason="connect_failed")
    waits = [backoff.next(failed) for _ in range(5)]
    assert backoff.failures == 5
    assert all(low <= wait <= high for wait, (low, high) in zip(waits, BOUNDS, strict=True))
    early = Ending(opened_at=time.monotonic())  # opened, ended at once
    assert 2.0 <= backoff.next(early) <= 4.0
    assert backoff.failures == 6
    assert backoff.next(Ending(paused=True)) == 0.0  # a pause is not a failure
    assert backoff.failures == 6
    healthy = Ending(opened_at=time.monotonic() - 60)
    assert backoff.next(healthy) <= 1.0
    assert backoff.failures == 0


def test_an_oversized_frame_ends_the_connection_and_the_next_resumes_past_it() -> None:
    server = LogServer([(1, frame(1)), (2, frame(2)), (3, frame(3, pad=2000)), (4, frame(4))])
    hooks = Recorder()

    cursor = MemoryCursor(0)

    with serve(server.app) as address:
        url = f"ws://{address}{PATH}"
        client = StreamClient(url, cursor=cursor, hooks=hooks, backoff=FAST, max_frame_bytes=1000)
        assert asyncio.run(read_until(client, 4, cursor)) == [1, 2, 4]
    assert hooks.reasons == ["frame_too_big"]
    assert server.cursors == [0, 3]


def test_error_frames_are_typed_endings(log_server: tuple[LogServer, str]) -> None:
    server, url = log_server
    server.errors = [encode_error("ConsumerTooSlow"), encode_error("FutureCursor", "ahead")]
    hooks = Recorder()

    # every error frame retried (as the relay does): the third connection reads the log
    client = StreamClient(url, cursor=8, hooks=hooks, backoff=FAST, retry_errors=None)
    assert asyncio.run(read_until(client, 10)) == [9, 10]
    assert hooks.reasons == ["upstream_error", "future_cursor"]
    errors = [ending.error for ending in hooks.endings]
    assert all(isinstance(error, EventStreamError) for error in errors)
    assert [(e.error, e.message) for e in errors if isinstance(e, EventStreamError)] == [
        ("ConsumerTooSlow", ""),
        ("FutureCursor", "ahead"),
    ]
    assert server.cursors == [8, 8, 8]


class Pausing(Recorder):
    """Admits five frames, then pauses once; refuses the third connection."""

    def __init__(self) -> None:
        super().__init__()
        self.admitted = 0
        self.opened_count = 0

    async def opened(self, websocket: ClientConnection) -> None:
        self.opened_count += 1
        if self.opened_count == 3:
            raise StreamRefusedError("refused", "enough")

    async def admit(self) -> bool:
        self.admitted += 1
        return self.admitted != 6


def test_a_pause_closes_the_connection_and_a_refusal_ends_the_subscription(
    log_server: tuple[LogServer, str],
) -> None:
    server, url = log_server
    hooks = Pausing()
    cursor = MemoryCursor(0)

    async def read() -> list[int]:
        client = StreamClient(url, cursor=cursor, hooks=hooks, backoff=FAST)
        got: list[int] = []
        async with aclosing(client.raw_frames()) as frames:
            async for data in frames:
                got.append(seq_of(data))
                cursor.commit(seq_of(data))
                if got[-1] == 10:
                    server.release.set()  # the server closes: a third connection
        return got

    assert asyncio.run(read()) == list(range(1, 11))
    assert server.cursors == [0, 5, 10]
    assert [(e.reason, e.paused, e.final) for e in hooks.endings] == [
        (None, True, False),
        (None, False, False),
        ("refused", False, True),
    ]
    assert hooks.backoffs[0] == 0.0
