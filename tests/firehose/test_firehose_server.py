"""``subscribeRepos`` as a service serves it in its own process (its HTTP server hands each
upgrade to the fan-out and the Rust frame writer) on 127.0.0.1, read by real WebSocket clients:
live, cursor replay, cursor=0, FutureCursor, OutdatedCursor, the replay-to-live handover under
concurrent appends, slow consumers, identical bytes for every subscriber, connection limits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fanout_helpers import TIMEOUT, receive, stream_url
from firehose_helpers import FirehoseService, serve_stream, wait_for
from strato.firehose import SUBSCRIBE_REPOS_PATH, Frame, Retention, decode_frame
from strato.service.limits import ConnectionLimits
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


@pytest.fixture
def service(tmp_path: Path) -> FirehoseService:
    return FirehoseService(tmp_path / "log")


@pytest.fixture(name="address")
def _address(service: FirehoseService) -> Iterator[str]:
    with serve_stream(service) as address:
        yield address


async def until_closed(ws: ClientConnection) -> list[Frame]:
    """Every frame until the server closes the connection."""
    frames = []
    try:
        while True:
            data = await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert isinstance(data, bytes)
            frames.append(decode_frame(data))
    except ConnectionClosed:
        return frames


def seqs(frames: list[Frame]) -> list[int | None]:
    return [frame.seq for frame in frames]


async def subscribed(service: FirehoseService, count: int = 1) -> None:
    await asyncio.to_thread(wait_for, lambda: service.subscriber_count == count)


@pytest.mark.parametrize("cursor", [None, ""], ids=["absent", "empty"])
def test_no_cursor_is_live_only(service: FirehoseService, address: str, cursor: str | None) -> None:
    service.append(count=3)

    async def run() -> list[Frame]:
        async with connect(stream_url(address, cursor)) as ws:
            await subscribed(service)
            service.append("#identity")
            service.append("#account", count=2)
            return await receive(ws, 3)

    frames = asyncio.run(run())
    assert seqs(frames) == [4, 5, 6]
    assert [frame.t for frame in frames] == ["#identity", "#account", "#account"]


def test_cursor_replays_then_goes_live(service: FirehoseService, address: str) -> None:
    service.append(count=10)

    async def run() -> list[Frame]:
        async with connect(stream_url(address, 4)) as ws:
            replayed = await receive(ws, 6)
            service.append(count=2)
            return replayed + await receive(ws, 2)

    assert seqs(asyncio.run(run())) == list(range(5, 13))


def test_cursor_zero_is_the_whole_window(service: FirehoseService, address: str) -> None:
    service.append(count=5)

    async def run() -> list[Frame]:
        async with connect(stream_url(address, 0)) as ws:
            replayed = await receive(ws, 5)
            service.append()
            return replayed + await receive(ws, 1)

    frames = asyncio.run(run())
    assert seqs(frames) == [1, 2, 3, 4, 5, 6]
    assert all(frame.t == "#commit" for frame in frames)


def test_cursor_at_the_head_gets_only_new_events(service: FirehoseService, address: str) -> None:
    service.append(count=3)

    async def run() -> list[Frame]:
        async with connect(stream_url(address, 3)) as ws:
            await subscribed(service)
            service.append()
            return await receive(ws, 1)

    assert seqs(asyncio.run(run())) == [4]


def test_future_cursor(service: FirehoseService, address: str) -> None:
    service.append(count=3)

    async def run() -> tuple[list[Frame], int | None, str | None]:
        async with connect(stream_url(address, 4)) as ws:
            frames = await until_closed(ws)
            return frames, ws.close_code, ws.close_reason

    frames, code, reason = asyncio.run(run())
    assert len(frames) == 1
    assert frames[0].is_error
    assert frames[0].body["error"] == "FutureCursor"
    assert (code, reason) == (1008, "FutureCursor")
    assert service.metric("strato_firehose_consumers_cut_total", reason="FutureCursor") == 1


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        ("abc", "cursor must be an integer >= 0"),
        ("-1", "cursor must be an integer >= 0"),
        ("1.5", "cursor must be an integer >= 0"),
        ("9" * 5000, "cursor: integer out of the signed 64-bit range"),
        (str(2**63), "cursor: integer out of the signed 64-bit range"),
    ],
    ids=["letters", "negative", "fraction", "5000-digits", "2^63"],
)
def test_bad_cursor(service: FirehoseService, address: str, cursor: str, message: str) -> None:
    async def run() -> tuple[list[Frame], int | None, str | None]:
        async with connect(stream_url(address, cursor)) as ws:
            return await until_closed(ws), ws.close_code, ws.close_reason

    frames, code, reason = asyncio.run(run())
    assert [frame.body for frame in frames] == [{"error": "InvalidRequest", "message": message}]
    assert (code, reason) == (1008, "InvalidRequest")


def test_outdated_cursor(tmp_path: Path) -> None:
    service = FirehoseService(tmp_path, retention=Retention(max_age_seconds=60, max_bytes=None))
    service.append(count=5)
    service.clock.advance(61)
    service.append(count=3)
    assert service.sequencer.prune() == 5

    async def run(cursor: int) -> list[Frame]:
        async with connect(stream_url(address, cursor)) as ws:
            return await receive(ws, 4 if cursor == 2 else 3)

    with serve_stream(service) as address:
        outdated = asyncio.run(run(2))
        assert outdated[0].t == "#info"
        assert outdated[0].body["name"] == "OutdatedCursor"
        assert outdated[0].seq is None
        assert seqs(outdated[1:]) == [6, 7, 8]
        assert seqs(asyncio.run(run(5))) == [6, 7, 8]  # nothing missing: no info
        assert seqs(asyncio.run(run(0))) == [6, 7, 8]  # the whole window: no info


def test_outdated_cursor_on_an_empty_window(tmp_path: Path) -> None:
    service = FirehoseService(tmp_path, retention=Retention(max_age_seconds=60, max_bytes=None))
    service.append(count=4)
    service.clock.advance(61)
    service.sequencer.prune()

    async def run() -> list[Frame]:
        async with connect(stream_url(address, 1)) as ws:
            info = await receive(ws, 1)
            await subscribed(service)
            service.append()
            return info + await receive(ws, 1)

    with serve_stream(service) as address:
        frames = asyncio.run(run())
    assert frames[0].body["name"] == "OutdatedCursor"
    assert seqs(frames[1:]) == [5]


def test_handover_under_concurrent_appends(service: FirehoseService, address: str) -> None:
    """Subscribers join at many points of a busy log, some replaying from old cursors, while a
    writer thread keeps appending; each gets every seq after its cursor exactly once, in order."""
    total = 3000
    service.append(count=200)
    stop = threading.Event()

    def writer() -> None:
        batch = 1
        while service.sequencer.head() < total and not stop.is_set():
            service.append(count=min(batch, total - service.sequencer.head()))
            batch = batch % 7 + 1
            stop.wait(0.001)  # about a second in all: every subscriber joins while it writes

    async def subscriber(cursor: int | None, delay: float) -> tuple[int, list[int | None]]:
        await asyncio.sleep(delay)
        start = service.fanout.published if cursor is None else cursor
        async with connect(stream_url(address, cursor), max_size=None) as ws:
            got: list[int | None] = []
            while not got or got[-1] != total:
                got.extend(seqs(await receive(ws, 1)))
            return start, got

    async def run() -> list[tuple[int | None, int, list[int | None]]]:
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            specs: list[tuple[int | None, float]] = [
                (0, 0.0), (0, 0.05), (50, 0.02), (150, 0.1), (1, 0.2), (None, 0.0), (None, 0.15),
            ]  # fmt: skip
            results = await asyncio.gather(*(subscriber(c, d) for c, d in specs))
        finally:
            stop.set()
            thread.join()
        return [
            (cursor, start, got) for (cursor, _), (start, got) in zip(specs, results, strict=True)
        ]

    for cursor, start, got in asyncio.run(run()):
        if cursor is not None:
            assert got == list(range(cursor + 1, total + 1))
        else:  # live only: a gapless, duplicate-free tail of what came after the connect
            assert got == list(range(got[0] or 0, total + 1))
            assert (got[0] or 0) > start


def test_every_subscriber_gets_the_same_bytes(service: FirehoseService, address: str) -> None:
    service.append(count=2)

    async def run() -> list[list[bytes]]:
        async with (
            connect(stream_url(address, 0)) as a,
            connect(stream_url(address, 0)) as b,
            connect(stream_url(address, 1)) as c,
        ):
            await subscribed(service, 3)
            service.append("#identity")
            service.append(count=3, padding=2000)
            return [
                [await asyncio.wait_for(ws.recv(decode=False), TIMEOUT) for _ in range(n)]
                for ws, n in ((a, 6), (b, 6), (c, 5))
            ]

    a, b, c = asyncio.run(run())
    stored = [event.frame for event in service.sequencer.events_after(0)]
    assert a == b == stored
    assert c == stored[1:]
    assert service.metric("strato_firehose_frames_sent_total") == 17


def test_slow_consumer_is_cut(tmp_path: Path) -> None:
    # Demoted from the live set past four queued frames, then cut once four events behind.
    service = FirehoseService(tmp_path, max_backlog_frames=4, live_backlog_frames=4)

    async def run() -> tuple[list[Frame], int | None, str | None]:
        # max_queue=1: the client stops reading the socket once one message waits unread
        async with connect(stream_url(address), max_queue=1, max_size=None) as ws:
            await subscribed(service)
            while not service.metric(
                "strato_firehose_consumers_cut_total", reason="ConsumerTooSlow"
            ):
                await asyncio.to_thread(service.append, count=4, padding=64_000)
            frames = await until_closed(ws)
            return frames, ws.close_code, ws.close_reason

    with serve_stream(service) as address:
        frames, code, reason = asyncio.run(run())
        wait_for(lambda: service.subscriber_count == 0)
    messages, error = frames[:-1], frames[-1]
    assert error.is_error
    assert error.body["error"] == "ConsumerTooSlow"
    assert (code, reason) == (1008, "ConsumerTooSlow")
    assert seqs(messages) == list(range(1, len(messages) + 1))  # in order, then cut
    assert len(messages) < service.sequencer.head()


def test_connections_per_ip_are_limited(tmp_path: Path) -> None:
    service = FirehoseService(tmp_path, max_per_ip=2)

    async def run() -> int:
        async with connect(stream_url(address)), connect(stream_url(address)):
            with pytest.raises(InvalidStatus) as err:
                async with connect(stream_url(address)):
                    pass
            assert err.value.response.headers["Retry-After"] == "10"
            return err.value.response.status_code

    with serve_stream(service) as address:
        assert asyncio.run(run()) == 429
        wait_for(lambda: service.subscriber_count == 0)

        async def again() -> list[Frame]:  # the slots are free once the first two left
            async with connect(stream_url(address, 0)) as ws, connect(stream_url(address)):
                service.append()
                return await receive(ws, 1)

        assert seqs(asyncio.run(again())) == [1]
    assert service.metric("strato_firehose_consumers_cut_total", reason="ConnectionLimit") == 1


def test_behind_a_trusted_proxy_subscribers_count_by_their_forwarded_address(
    tmp_path: Path,
) -> None:
    # Every subscriber arrives from the proxy's address; counted by it, the proxy would carry
    # no more than max_per_ip subscribers in all.
    service = FirehoseService(tmp_path, max_per_ip=2, trusted_proxies=1)

    def by(client: str) -> dict[str, str]:
        return {"X-Forwarded-For": f"198.51.100.9, {client}"}

    async def run() -> int:
        async with (
            connect(stream_url(address), additional_headers=by("203.0.113.1")),
            connect(stream_url(address), additional_headers=by("203.0.113.1")),
            connect(stream_url(address), additional_headers=by("203.0.113.2")),
            connect(stream_url(address), additional_headers=by("203.0.113.3")),
        ):
            with pytest.raises(InvalidStatus) as err:
                async with connect(stream_url(address), additional_headers=by("203.0.113.1")):
                    pass
            return err.value.response.status_code

    with serve_stream(service) as address:
        assert asyncio.run(run()) == 429


def test_plain_http_gets_426(address: str) -> None:
    response = httpx.get(f"http://{address}{SUBSCRIBE_REPOS_PATH}")
    assert response.status_code == 426
    assert response.json()["error"] == "InvalidRequest"


def test_client_input_is_ignored(service: FirehoseService, address: str) -> None:
    async def run() -> list[Frame]:
        async with connect(stream_url(address, 0)) as ws:
            await ws.send(b"\x00garbage")
            await ws.send("text too")
            service.append()
            return await receive(ws, 1)

    assert seqs(asyncio.run(run())) == [1]


def test_subscriber_gauge_and_metrics_endpoint(service: FirehoseService, address: str) -> None:
    async def run() -> None:
        async with connect(stream_url(address)), connect(stream_url(address)):
            await subscribed(service, 2)
            assert service.metric("strato_firehose_subscribers") == 2

    asyncio.run(run())
    wait_for(lambda: service.metric("strato_firehose_subscribers") == 0)
    service.append(count=2)
    wait_for(lambda: service.metric("strato_firehose_head_seq") == 2)
    text = httpx.get(f"http://{address}/metrics").text
    assert "strato_firehose_subscribers 0.0" in text
    assert "strato_firehose_head_seq 2.0" in text


def test_events_from_another_writer_are_polled(tmp_path: Path) -> None:
    """An append that nobody announces (another process's write) still goes out."""
    service = FirehoseService(tmp_path, poll_interval=0.05)

    async def run() -> list[Frame]:
        async with connect(stream_url(address)) as ws:
            await subscribed(service)
            with service.sequencer.store.write() as txn:
                service.sequencer.append(
                    txn, [lambda seq: b"\xa2atg#commitbop\x01" + b"\xa1cseq" + bytes([seq])]
                )
            return await receive(ws, 1)

    with serve_stream(service) as address:
        assert seqs(asyncio.run(run())) == [1]


def test_consumers_are_listed_with_their_peer_and_frames_are_counted(
    service: FirehoseService, address: str
) -> None:
    service.append(count=3)

    async def run() -> None:
        async with (
            connect(stream_url(address, 0), user_agent_header="first-consumer/1.0") as first,
            connect(stream_url(address), user_agent_header="second-consumer/2.0"),
        ):
            await subscribed(service, 2)
            await receive(first, 3)
            listed = service.consumers()
            assert [(row.user_agent, row.cursor) for row in listed] == [
                ("first-consumer/1.0", 0),
                ("second-consumer/2.0", None),
            ]
            assert listed[0].serial < listed[1].serial
            assert all(row.remote == "127.0.0.1" for row in listed)
            await asyncio.to_thread(
                wait_for, lambda: service.metric("strato_firehose_frames_sent_total") == 3
            )
            assert [row.events_sent for row in service.consumers()] == [3, 0]
        await asyncio.to_thread(wait_for, lambda: not service.consumers())

    asyncio.run(run())


def test_subscribers_hold_their_connection_slots_until_they_close(tmp_path: Path) -> None:
    """Taken over from the HTTP server, a subscriber still counts under the service's
    connection limits, for as long as it is connected."""
    service = FirehoseService(tmp_path, limits=ConnectionLimits(max_connections_per_ip=2))

    async def run(address: str) -> None:
        async with connect(stream_url(address)), connect(stream_url(address)):
            await subscribed(service, 2)
            refused = await asyncio.to_thread(httpx.get, f"http://{address}/metrics")
            assert (refused.status_code, refused.json()["error"]) == (503, "NotEnoughResources")
        await asyncio.to_thread(wait_for, lambda: service.subscriber_count == 0)
        served = await asyncio.to_thread(httpx.get, f"http://{address}/metrics")
        assert served.status_code == 200

    with serve_stream(service) as address:
        asyncio.run(run(address))
    refusals = service.metrics.registry.get_sample_value(
        "strato_connections_refused_total",
        {"service": "firehose-test", "reason": "max_connections_per_ip"},
    )
    assert refusals == 1
