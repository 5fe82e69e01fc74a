"""The ingest pipeline over real servers: a PDS's firehose frames, handed to the relay's
ingestor, come out of the relay's own log with relay seqs, the same blocks and op CIDs, and
the account state the relay keeps; replays and bad events are dropped with their reasons."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from localnet import fanout_of
from pds_net import LocalPds
from relay_net import LocalRelay
from strato.firehose import StreamClient, decode_frame
from strato.relay.hosts import Host

POST = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-11-24T00:00:00Z"}


def add_host(relay: LocalRelay, pds: LocalPds) -> Host:
    name = pds.settings.hostname
    return relay.ctx.store.transact(
        lambda txn: relay.ctx.hosts.add(txn, name, no_ssl=True, account_limit=100)
    )


def feed(relay: LocalRelay, host: Host, frames: list[bytes]) -> None:
    loop = relay.loop
    assert loop is not None

    async def submit() -> None:
        for frame in frames:
            await relay.ctx.ingestor.submit(host, frame)

    asyncio.run_coroutine_threadsafe(submit(), loop).result(30)


def pds_frames(pds: LocalPds) -> list[bytes]:
    return [event.frame for event in pds.ctx.sequencer.events_after(0, limit=10_000)]


def write_posts(pds: LocalPds, handle: str, count: int) -> str:
    session = pds.create_account(handle)
    for _ in range(count):
        made = pds.xrpc(
            "com.atproto.repo.createRecord", token=session["accessJwt"],
            json={"repo": session["did"], "collection": "app.bsky.feed.post", "record": POST},
        )  # fmt: skip
        assert made.status_code == 200, made.text
    return str(session["did"])


def read_relay(relay: LocalRelay, count: int, cursor: int = 0) -> list[Any]:
    async def collect() -> list[Any]:
        client = StreamClient(relay.stream_url, cursor=cursor, reconnect=False)
        frames = []
        async with contextlib.aclosing(client.frames()) as stream:
            async for frame in stream:
                frames.append(frame)
                if len(frames) == count:
                    break
        return frames

    return asyncio.run(asyncio.wait_for(collect(), 30))


def wait_head(relay: LocalRelay, seq: int) -> None:
    async def wait() -> None:
        while relay.ctx.sequencer.head() < seq:
            await asyncio.sleep(0.02)

    asyncio.run(asyncio.wait_for(wait(), 30))


def test_pds_events_come_out_with_relay_seqs_and_identical_blocks(
    pds_relay: tuple[LocalPds, LocalRelay],
) -> None:
    pds, relay = pds_relay
    # Subscribers may lag a burst of batches (ingest commits up to a thousand events at once).
    assert fanout_of(relay.service).options.max_backlog_frames == 50_000
    assert relay.settings.consumer_buffer == 50_000
    alice = write_posts(pds, "alice.test", 3)
    bob = write_posts(pds, "bob.test", 2)
    upstream = pds_frames(pds)
    host = add_host(relay, pds)
    feed(relay, host, upstream)
    wait_head(relay, len(upstream))

    frames = read_relay(relay, len(upstream))
    assert [frame.seq for frame in frames] == list(range(1, len(upstream) + 1))
    originals = [decode_frame(data) for data in upstream]
    assert [frame.t for frame in frames] == [frame.t for frame in originals]
    for ours, theirs in zip(frames, originals, strict=True):
        if ours.t == "#commit":
            assert ours.body["blocks"] == theirs.body["blocks"]
            assert ours.body["ops"] == theirs.body["ops"]
            assert ours.body["commit"] == theirs.body["commit"]
            assert ours.body.get("prevData") == theirs.body.get("prevData")
    states = {did: relay.ctx.accounts.get(None, did) for did in (alice, bob)}
    for did, state in states.items():
        assert state is not None
        assert state.active
        latest = pds.xrpc("com.atproto.sync.getLatestCommit", params={"did": did}).json()
        assert state.rev == latest["rev"]
        ours = relay.xrpc("com.atproto.sync.getLatestCommit", params={"did": did}).json()
        assert ours == latest
    assert relay.ctx.hosts.get_by_id(None, host.id).last_seq == decode_frame(upstream[-1]).seq  # type: ignore[union-attr]
    listed = relay.xrpc("com.atproto.sync.listReposByCollection",
                        params={"collection": "app.bsky.feed.post"}).json()  # fmt: skip
    assert sorted(repo["did"] for repo in listed["repos"]) == sorted([alice, bob])

    # Replay from a cursor: seq > cursor, the same bytes.
    tail = read_relay(relay, 3, cursor=len(upstream) - 3)
    assert [frame.seq for frame in tail] == [len(upstream) - 2, len(upstream) - 1, len(upstream)]


def test_a_replayed_upstream_seq_is_dropped_once_durable(
    pds_relay: tuple[LocalPds, LocalRelay],
) -> None:
    pds, relay = pds_relay
    write_posts(pds, "carol.test", 2)
    upstream = pds_frames(pds)
    host = add_host(relay, pds)
    feed(relay, host, upstream)
    wait_head(relay, len(upstream))
    feed(relay, host, upstream)  # a reconnect that resends everything
    feed(relay, host, [b"\xa1\x61"])  # and garbage

    async def drained() -> None:
        while relay.ctx.ingestor._queue.qsize():
            await asyncio.sleep(0.02)

    assert relay.loop is not None
    asyncio.run_coroutine_threadsafe(drained(), relay.loop).result(30)
    wait_head(relay, len(upstream))
    metrics = relay.ctx.metrics.registry
    deadline_value = None
    for _ in range(500):
        deadline_value = metrics.get_sample_value(
            "strato_relay_events_dropped_total", {"reason": "seq_replayed"}
        )
        malformed = metrics.get_sample_value(
            "strato_relay_events_dropped_total", {"reason": "malformed_frame"}
        )
        if deadline_value == len(upstream) and malformed == 1:
            break
        asyncio.run(asyncio.sleep(0.02))
    assert deadline_value == len(upstream)
    assert relay.ctx.sequencer.head() == len(upstream)
