"""One fan-out process (:class:`strato.firehose.fanout.server.FanoutServer`) on 127.0.0.1 with real
WebSocket clients: replay from a cursor then live, cursor 0, live only, FutureCursor,
InvalidRequest, OutdatedCursor, the replay-to-live handover under concurrent appends, a
subscriber that falls behind (demoted to replay from the log and live again, exactly once and
in order; cut with ConsumerTooSlow past its lag bound or the retention window; a cursor replay
never cut for its lag), the per-IP limit, HTTP refusals, and the consumer table (the frames sent
published there by a worker, a failed round logged and the next one publishing, nothing
published by a fan-out in the service's own process); plus the handshake parser's refusals."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from fanout_helpers import TIMEOUT, complete_messages, receive, stream_url
from prometheus_client import CollectorRegistry
from strato.errors import StorageError
from strato.firehose import (
    SUBSCRIBE_REPOS_PATH,
    TABLES,
    Frame,
    LmdbEventLog,
    Retention,
    decode_frame,
    encode_message,
)
from strato.firehose.fanout.consumers import SENT, ConsumerRegistry
from strato.firehose.fanout.handshake import HandshakeError, parse_request
from strato.firehose.fanout.metrics import FanoutMetrics
from strato.firehose.fanout.server import FanoutOptions, FanoutServer
from strato.relay.consumers import fanout_consumers
from strato.storage import Store
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


class Log:
    """An event log the test appends to (as the ingest process would)."""

    def __init__(self, path: Path, retention: Retention | None = None) -> None:
        self.store = Store.open(path, name="relay", schema_version=1, tables=TABLES, sync=False)
        self.sequencer = LmdbEventLog(self.store, retention=retention or Retention(None, None))

    def append(self, count: int, *, padding: int = 0) -> list[bytes]:
        frames: list[bytes] = []
        with self.store.write() as txn:
            for _ in range(count):

                def build(seq: int) -> bytes:
                    frame = encode_message(
                        "#info", {"name": "n", "message": f"{seq}" + "x" * padding}
                    )
                    frames.append(frame)
                    return frame

                self.sequencer.append(txn, [build])
        return frames


@asynccontextmanager
async def running(
    tmp_path: Path, log: Log, **options: object
) -> AsyncIterator[tuple[FanoutServer, str]]:
    registry = ConsumerRegistry.open(tmp_path / "data", "relay")
    async with serving(log, registry, FanoutOptions(**options)) as running:  # type: ignore[arg-type]
        yield running


@asynccontextmanager
async def serving(
    log: Log, registry: ConsumerRegistry, options: FanoutOptions, *, publish_sent: bool = False
) -> AsyncIterator[tuple[FanoutServer, str]]:
    """A fan-out server on 127.0.0.1 with ``registry``, which it closes."""
    metrics = FanoutMetrics(CollectorRegistry())
    server = FanoutServer(log.sequencer, registry, metrics, options, publish_sent=publish_sent)
    sock = socket.create_server(("127.0.0.1", 0))
    await server.start(sock)
    try:
        yield server, f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await server.stop()
        sock.close()
        registry.close()


def seqs(frames: list[Frame]) -> list[int]:
    return [int(frame.body["message"].rstrip("x")) for frame in frames]


async def wait_for(predicate: object) -> None:
    async def poll() -> None:
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), TIMEOUT)


def cut_count(server: FanoutServer, reason: str) -> float:
    return float(server.metrics.consumers_cut.labels(reason)._value.get())


def test_replay_from_a_cursor_then_live(tmp_path: Path) -> None:
    log = Log(tmp_path / "log")
    log.append(5)

    async def main() -> None:
        async with running(tmp_path, log) as (server, address):
            async with connect(stream_url(address, 2)) as ws:
                assert seqs(await receive(ws, 3)) == [3, 4, 5]
                stored = log.append(2)
                server.notify()
                frames = [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(2)]
                assert frames == stored  # the stored bytes, unchanged
            async with connect(stream_url(address, 0)) as ws:
                assert seqs(await receive(ws, 7)) == [1, 2, 3, 4, 5, 6, 7]

    asyncio.run(main())


@pytest.mark.parametrize("cursor", [None, ""], ids=["absent", "empty"])
def test_live_only_starts_at_the_head_even_before_the_pump_announces_it(
    tmp_path: Path, cursor: str | None
) -> None:
    log = Log(tmp_path / "log")
    log.append(2)

    async def main() -> None:
        async with running(tmp_path, log, poll_interval=3600.0) as (server, address):
            log.append(1)  # durable, not yet announced: not for a subscriber that comes now
            async with connect(stream_url(address, cursor)) as ws:
                await wait_for(lambda: server.connection_count == 1)
                await asyncio.sleep(0.05)  # let the connection reach its start
                log.append(2)
                server.notify()
                assert seqs(await receive(ws, 2)) == [4, 5]

    asyncio.run(main())


@pytest.mark.parametrize(
    ("cursor", "error"),
    [
        (99, "FutureCursor"),
        ("abc", "InvalidRequest"),
        ("-1", "InvalidRequest"),
        ("9" * 5000, "InvalidRequest"),
        (2**63, "InvalidRequest"),
    ],
    ids=["future", "letters", "negative", "5000-digits", "2^63"],
)
def test_bad_cursors_get_an_error_frame_and_close_1008(
    tmp_path: Path, cursor: object, error: str
) -> None:
    log = Log(tmp_path / "log")
    log.append(3)

    async def main() -> None:
        async with running(tmp_path, log) as (server, address):
            async with connect(stream_url(address, cursor)) as ws:
                (frame,) = await receive(ws, 1)
                assert frame.is_error
                assert frame.body["error"] == error
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
                assert ws.close_code == 1008
                assert ws.close_reason == error
            assert cut_count(server, error) == 1
            await wait_for(lambda: server.connection_count == 0)
            assert server.registry.list() == []

    asyncio.run(main())


def test_an_outdated_cursor_gets_the_info_frame_then_the_window(tmp_path: Path) -> None:
    log = Log(tmp_path / "log")
    frames = log.append(5)
    # Keep the newest two events: each is stored as 8 bytes of time and its frame.
    log.sequencer.retention = Retention(max_age_seconds=None, max_bytes=2 * (8 + len(frames[0])))
    log.sequencer.prune()
    assert log.sequencer.oldest() == 4

    async def main() -> None:
        async with running(tmp_path, log) as (_, address), connect(stream_url(address, 2)) as ws:
            info, *events = await receive(ws, 3)
            assert info.t == "#info"
            assert info.body["name"] == "OutdatedCursor"
            assert seqs(events) == [4, 5]

    asyncio.run(main())


def test_the_handover_loses_and_repeats_nothing_under_concurrent_appends(tmp_path: Path) -> None:
    log = Log(tmp_path / "log")
    log.append(300, padding=2000)

    async def main() -> None:
        async with running(tmp_path, log) as (server, address):

            async def writer() -> None:
                for _ in range(60):
                    log.append(5, padding=2000)
                    server.notify()
                    await asyncio.sleep(0.001)

            async with connect(stream_url(address, 0), max_size=None) as ws:
                task = asyncio.create_task(writer())
                got = await receive(ws, 600)
                await task
            assert seqs(got) == list(range(1, 601))

    asyncio.run(main())


class Subscriber:
    """A subscriber on a plain socket whose receive buffer is small, so the server's writes to
    it stall soon after it stops reading, but not below loopback's segment (64 kB): a window
    under one segment is sent at the pace of TCP's persist timer. It keeps what it reads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.messages: list[tuple[int, bytes]] = []

    @classmethod
    async def connect(cls, address: str, cursor: int | None = None) -> Subscriber:
        loop = asyncio.get_running_loop()
        host, port = address.split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, int(port)))
        query = "" if cursor is None else f"?cursor={cursor}"
        await loop.sock_sendall(
            sock,
            (
                f"GET {SUBSCRIBE_REPOS_PATH}{query} HTTP/1.1\r\nHost: x\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode(),
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += await loop.sock_recv(sock, 1)
        assert head.startswith(b"HTTP/1.1 101")
        return cls(sock)

    async def receive(self) -> bool:
        """Read what has come (False at the end of the stream)."""
        loop = asyncio.get_running_loop()
        chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 16), TIMEOUT)
        self.buffer += chunk
        messages, used = complete_messages(bytes(self.buffer))
        del self.buffer[:used]
        self.messages += messages
        return bool(chunk)

    def seqs(self) -> list[int]:
        return seqs([decode_frame(payload) for _, payload in self.messages])

    async def read_through(self, seq: int) -> None:
        """Read until the event ``seq`` has come (the last message read is an event)."""
        while not self.messages or self._last_seq() < seq:
            assert await self.receive(), "the stream ended"

    def _last_seq(self) -> int:
        last = decode_frame(self.messages[-1][1])
        return 0 if last.body["name"] == "OutdatedCursor" else seqs([last])[0]

    async def read_to_end(self) -> None:
        while await self.receive():
            pass


async def live_subscriber(server: FanoutServer, address: str) -> Subscriber:
    """A subscriber without a cursor, live once this returns (it has nothing to replay)."""
    subscriber = await Subscriber.connect(address)
    await wait_for(lambda: server.connection_count == 1)
    await asyncio.sleep(0.05)  # its start has run: it is in the live set
    return subscriber


def lagging_count(server: FanoutServer) -> float:
    return float(server.metrics.consumers_lagging._value.get())


async def stall(server: FanoutServer, log: Log, until: Callable[[], bool]) -> None:
    """Append events of 20 kB, 10 at a time, until ``until()`` holds."""
    for _ in range(300):
        if until():
            return
        log.append(10, padding=20_000)
        server.notify()
        await asyncio.sleep(0.01)
    raise AssertionError("the subscriber never fell behind")


def assert_cut_as_too_slow(messages: list[tuple[int, bytes]]) -> list[int]:
    """The seqs a subscriber got before its ``ConsumerTooSlow`` frame and close 1008: 1, 2, 3..."""
    *events, (error_op, error), (close_op, close) = messages
    got = seqs([decode_frame(payload) for _, payload in events])
    assert got == list(range(1, len(events) + 1))
    assert error_op == 2
    assert decode_frame(error).body["error"] == "ConsumerTooSlow"
    assert close_op == 8
    assert close[:2] == (1008).to_bytes(2, "big")
    return got


def test_a_stalled_subscriber_is_demoted_then_cut_when_its_lag_passes_the_bound(
    tmp_path: Path,
) -> None:
    log = Log(tmp_path / "log")

    async def main() -> None:
        options = {"live_backlog_frames": 4, "max_backlog_frames": 300}
        async with running(tmp_path, log, **options) as (server, address):
            subscriber = await live_subscriber(server, address)
            queued: list[int] = []

            def cut() -> bool:
                queued.append(server.writer.stats()[3])
                return bool(cut_count(server, "ConsumerTooSlow"))

            await stall(server, log, cut)
            assert lagging_count(server) == 1
            # The writer held the live bound and the batch before the demotion for it, and no
            # replay batch on top while that was not written: never its lag, which reached 300.
            assert max(queued) <= 4 + 10
            await subscriber.read_to_end()
            got = assert_cut_as_too_slow(subscriber.messages)
            assert server.published - len(got) > 300
            assert cut_count(server, "ConsumerTooSlow") == 1
            subscriber.sock.close()
            await wait_for(lambda: server.connection_count == 0)
            assert server.lagging_count == 0

    asyncio.run(main())


def test_a_subscriber_that_falls_behind_gets_every_event_once_and_goes_live_again(
    tmp_path: Path,
) -> None:
    log = Log(tmp_path / "log")

    async def main() -> None:
        options = {"live_backlog_frames": 4, "max_backlog_frames": 100_000}
        async with running(tmp_path, log, **options) as (server, address):
            subscriber = await live_subscriber(server, address)
            for demotions in (1, 2):  # the second proves it was live again

                def demoted(times: int = demotions) -> bool:
                    return lagging_count(server) == times

                await stall(server, log, demoted)
                assert server.lagging_count == 1
                log.append(50, padding=20_000)  # more while it is behind
                server.notify()
                await wait_for(lambda: server.published == log.sequencer.head())
                await subscriber.read_through(server.published)
                await wait_for(lambda: server.lagging_count == 0)
            assert subscriber.seqs() == list(range(1, server.published + 1))
            assert cut_count(server, "ConsumerTooSlow") == 0
            subscriber.sock.close()

    asyncio.run(main())


def test_an_outdated_cursor_is_said_once_even_when_the_subscriber_is_demoted_later(
    tmp_path: Path,
) -> None:
    log = Log(tmp_path / "log")
    frames = log.append(20)
    log.sequencer.retention = Retention(max_age_seconds=None, max_bytes=10 * (8 + len(frames[-1])))
    log.sequencer.prune()

    async def main() -> None:
        options = {"live_backlog_frames": 4, "max_backlog_frames": 100_000}
        async with running(tmp_path, log, **options) as (server, address):
            subscriber = await Subscriber.connect(address, cursor=1)
            await subscriber.read_through(20)
            await stall(server, log, lambda: lagging_count(server) == 1)
            server.notify()
            await wait_for(lambda: server.published == log.sequencer.head())
            await subscriber.read_through(server.published)
            decoded = [decode_frame(payload) for _, payload in subscriber.messages]
            names = [frame.body["name"] for frame in decoded]
            assert names.count("OutdatedCursor") == 1
            assert names[0] == "OutdatedCursor"
            got = seqs(decoded[1:])  # from the oldest kept, every event once, in order
            assert got[0] > 2
            assert got == list(range(got[0], server.published + 1))
            subscriber.sock.close()

    asyncio.run(main())


def test_a_subscriber_replaying_from_an_old_cursor_is_not_cut_for_its_lag(tmp_path: Path) -> None:
    log = Log(tmp_path / "log")
    log.append(300, padding=20_000)

    async def main() -> None:
        options = {"live_backlog_frames": 4, "max_backlog_frames": 20}
        async with running(tmp_path, log, **options) as (server, address):
            subscriber = await Subscriber.connect(address, cursor=0)
            await wait_for(lambda: server.connection_count == 1)
            for _ in range(5):  # each publish judges the lags of the demoted
                log.append(10, padding=20_000)
                server.notify()
                await wait_for(lambda: server.published == log.sequencer.head())
            await subscriber.read_through(350)
            assert subscriber.seqs() == list(range(1, 351))
            assert cut_count(server, "ConsumerTooSlow") == 0
            assert lagging_count(server) == 0
            subscriber.sock.close()

    asyncio.run(main())


def test_a_cursor_replayer_that_takes_nothing_is_cut_at_the_stall_timeout(tmp_path: Path) -> None:
    log = Log(tmp_path / "log")
    log.append(300, padding=20_000)  # more than its socket buffers hold

    async def main() -> None:
        options = {"stall_timeout": 0.3, "cut_grace": 0.3, "max_backlog_frames": 100_000}
        async with running(tmp_path, log, **options) as (server, address):
            subscriber = await Subscriber.connect(address, cursor=0)
            await wait_for(lambda: server.connection_count == 0)
            assert cut_count(server, "ConsumerTooSlow") == 1
            assert server.writer.stats()[4] == 0  # nothing held for it
            await subscriber.read_to_end()
            # What its socket had taken, from the start; the error frame and the close only
            # if there was room for them.
            decoded = [decode_frame(payload) for op, payload in subscriber.messages if op == 2]
            got = seqs([frame for frame in decoded if "name" in frame.body])
            assert got == list(range(1, len(got) + 1))
            assert all(frame.body["error"] == "ConsumerTooSlow" for frame in decoded[len(got) :])
            assert len(got) < 300
            subscriber.sock.close()

    asyncio.run(main())


def test_a_demoted_subscriber_is_cut_when_retention_dropped_what_it_was_not_given(
    tmp_path: Path,
) -> None:
    log = Log(tmp_path / "log")

    async def main() -> None:
        options = {"live_backlog_frames": 4, "max_backlog_frames": 100_000, "poll_interval": 3600.0}
        async with running(tmp_path, log, **options) as (server, address):
            subscriber = await live_subscriber(server, address)
            await stall(server, log, lambda: lagging_count(server) == 1)
            # Not announced: its replay cannot have been given these.
            frames = log.append(20, padding=20_000)
            log.sequencer.retention = Retention(
                max_age_seconds=None, max_bytes=5 * (8 + len(frames[-1]))
            )
            log.sequencer.prune()
            server.notify()
            await wait_for(lambda: server.published == log.sequencer.head())
            await subscriber.read_to_end()
            got = assert_cut_as_too_slow(subscriber.messages)
            oldest = log.sequencer.oldest()
            assert oldest is not None
            assert got[-1] < oldest - 1  # a gap: never silently skipped
            assert cut_count(server, "ConsumerTooSlow") == 1
            subscriber.sock.close()

    asyncio.run(main())


def test_the_per_ip_limit_refuses_with_429_and_the_table_lists_consumers(tmp_path: Path) -> None:
    log = Log(tmp_path / "log")
    log.append(1)

    async def main() -> None:
        async with running(tmp_path, log, max_per_ip=2) as (server, address):
            async with (
                connect(stream_url(address, 1)) as first,
                connect(stream_url(address)) as second,
            ):
                with pytest.raises(InvalidStatus) as refused:
                    await connect(stream_url(address))
                assert refused.value.response.status_code == 429
                assert refused.value.response.headers["Retry-After"] == "10"
                assert cut_count(server, "ConnectionLimit") == 1
                listed = server.registry.list()
                assert [(c.remote, c.cursor) for c in listed] == [
                    ("127.0.0.1", 1),
                    ("127.0.0.1", None),
                ]
                assert {c.user_agent.split()[-1].split("/")[0] for c in listed} == {"websockets"}
                # The rows are what the relay admin API's consumer listing reads (this
                # process's: from "main").
                admin = fanout_consumers(server.registry.list)()
                assert [(c.source, c.remote_addr, c.cursor) for c in admin] == [
                    ("main", "127.0.0.1", 1),
                    ("main", "127.0.0.1", None),
                ]
                del first, second
            await wait_for(lambda: server.registry.list() == [])

    asyncio.run(main())


class FailingOnce(ConsumerRegistry):
    """The consumer table, whose first publication of counts fails (as on a full map); it
    notes the threads that publish."""

    failed = False
    threads: ClassVar[set[int]] = set()

    def record_sent(self, sent: Mapping[int, int]) -> None:
        self.threads.add(threading.get_ident())
        if not self.failed:
            self.failed = True
            raise StorageError("write failed: MDB_MAP_FULL")
        super().record_sent(sent)


def test_a_worker_publishes_the_frames_sent_after_a_failed_round(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = Log(tmp_path / "log")
    log.append(3)

    async def main() -> None:
        registry = FailingOnce(ConsumerRegistry.open(tmp_path / "data", "relay").store)
        options = FanoutOptions(sent_interval=0.01)
        async with serving(log, registry, options, publish_sent=True) as (_, address):
            main_process = ConsumerRegistry(registry.store)
            async with connect(stream_url(address, 0)) as ws:
                await receive(ws, 3)
                await wait_for(lambda: [c.events_sent for c in main_process.list()] == [3])
            assert registry.failed
            # Off the event loop, whose subscribers do not wait for the table's write lock.
            assert threading.get_ident() not in FailingOnce.threads

    with caplog.at_level(logging.WARNING, "strato.firehose.fanout"):
        asyncio.run(main())
    [failure] = [r for r in caplog.records if "publish" in r.getMessage()]
    assert failure.levelno == logging.WARNING
    assert failure.exc_info is not None
    assert isinstance(failure.exc_info[1], StorageError)


def test_a_fanout_in_the_services_own_process_publishes_no_counts(tmp_path: Path) -> None:
    log = Log(tmp_path / "log")
    log.append(3)

    async def main() -> None:
        async with (
            running(tmp_path, log, sent_interval=0.01) as (server, address),
            connect(stream_url(address, 0)) as ws,
        ):
            await receive(ws, 3)
            await wait_for(lambda: [c.events_sent for c in server.consumers()] == [3])
            await asyncio.sleep(0.2)  # rounds a publishing server would have had
            assert [c.events_sent for c in server.registry.list()] == [None]
            with server.registry.store.read() as txn:
                assert txn.count(SENT) == 0

    asyncio.run(main())


def test_behind_a_trusted_proxy_subscribers_count_by_their_forwarded_address(
    tmp_path: Path,
) -> None:
    log = Log(tmp_path / "log")

    def by(client: str) -> dict[str, str]:
        return {"X-Forwarded-For": client}

    async def main() -> None:
        async with running(tmp_path, log, max_per_ip=1, trusted_proxies=1) as (server, address):
            first = await connect(stream_url(address), additional_headers=by("203.0.113.1"))
            second = await connect(stream_url(address), additional_headers=by("203.0.113.2"))
            with pytest.raises(InvalidStatus) as refused:
                await connect(stream_url(address), additional_headers=by("203.0.113.2"))
            assert refused.value.response.status_code == 429
            listed = sorted(c.remote for c in server.registry.list())
            assert listed == ["203.0.113.1", "203.0.113.2"]
            await first.close()
            await second.close()

    asyncio.run(main())


def test_http_requests_that_are_not_an_upgrade_are_refused(tmp_path: Path) -> None:
    log = Log(tmp_path / "log")

    async def main() -> None:
        async with (
            running(tmp_path, log, server_header="atproto-relay") as (_, address),
            httpx.AsyncClient(base_url=f"http://{address}") as http,
        ):
            plain = await http.get(SUBSCRIBE_REPOS_PATH)
            assert plain.status_code == 426
            assert plain.json()["error"] == "InvalidRequest"
            assert plain.headers["Server"] == "atproto-relay"
            other = await http.get("/xrpc/_health")
            assert other.status_code == 404

    asyncio.run(main())


HEAD = (
    "GET /p?cursor=5 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade"
    "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def test_a_valid_head_parses() -> None:
    request = parse_request(HEAD.encode(), path="/p")
    assert request.query == {"cursor": ["5"]}
    assert request.key == "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (("GET /p?", "POST /p?"), 405),
        (("GET /p?", "GET /q?"), 404),
        (("HTTP/1.1", "HTTP/1.0"), 400),
        (("Upgrade: websocket", "Upgrade: h2c"), 426),
        (("keep-alive, Upgrade", "keep-alive"), 426),
        (("Version: 13", "Version: 8"), 426),
        (("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="), 400),
        (("Host: x", "Host x"), 400),
    ],
)
def test_handshake_refusals(change: tuple[str, str], status: int) -> None:
    with pytest.raises(HandshakeError) as refused:
        parse_request(HEAD.replace(*change).encode(), path="/p")
    assert refused.value.status == status
