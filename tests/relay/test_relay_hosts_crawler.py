"""The crawler (:mod:`strato.relay.crawler`) against real servers on 127.0.0.1: a PDS's
frames arrive byte for byte and resume from the cursor; reconnection and its backoff, relay
refusal, oversized frames, upstream errors, offline and idle hosts, throttling, bans and a
clean stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pds_net import LocalPds
from relay_hosts_net import (
    FakeUpstream,
    add_host,
    eventually,
    fake_upstream,
    frame,
    open_store,
    status,
)
from strato.firehose import decode_frame
from strato.firehose.frames import encode_error
from strato.netpolicy import NetworkPolicy
from strato.relay.bans import DomainBans
from strato.relay.crawler import USER_AGENT, Crawler, CrawlerConfig
from strato.relay.host_metrics import HostMetrics
from strato.relay.hosts import Host, HostStatus, HostStore
from strato.relay.limits import HostLimits
from strato.service.metrics import ServerMetrics
from strato.storage import Store

LOCAL = NetworkPolicy(local_network=True)
FAST = CrawlerConfig(policy=LOCAL, min_backoff=0.01, max_backoff=0.05)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "relay") as opened:
        yield opened


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream() as running:
        yield running


class Sink:
    """The ingest callback: keeps every frame and, as the pipeline does, commits the host's
    cursor."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.frames: list[bytes] = []
        self.drops: list[str] = []

    async def on_frame(self, host: Host, data: bytes) -> None:
        self.frames.append(data)
        seq = decode_frame(data).seq
        if seq is not None:
            with self.store.write() as txn:
                HostStore(self.store).set_cursor(txn, host.id, seq)

    def on_drop(self, host: Host, reason: str) -> None:
        self.drops.append(reason)

    @property
    def seqs(self) -> list[int | None]:
        return [decode_frame(data).seq for data in self.frames]


def host_metrics() -> HostMetrics:
    return HostMetrics(ServerMetrics("relay"))


def crawler(store: Store, sink: Sink, config: CrawlerConfig = FAST, **kwargs: Any) -> Crawler:
    kwargs.setdefault("metrics", host_metrics())
    return Crawler(HostStore(store), sink.on_frame, config=config, on_drop=sink.on_drop, **kwargs)


def metric(crawl: Crawler, name: str, **labels: str) -> float:
    assert crawl.metrics is not None
    value = crawl.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_a_pds_firehose_arrives_byte_for_byte_and_resumes_from_the_cursor(
    pds: LocalPds, store: Store
) -> None:
    hostname = pds.url.removeprefix("http://").replace("127.0.0.1", "localhost")
    host = add_host(store, hostname, last_seq=0)
    sink = Sink(store)

    def stored() -> list[bytes]:
        return [event.frame for event in pds.ctx.sequencer.events_after(0)]

    async def main() -> None:
        crawl = crawler(store, sink)
        assert crawl.subscribe(host)
        await asyncio.to_thread(pds.create_account, "alice.test")
        await eventually(lambda: len(sink.frames) == len(stored()) > 0)
        assert sink.frames == stored()
        assert crawl.connected_hosts() == [hostname]
        await crawl.stop()
        assert metric(crawl, "strato_relay_hosts_connected") == 0

        # written while nobody listens: the next crawler asks from the stored cursor
        await asyncio.to_thread(pds.create_account, "bob.test")
        again = crawler(store, sink)
        assert await again.start() == 1
        await eventually(lambda: len(sink.frames) == len(stored()))
        await asyncio.sleep(0.1)
        assert sink.frames == stored()  # nothing twice, nothing missing
        assert metric(again, "relay_connected_inbound") == 1
        await again.stop()

    asyncio.run(main())
    assert status(store, host.id) == HostStatus.ACTIVE


def test_it_reconnects_after_a_drop_and_resumes_after_the_last_seq(
    store: Store, upstream: FakeUpstream
) -> None:
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    sink = Sink(store)
    upstream.add((1, frame(1)), (2, frame(2)), (3, frame(3)))

    async def main() -> Crawler:
        crawl = crawler(store, sink)
        crawl.subscribe(host)
        await eventually(lambda: sink.seqs == [1, 2, 3])
        upstream.drop()
        upstream.add((4, frame(4)), (5, frame(5)))
        await eventually(lambda: sink.seqs == [1, 2, 3, 4, 5])
        await eventually(lambda: len(upstream.cursors) >= 2)
        await crawl.stop()
        return crawl

    crawl = asyncio.run(main())
    assert upstream.cursors[:2] == [0, 3]
    assert set(upstream.user_agents) == {USER_AGENT}
    reconnects = "strato_relay_host_reconnects_total"
    assert metric(crawl, reconnects, host=host.hostname, reason="closed") >= 1


def test_a_new_host_is_joined_live_without_a_cursor(store: Store, upstream: FakeUpstream) -> None:
    host = add_host(store, f"localhost:{upstream.port}")
    sink = Sink(store)
    upstream.add((1, frame(1)))

    async def main() -> None:
        crawl = crawler(store, sink)
        crawl.subscribe(host)
        await eventually(lambda: crawl.connected_hosts() != [])
        upstream.add((2, frame(2)))
        await eventually(lambda: sink.seqs == [2])
        await crawl.stop()

    asyncio.run(main())
    assert upstream.cursors == [None]


def test_a_host_answering_as_a_relay_is_refused_and_banned(
    store: Store, upstream: FakeUpstream
) -> None:
    upstream.server = "indigo-relay/0.1 (atproto-relay)"
    upstream.add((1, frame(1)))
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    sink = Sink(store)

    async def main() -> Crawler:
        crawl = crawler(store, sink)
        crawl.subscribe(host)
        await eventually(lambda: not crawl.is_subscribed(host.id))
        row = HostStore(store).get_by_id(None, host.id)
        assert row is not None
        assert not crawl.subscribe(row)
        await crawl.stop()
        return crawl

    crawl = asyncio.run(main())
    assert sink.frames == []
    assert status(store, host.id) == HostStatus.BANNED
    assert (
        metric(crawl, "strato_relay_host_errors_total", host=host.hostname, reason="relay_loop")
        == 1
    )


def test_an_oversized_frame_is_dropped_and_the_frames_after_it_arrive(
    store: Store, upstream: FakeUpstream
) -> None:
    big = frame(3, pad=5_000_100)
    assert len(big) > 5_000_000
    upstream.add((1, frame(1)), (2, frame(2)), (3, big), (4, frame(4)), (6, frame(6)))
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    sink = Sink(store)

    async def main() -> Crawler:
        crawl = crawler(store, sink)
        crawl.subscribe(host)
        await eventually(lambda: sink.seqs == [1, 2, 4, 6])
        await crawl.stop()
        return crawl

    crawl = asyncio.run(main())
    assert sink.drops == ["frame_too_big"]
    errors = metric(
        crawl, "strato_relay_host_errors_total", host=host.hostname, reason="frame_too_big"
    )
    assert errors == 1
    assert upstream.cursors[:2] == [0, 3]  # resumed past seq 3


def test_an_oversized_frame_after_a_gap_is_skipped_too(
    store: Store, upstream: FakeUpstream
) -> None:
    upstream.add((1, frame(1)), (4, frame(4, pad=5_000_100)), (5, frame(5)))
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    sink = Sink(store)

    async def main() -> None:
        crawl = crawler(store, sink)
        crawl.subscribe(host)
        await eventually(lambda: sink.seqs == [1, 5])
        await crawl.stop()

    asyncio.run(main())
    assert sink.drops == ["frame_too_big"] * 3  # seqs 2 and 3 never existed
    assert upstream.cursors[:4] == [0, 2, 3, 4]


def test_future_cursor_makes_the_host_idle(store: Store, upstream: FakeUpstream) -> None:
    upstream.error = encode_error("FutureCursor", "cursor in the future")
    host = add_host(store, f"localhost:{upstream.port}", last_seq=50)
    sink = Sink(store)

    async def main() -> Crawler:
        crawl = crawler(store, sink)
        crawl.subscribe(host)
        await eventually(lambda: status(store, host.id) == HostStatus.IDLE)
        assert crawl.is_subscribed(host.id)  # asked again later
        await crawl.stop()
        return crawl

    crawl = asyncio.run(main())
    assert upstream.cursors == [50]
    assert sink.frames == []
    errors = metric(
        crawl, "strato_relay_host_errors_total", host=host.hostname, reason="future_cursor"
    )
    assert errors == 1


def test_other_upstream_errors_reconnect(store: Store, upstream: FakeUpstream) -> None:
    upstream.error = encode_error("ConsumerTooSlow")
    host = add_host(store, f"localhost:{upstream.port}", last_seq=7)
    sink = Sink(store)

    def errors(crawl: Crawler) -> float:
        name = "strato_relay_host_errors_total"
        return metric(crawl, name, host=host.hostname, reason="upstream_error")

    async def main() -> None:
        crawl = crawler(store, sink)
        crawl.subscribe(host)
        # The upstream sees a connection before the crawler has read its error frame: wait
        # for the errors counted, not for the connections made.
        await eventually(lambda: errors(crawl) >= 3)
        await crawl.stop()

    asyncio.run(main())
    assert len(upstream.cursors) >= 3
    assert set(upstream.cursors) == {7}
    assert status(store, host.id) == HostStatus.ACTIVE


def test_a_host_that_hangs_up_after_one_bad_frame_is_redialled_ever_more_slowly(
    store: Store, upstream: FakeUpstream
) -> None:
    upstream.error = b"\xa1not a frame"  # sent on every connection, then a clean close
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    config = CrawlerConfig(policy=LOCAL, min_backoff=0.05, max_backoff=60.0)
    received: list[bytes] = []

    async def on_frame(host: Host, data: bytes) -> None:
        received.append(data)  # the ingest pipeline would drop it: the crawler cannot tell

    def bound(elapsed: float) -> int:
        """The most connections the schedule allows in ``elapsed`` seconds: the k-th wait is
        at least half of ``min_backoff x 2^(k-1)``."""
        count, waited = 1, 0.0
        while waited + config.min_backoff * 2 ** (count - 1) / 2 <= elapsed:
            waited += config.min_backoff * 2 ** (count - 1) / 2
            count += 1
        return count

    async def main() -> list[float]:
        crawl = Crawler(HostStore(store), on_frame, config=config, metrics=host_metrics())
        started = time.monotonic()
        crawl.subscribe(host)
        delays: list[float] = []
        while len(upstream.cursors) < 5:
            delay = metric(crawl, "strato_relay_host_backoff_seconds", host=host.hostname)
            if delay and (not delays or delay != delays[-1]):
                delays.append(delay)
            assert len(upstream.cursors) <= bound(time.monotonic() - started)
            await asyncio.sleep(0.005)
        # The upstream sees the 5th connection before the crawler has counted the 4th close.
        reconnects = "strato_relay_host_reconnects_total"
        await eventually(
            lambda: metric(crawl, reconnects, host=host.hostname, reason="closed") >= 4
        )
        await crawl.stop()
        return delays

    delays = asyncio.run(main())
    assert len(received) >= 4
    assert delays == sorted(delays)  # each wait at least the one before
    assert delays[-1] >= 4 * config.min_backoff  # the 4th wait: min_backoff x 8, jittered


def test_a_host_that_keeps_failing_goes_offline_and_comes_back(
    store: Store, upstream: FakeUpstream
) -> None:
    upstream.reject = True
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    sink = Sink(store)
    config = CrawlerConfig(
        policy=LOCAL, min_backoff=0.01, max_backoff=0.02, offline_after=3, offline_retry=0.2
    )

    async def main() -> Crawler:
        crawl = crawler(store, sink, config)
        crawl.subscribe(host)
        await eventually(lambda: status(store, host.id) == HostStatus.OFFLINE)
        failed = len(upstream.cursors)
        assert failed >= 3
        upstream.add((1, frame(1)))
        upstream.reject = False
        await eventually(lambda: sink.seqs == [1])
        assert status(store, host.id) == HostStatus.ACTIVE
        await crawl.stop()
        return crawl

    crawl = asyncio.run(main())
    errors = metric(
        crawl, "strato_relay_host_errors_total", host=host.hostname, reason="connect_failed"
    )
    assert errors >= 3


def test_a_host_nobody_listens_on_goes_offline(store: Store) -> None:
    with fake_upstream() as gone:
        port = gone.port
    host = add_host(store, f"localhost:{port}", last_seq=0)
    config = CrawlerConfig(policy=LOCAL, min_backoff=0.01, max_backoff=0.02, offline_after=2)

    async def main() -> None:
        crawl = crawler(store, Sink(store), config)
        crawl.subscribe(host)
        await eventually(lambda: status(store, host.id) == HostStatus.OFFLINE)
        await crawl.stop()

    asyncio.run(main())


def test_a_silent_host_is_idle_until_it_speaks(store: Store, upstream: FakeUpstream) -> None:
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    sink = Sink(store)
    config = CrawlerConfig(policy=LOCAL, idle_after=0.2, idle_check=0.05)

    async def main() -> None:
        crawl = crawler(store, sink, config)
        await crawl.start()
        await eventually(lambda: status(store, host.id) == HostStatus.IDLE)
        assert crawl.connected_hosts() == [host.hostname]  # idle, still connected
        upstream.add((1, frame(1)))
        await eventually(lambda: status(store, host.id) == HostStatus.ACTIVE)
        await crawl.stop()

    asyncio.run(main())
    assert sink.seqs == [1]


class Clock:
    """A clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 1_000_000.25

    def __call__(self) -> float:
        return self.now


def test_a_host_over_its_rate_is_throttled_then_resumes(
    store: Store, upstream: FakeUpstream
) -> None:
    upstream.add(*[(seq, frame(seq)) for seq in range(1, 61)])
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    sink = Sink(store)
    clock = Clock()

    async def main() -> Crawler:
        crawl = crawler(store, sink, limits=HostLimits(clock))
        crawl.subscribe(host)
        await eventually(lambda: status(store, host.id) == HostStatus.THROTTLED)
        assert sink.seqs == list(range(1, 51))  # 50 per second for a host with no accounts
        clock.now += 2.0
        await eventually(lambda: len(sink.frames) == 60)
        await eventually(lambda: status(store, host.id) == HostStatus.ACTIVE)
        await crawl.stop()
        return crawl

    # a short wait is spent connected: one connection
    crawl = asyncio.run(main())
    assert sink.seqs == list(range(1, 61))
    assert metric(crawl, "strato_relay_host_throttled_total", host=host.hostname) >= 1
    assert upstream.cursors == [0]


def test_a_long_throttle_closes_the_connection_and_resumes_from_the_cursor(
    store: Store, upstream: FakeUpstream
) -> None:
    upstream.add(*[(seq, frame(seq)) for seq in range(1, 61)])
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    sink = Sink(store)
    config = CrawlerConfig(policy=LOCAL, short_wait=0.0, close_timeout=0.1)
    clock = Clock()

    async def main() -> None:
        crawl = crawler(store, sink, config, limits=HostLimits(clock))
        crawl.subscribe(host)
        await eventually(lambda: status(store, host.id) == HostStatus.THROTTLED)
        await eventually(lambda: crawl.connected_hosts() == [])  # waiting, disconnected
        clock.now += 10.0
        await eventually(lambda: len(sink.frames) >= 60)
        await crawl.stop()

    asyncio.run(main())
    assert sink.seqs == list(range(1, 61))
    assert upstream.cursors == [0, 50]  # no reconnect before the limits allow


def test_banned_hosts_are_not_subscribed(store: Store, upstream: FakeUpstream) -> None:
    banned = add_host(store, "banned.example.com", status=HostStatus.BANNED)
    domain = add_host(store, "pds.spam.example")
    live = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    bans = DomainBans(store)
    bans.ban(None, "spam.example")

    async def main() -> None:
        crawl = crawler(store, Sink(store), bans=bans)
        assert await crawl.start() == 1
        assert not crawl.is_subscribed(banned.id)
        assert not crawl.is_subscribed(domain.id)
        await eventually(lambda: crawl.connected_hosts() == [live.hostname])
        bans.ban(None, "localhost")
        assert await crawl.drop_banned() == [live.hostname]
        assert crawl.connected_hosts() == []
        assert not crawl.subscribe(live)
        await crawl.stop()

    asyncio.run(main())


def test_an_admin_ban_stops_the_subscription(store: Store, upstream: FakeUpstream) -> None:
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)

    async def main() -> None:
        crawl = crawler(store, Sink(store))
        crawl.subscribe(host)
        await eventually(lambda: crawl.connected_hosts() == [host.hostname])
        banned = await crawl.ban(host.id)
        assert banned is not None
        assert banned.status == HostStatus.BANNED
        assert not crawl.is_subscribed(host.id)
        assert not await crawl.unsubscribe(host.id)
        await crawl.stop()

    asyncio.run(main())
    assert status(store, host.id) == HostStatus.BANNED


def test_private_addresses_are_refused_outside_a_local_network(
    store: Store, upstream: FakeUpstream
) -> None:
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    config = CrawlerConfig(min_backoff=0.01, max_backoff=0.02, offline_after=2)

    async def main() -> Crawler:
        crawl = crawler(store, Sink(store), config)
        crawl.subscribe(host)
        await eventually(lambda: status(store, host.id) == HostStatus.OFFLINE)
        await crawl.stop()
        return crawl

    crawl = asyncio.run(main())
    assert upstream.cursors == []  # never reached
    errors = metric(
        crawl, "strato_relay_host_errors_total", host=host.hostname, reason="address_refused"
    )
    assert errors >= 2


def test_more_accounts_raise_the_rate_of_a_connected_host(
    store: Store, upstream: FakeUpstream
) -> None:
    upstream.add(*[(seq, frame(seq)) for seq in range(1, 61)])
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    sink = Sink(store)
    clock = Clock()

    async def main() -> None:
        crawl = crawler(store, sink, limits=HostLimits(clock))
        crawl.subscribe(host)
        await eventually(lambda: status(store, host.id) == HostStatus.THROTTLED)
        hosts = HostStore(store)
        with store.write() as txn:
            row = hosts.get_by_id(txn, host.id)
            assert row is not None
            row.account_count = row.account_limit = 10_000  # 60 events a second now
            hosts.put(txn, row)
        await crawl.refresh()
        await eventually(lambda: len(sink.frames) == 60)  # the clock has not moved
        await crawl.stop()

    asyncio.run(main())
    assert sink.seqs == list(range(1, 61))


def test_a_failing_ingest_callback_reconnects_from_the_cursor(
    store: Store, upstream: FakeUpstream
) -> None:
    upstream.add((1, frame(1)), (2, frame(2)), (3, frame(3)))
    host = add_host(store, f"localhost:{upstream.port}", last_seq=0)
    sink = Sink(store)
    failed: list[bytes] = []

    async def flaky(host: Host, data: bytes) -> None:
        if decode_frame(data).seq == 2 and not failed:
            failed.append(data)
            raise RuntimeError("ingest hiccup")
        await sink.on_frame(host, data)

    async def main() -> Crawler:
        crawl = Crawler(
            HostStore(store), flaky, config=FAST, metrics=HostMetrics(ServerMetrics("relay"))
        )
        crawl.subscribe(host)
        await eventually(lambda: sink.seqs == [1, 2, 3])
        await crawl.stop()
        return crawl

    crawl = asyncio.run(main())
    assert upstream.cursors[:2] == [0, 1]
    errors = metric(
        crawl, "strato_relay_host_errors_total", host=host.hostname, reason="internal_error"
    )
    assert errors == 1
