"""End to end with real servers on 127.0.0.1: a PLC directory, a PDS and a relay crawling it.
PDS writes reach a relay subscriber in order, with the relay's own contiguous seqs and the
PDS's blocks byte for byte; replay from a cursor; a host added by ``requestCrawl``; and the
``atproto`` SDK's firehose client reading the relay unchanged."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from atproto_client import models
from atproto_core.car import CAR
from atproto_firehose import FirehoseSubscribeReposClient, parse_subscribe_repos_message
from pds_net import LocalPds, run_plc
from relay_e2e_net import Collector, event_key, pds_events, post, read_stream, wait_for
from relay_net import LocalRelay, run_addressed_pds, run_relay


@dataclass
class Net:
    plc_url: str
    pds: LocalPds
    relay: LocalRelay


def subscribed(pds: LocalPds) -> bool:
    return pds.subscriber_count >= 1


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    """A relay that crawls the PDS from its start (connected before the PDS writes)."""
    with (
        run_plc(tmp_path / "plc") as plc_url,
        run_addressed_pds(tmp_path / "pds", plc_url) as pds,
        run_relay(tmp_path / "relay", plc_url, crawl=(pds.settings.hostname,)) as relay,
    ):
        wait_for(lambda: subscribed(pds), "the relay to subscribe to the PDS")
        yield Net(plc_url, pds, relay)


def test_pds_writes_reach_a_relay_subscriber_in_order(net: Net) -> None:
    pds, relay = net.pds, net.relay
    live = Collector(relay.stream_url)  # subscribed before anything is written
    try:
        alice = pds.create_account("alice.test")
        bob = pds.create_account("bob.test")
        revs = [post(pds, alice, "one"), post(pds, bob, "two"), post(pds, alice, "three")]
        upstream = pds_events(pds)
        frames = live.wait(len(upstream))
    finally:
        live.stop()
    assert [frame.seq for frame in frames] == list(range(1, len(upstream) + 1))
    assert [event_key(frame) for frame in frames] == [event_key(frame) for frame in upstream]
    commits = [frame for frame in frames if frame.t == "#commit"]
    assert [frame.body["rev"] for frame in commits][-3:] == revs
    for ours, theirs in zip(frames, upstream, strict=True):
        if ours.t == "#commit":
            for field in ("blocks", "ops", "commit", "since", "prevData"):
                assert ours.body.get(field) == theirs.body.get(field)
    host = relay.ctx.hosts.get(None, pds.settings.hostname)
    assert host is not None
    assert host.last_seq == upstream[-1].seq
    for session in (alice, bob):
        params = {"did": session["did"]}
        latest = relay.xrpc("com.atproto.sync.getLatestCommit", params=params)
        assert latest.json() == pds.xrpc("com.atproto.sync.getLatestCommit", params=params).json()


def test_replay_from_a_cursor_then_live(net: Net) -> None:
    pds, relay = net.pds, net.relay
    carol = pds.create_account("carol.test")
    for n in range(4):
        post(pds, carol, f"post {n}")
    head = len(pds_events(pds))
    wait_for(lambda: relay.ctx.sequencer.head() == head, "the relay to ingest every event")
    everything = read_stream(relay.stream_url, head, cursor=0)
    assert [frame.seq for frame in everything] == list(range(1, head + 1))
    tail = read_stream(relay.stream_url, 3, cursor=head - 3)
    assert [frame.seq for frame in tail] == [head - 2, head - 1, head]
    assert [frame.body for frame in tail] == [frame.body for frame in everything[-3:]]

    live = Collector(relay.stream_url, cursor=head)
    try:
        rev = post(pds, carol, "live")
        (frame,) = live.wait(1)
    finally:
        live.stop()
    assert (frame.seq, frame.t, frame.body["rev"]) == (head + 1, "#commit", rev)
    assert read_stream(relay.stream_url, 0, cursor=head + 1) == []  # the head is a valid cursor


def test_a_host_added_by_request_crawl(tmp_path: Path) -> None:
    with (
        run_plc(tmp_path / "plc") as plc_url,
        run_addressed_pds(tmp_path / "pds", plc_url) as pds,
        run_relay(tmp_path / "relay", plc_url) as relay,
    ):
        asked = relay.xrpc(
            "com.atproto.sync.requestCrawl", json={"hostname": pds.settings.hostname}
        )
        assert asked.status_code == 200, asked.text
        wait_for(lambda: subscribed(pds), "the relay to subscribe to the PDS")
        dave = pds.create_account("dave.test")
        rev = post(pds, dave, "crawled")
        count = len(pds_events(pds))
        frames = read_stream(relay.stream_url, count, cursor=0)
        assert [event_key(frame) for frame in frames] == [event_key(f) for f in pds_events(pds)]
        assert frames[-1].body["rev"] == rev
        status = relay.xrpc(
            "com.atproto.sync.getHostStatus", params={"hostname": pds.settings.hostname}
        )
        assert status.status_code == 200, status.text
        assert status.json()["status"] == "active"


class SdkReader:
    """The SDK's client in a thread until it has parsed ``count`` messages."""

    def __init__(self, relay: LocalRelay, count: int, params: dict[str, Any] | None) -> None:
        self.count = count
        self.parsed: list[Any] = []
        base = relay.url.replace("http://", "ws://") + "/xrpc"
        self.client = FirehoseSubscribeReposClient(params, base_uri=base)
        self.thread = threading.Thread(target=self.client.start, args=(self.on_message,))
        self.thread.start()

    def on_message(self, message: Any) -> None:
        self.parsed.append(parse_subscribe_repos_message(message))
        if len(self.parsed) == self.count:
            self.client.stop()

    def finish(self) -> list[Any]:
        self.thread.join(timeout=30)
        if self.thread.is_alive():
            self.client.stop()
            self.thread.join()
            raise AssertionError(f"the SDK client got only {len(self.parsed)} messages")
        return self.parsed


def test_the_sdk_firehose_client_reads_the_relay(net: Net) -> None:
    pds, relay = net.pds, net.relay
    erin = pds.create_account("erin.test")
    texts = ["first", "second", "third"]
    for text in texts:
        post(pds, erin, text)
    upstream = pds_events(pds)
    wait_for(lambda: relay.ctx.sequencer.head() == len(upstream), "the relay to ingest")
    parsed = SdkReader(relay, len(upstream), {"cursor": 0}).finish()
    assert [message.seq for message in parsed] == list(range(1, len(upstream) + 1))
    commits = [m for m in parsed if isinstance(m, models.ComAtprotoSyncSubscribeRepos.Commit)]
    posts = []
    for commit in commits:
        assert commit.repo == erin["did"]
        car = CAR.from_bytes(commit.blocks)
        assert str(car.root) == str(commit.commit)
        for op in commit.ops:
            if op.path.startswith("app.bsky.feed.post/"):
                assert op.action == "create"
                posts.append(car.blocks[op.cid]["text"])
    assert posts == texts
    kinds = {type(message).__name__ for message in parsed}
    assert {"Identity", "Account", "Commit"} <= kinds

    # from a cursor, live: the last event, then a new one
    reader = SdkReader(relay, 2, {"cursor": len(upstream) - 1})
    post(pds, erin, "fourth")
    last, new = reader.finish()
    assert (last.seq, new.seq) == (len(upstream), len(upstream) + 1)
    car = CAR.from_bytes(new.blocks)
    assert car.blocks[new.ops[0].cid]["text"] == "fourth"


def test_crawl_hosts_that_are_refused_are_logged_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        run_plc(tmp_path / "plc") as plc_url,
        run_addressed_pds(tmp_path / "pds", plc_url) as pds,
        run_relay(
            tmp_path / "relay",
            plc_url,
            local_network=False,
            crawl=("not a host", pds.settings.hostname, "10.1.2.3"),
        ) as strict,
    ):
        assert [host.hostname for host in strict.ctx.hosts.all()] == []
    messages = [r.getMessage() for r in caplog.records if r.name == "strato.relay"]
    assert any(m.startswith("not crawling not a host: ") for m in messages)
    assert any(
        m.startswith(f"not crawling {pds.settings.hostname}: a port number is only allowed")
        for m in messages
    )
    assert any(m.startswith("not crawling 10.1.2.3: an IP address") for m in messages)
    with (
        run_plc(tmp_path / "plc2") as plc_url,
        run_addressed_pds(tmp_path / "pds2", plc_url) as pds,
        run_relay(
            tmp_path / "relay2", plc_url, crawl=(f"http://{pds.settings.hostname}",)
        ) as relay,
    ):
        (host,) = relay.ctx.hosts.all()
        assert (host.hostname, host.no_ssl) == (pds.settings.hostname, True)
        wait_for(lambda: subscribed(pds), "the relay to subscribe to the PDS")
