"""The crawler plugged into the relay's ingest: a PDS's writes, read by the crawler and handed
to :meth:`strato.relay.pipeline.Ingestor.submit`, come out of the relay's log; the host's
cursor is committed with them, so a new crawler resumes where the last one stopped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pds_net import LocalPds
from relay_net import LocalRelay
from strato.firehose import decode_frame
from strato.netpolicy import NetworkPolicy
from strato.relay.crawler import Crawler, CrawlerConfig
from strato.relay.host_metrics import HostMetrics
from strato.relay.hosts import Host, HostStatus

T = TypeVar("T")
POST = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-11-24T00:00:00Z"}


def in_relay(relay: LocalRelay, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work()`` in the relay's event loop (where its ingestor lives)."""
    loop = relay.loop
    assert loop is not None
    return asyncio.run_coroutine_threadsafe(work(), loop).result(30)


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def post(pds: LocalPds, session: dict[str, Any]) -> None:
    made = pds.xrpc(
        "com.atproto.repo.createRecord", token=session["accessJwt"],
        json={"repo": session["did"], "collection": "app.bsky.feed.post", "record": POST},
    )  # fmt: skip
    assert made.status_code == 200, made.text


def test_crawled_writes_reach_the_relay_log_and_resume_after_a_restart(
    pds_relay: tuple[LocalPds, LocalRelay],
) -> None:
    pds, relay = pds_relay
    ctx = relay.ctx
    hostname = pds.settings.hostname
    host: Host = ctx.store.transact(
        lambda txn: ctx.hosts.add(txn, hostname, no_ssl=True, account_limit=100)
    )

    assert relay.app is not None  # the host metrics the relay's app registered
    metrics: HostMetrics = relay.app.state.crawler.metrics

    async def start() -> Crawler:
        config = CrawlerConfig(policy=NetworkPolicy(local_network=True))
        crawl = Crawler(ctx.hosts, ctx.ingestor.submit, config=config, metrics=metrics)
        assert crawl.subscribe(host)
        return crawl

    crawl = in_relay(relay, start)
    wait_for(lambda: crawl.connected_hosts() == [hostname])  # a new host is joined live
    assert ctx.metrics.registry.get_sample_value("relay_connected_inbound") == 1
    alice = pds.create_account("alice.test")
    for _ in range(3):
        post(pds, alice)
    head = pds.ctx.sequencer.head()
    wait_for(lambda: ctx.sequencer.head() == head)
    row = ctx.hosts.get_by_id(None, host.id)
    assert row is not None
    assert (row.last_seq, row.status) == (head, HostStatus.ACTIVE)
    in_relay(relay, crawl.stop)

    for _ in range(2):  # while the relay does not listen
        post(pds, alice)
    crawl = in_relay(relay, start)
    wait_for(lambda: ctx.sequencer.head() == pds.ctx.sequencer.head())
    in_relay(relay, crawl.stop)

    ours = [decode_frame(event.frame) for event in ctx.sequencer.events_after(0)]
    theirs = [decode_frame(event.frame) for event in pds.ctx.sequencer.events_after(0)]
    assert [frame.seq for frame in ours] == list(range(1, len(theirs) + 1))
    assert [frame.t for frame in ours] == [frame.t for frame in theirs]
    commits = [(f.body["rev"], f.body["blocks"]) for f in ours if f.t == "#commit"]
    assert commits == [(f.body["rev"], f.body["blocks"]) for f in theirs if f.t == "#commit"]
