"""The broadcaster without a network: replay then live, a cursor ahead of what was announced,
the queue bound, and stopping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from pathlib import Path

import pytest
from firehose_helpers import open_log
from strato.firehose import Broadcaster, ConsumerTooSlowError, FirehoseMetrics, LmdbEventLog
from strato.metrics import ServerMetrics


def append(log: LmdbEventLog, count: int = 1) -> None:
    with log.store.write() as txn:
        for _ in range(count):
            log.append(txn, [lambda seq: b"frame %d" % seq])


async def take(frames: AsyncGenerator[bytes, None], count: int) -> list[bytes]:
    return [await asyncio.wait_for(anext(frames), 5) for _ in range(count)]


def frames_of(*seqs: int) -> list[bytes]:
    return [b"frame %d" % seq for seq in seqs]


def broadcaster(
    path: Path, queue_size: int = 100
) -> tuple[Broadcaster, LmdbEventLog, ServerMetrics]:
    log = open_log(path)
    metrics = ServerMetrics("t")
    return Broadcaster(log, FirehoseMetrics(metrics), queue_size=queue_size), log, metrics


def test_replay_then_live(tmp_path: Path) -> None:
    fanout, log, _ = broadcaster(tmp_path)
    append(log, 3)

    async def run() -> list[bytes]:
        await fanout.start()
        subscription = fanout.subscribe(1)
        async with aclosing(subscription.frames()) as frames:
            got = await take(frames, 2)
            assert subscription.live is False  # joins on the next step, after seq 3
            append(log, 2)
            fanout.notify()
            got += await take(frames, 2)
            assert subscription.live is True
        await fanout.stop()
        return got

    assert asyncio.run(run()) == frames_of(2, 3, 4, 5)


def test_live_only_starts_at_the_log_head_even_before_the_pump_announces_it(
    tmp_path: Path,
) -> None:
    fanout, log, _ = broadcaster(tmp_path)

    async def run() -> list[bytes]:
        await fanout.start()
        append(log, 3)  # durable, not yet announced (no notify)
        subscription = fanout.subscribe(None)
        async with aclosing(subscription.frames()) as frames:
            append(log, 1)
            fanout.notify()
            got = await take(frames, 1)
        await fanout.stop()
        return got

    assert asyncio.run(run()) == frames_of(4)


def test_a_cursor_ahead_of_the_announced_head_gets_no_duplicates(tmp_path: Path) -> None:
    fanout, log, _ = broadcaster(tmp_path)

    async def run() -> list[bytes]:
        await fanout.start()
        append(log, 3)  # durable, not yet announced: published is still 0
        subscription = fanout.subscribe(2)  # a consumer that already has 1 and 2
        async with aclosing(subscription.frames()) as frames:
            first = asyncio.ensure_future(take(frames, 2))
            await asyncio.sleep(0.05)
            assert subscription.live  # joined at published=0, last=2
            fanout.notify()
            append(log)
            fanout.notify()
            got = await first
        await fanout.stop()
        return got

    assert asyncio.run(run()) == frames_of(3, 4)


def test_a_full_queue_cuts_the_subscription(tmp_path: Path) -> None:
    fanout, log, metrics = broadcaster(tmp_path, queue_size=3)

    async def run() -> None:
        await fanout.start()
        subscription = fanout.subscribe(None)
        async with aclosing(subscription.frames()) as frames:
            first = asyncio.ensure_future(take(frames, 1))
            await asyncio.sleep(0.05)  # the stream starts: nothing to replay, it joins the live set
            assert subscription.live
            append(log)
            fanout.notify()
            assert await first == frames_of(1)
            append(log, 4)  # three fit the queue, the fourth overflows it
            fanout.notify()
            await asyncio.wait_for(subscription.ended.wait(), 5)
            assert fanout.subscriber_count == 0
            with pytest.raises(ConsumerTooSlowError):
                await take(frames, 1)
        await fanout.stop()

    asyncio.run(run())
    cut = metrics.registry.get_sample_value(
        "strato_firehose_consumers_cut_total", {"reason": "ConsumerTooSlow"}
    )
    assert cut == 1


def test_stop_ends_every_stream(tmp_path: Path) -> None:
    fanout, log, _ = broadcaster(tmp_path)
    append(log, 2)

    async def run() -> list[bytes]:
        await fanout.start()
        subscription = fanout.subscribe(0)
        async with aclosing(subscription.frames()) as frames:
            got = await take(frames, 2)
            rest = asyncio.ensure_future(take(frames, 1))
            await asyncio.sleep(0.01)
            await fanout.stop()
            with pytest.raises(StopAsyncIteration):
                await rest
        assert fanout.subscriber_count == 0
        fanout.notify()  # harmless once stopped
        return got

    assert asyncio.run(run()) == frames_of(1, 2)
