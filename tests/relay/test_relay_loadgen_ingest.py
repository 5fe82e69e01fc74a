"""The load generator's crafted bad events through the relay's real ingest pipeline: one
simulated host's frames (a valid chain with every kind of bad event between its commits) are
handed to the relay's ingestor; each bad event is dropped with the reason
:data:`loadgen.bad.DROP_REASON` documents, every valid commit around them is
forwarded, and the account's state is its last valid commit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from loadgen import AccountChain, SimulatedHost, bad, register_accounts_in_store
from loadgen.dataset import account_key, make_account
from loadgen.records import POST, iso_time
from pds_net import run_plc
from prometheus_client import CollectorRegistry
from relay_net import LocalRelay, run_relay
from strato import dagcbor
from strato.firehose import decode_frame
from strato.plc.store import PlcStore
from strato.repo.commit import next_rev
from strato_proc import free_ports

NOW_US = time.time_ns() // 1000
TIME = iso_time(NOW_US)
HOST_PORT, OTHER_PORT = free_ports(2)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[LocalRelay, AccountChain, AccountChain]]:
    rotation = account_key(11, "rotation")
    ours = make_account(11, "ours", 0, rotation)
    theirs = make_account(11, "theirs", 1, rotation)
    store = PlcStore.open(tmp_path / "plc", sync=False)
    try:
        endpoints = [f"http://localhost:{HOST_PORT}", f"http://localhost:{OTHER_PORT}"]
        register_accounts_in_store(store, [ours, theirs], endpoints, rotation)
    finally:
        store.close()
    value = dagcbor.encode({"$type": POST, "text": "already there", "createdAt": TIME})
    chains = [
        AccountChain.create(a.did, a.key, next_rev(), [(f"{POST}/{next_rev()}", value)])
        for a in (ours, theirs)
    ]
    with run_plc(tmp_path / "plc") as plc_url, run_relay(tmp_path / "relay", plc_url) as running:
        yield running, chains[0], chains[1]


def crafted(chain: AccountChain, foreign: AccountChain) -> list[Callable[[], bad.BadEvent]]:
    """Every kind of bad event, each made when its turn comes (from the chain's head then)."""
    stranger = bad.unregistered_account("ingest", next_rev())
    return [
        lambda: bad.bad_signature(chain, next_rev(chain.rev), TIME),
        lambda: bad.broken_inversion(chain, next_rev(chain.rev), TIME),
        lambda: bad.rev_going_back(chain, TIME),
        lambda: bad.future_rev(chain, NOW_US, TIME),
        lambda: bad.oversized_blocks(chain, next_rev(chain.rev), TIME),
        lambda: bad.too_many_ops(chain, next_rev(chain.rev), TIME),
        lambda: bad.wrong_host(foreign, next_rev(foreign.rev), TIME),
        lambda: bad.unknown_did(stranger, next_rev(stranger.rev), TIME),
        lambda: bad.malformed_frame(chain, next_rev(chain.rev), TIME),
        lambda: bad.oversized_frame(chain, next_rev(chain.rev), TIME),
    ]


def crafted_host(chain: AccountChain, foreign: AccountChain) -> tuple[SimulatedHost, list[str]]:
    """A host whose frames are valid commits with each kind of bad event between them (and a
    valid one last); the reason each bad event is to be dropped for, in order."""
    host = SimulatedHost([], port=HOST_PORT, name="localhost")
    reasons: list[str] = []
    for make in [*crafted(chain, foreign), None]:
        rev = next_rev(chain.rev)
        host.add_event("#commit", chain.commit_changes([(f"{POST}/{rev}", _post())], rev, TIME))
        if make is not None:
            event = make()
            host.add_raw(event.frame(len(host.frames) + 1))
            reasons.append(event.reason)
    return host, reasons


def drops(registry: CollectorRegistry, reasons: Iterable[str]) -> dict[str, float]:
    """The relay's drop counter for each of ``reasons``."""
    return {
        reason: registry.get_sample_value("strato_relay_events_dropped_total", {"reason": reason})
        or 0.0
        for reason in reasons
    }


def test_bad_events_are_dropped_with_their_reasons(
    relay: tuple[LocalRelay, AccountChain, AccountChain],
) -> None:
    running, chain, foreign = relay
    host, reasons = crafted_host(chain, foreign)
    valid = len(reasons) + 1

    ctx = running.ctx
    registered = ctx.store.transact(
        lambda txn: ctx.hosts.add(txn, host.hostname, no_ssl=True, account_limit=100)
    )
    loop = running.loop
    assert loop is not None

    async def submit() -> None:
        for frame in host.frames:
            await ctx.ingestor.submit(registered, frame)

    asyncio.run_coroutine_threadsafe(submit(), loop).result(60)
    expected = {reason: reasons.count(reason) for reason in reasons}
    registry = ctx.metrics.registry

    async def settled() -> None:
        while ctx.sequencer.head() < valid or drops(registry, expected) != expected:
            await asyncio.sleep(0.02)

    asyncio.run(asyncio.wait_for(settled(), 60))
    assert drops(registry, expected) == expected
    assert ctx.sequencer.head() == valid
    out = [decode_frame(event.frame) for event in ctx.sequencer.events_after(0, limit=100)]
    assert {frame.body["repo"] for frame in out} == {chain.did}
    assert [frame.body["rev"] for frame in out] == sorted(frame.body["rev"] for frame in out)
    state = ctx.accounts.get(None, chain.did)
    assert state is not None
    assert state.rev == chain.rev


def _post() -> dict[str, str]:
    return {"$type": POST, "text": "valid", "createdAt": TIME}


def test_a_crawled_host_streaming_bad_events_over_its_socket(
    relay: tuple[LocalRelay, AccountChain, AccountChain],
) -> None:
    """The same crafted stream, now read by the relay's crawler from a real websocket after a
    requestCrawl: the frame over 5 MB costs a reconnection, every other bad event is dropped
    with its reason, the valid commits around them all arrive, and nothing crashes."""
    running, chain, foreign = relay
    host, reasons = crafted_host(chain, foreign)
    valid = len(reasons) + 1
    expected = {reason: reasons.count(reason) for reason in reasons}
    ctx = running.ctx
    registry = ctx.metrics.registry

    async def scenario() -> None:
        async with host:
            answer = await asyncio.to_thread(
                running.xrpc, "com.atproto.sync.requestCrawl", json={"hostname": host.hostname}
            )
            assert answer.status_code == 200, answer.text
            await host.wait_connections(1, timeout=30)
            host.release()
            while ctx.sequencer.head() < valid or drops(registry, expected) != expected:
                await asyncio.sleep(0.02)

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert drops(registry, expected) == expected
    assert ctx.sequencer.head() == valid
    out = [decode_frame(event.frame) for event in ctx.sequencer.events_after(0, limit=100)]
    assert [frame.body["repo"] for frame in out] == [chain.did] * valid
    state = ctx.accounts.get(None, chain.did)
    assert state is not None
    assert state.rev == chain.rev
    health = running.xrpc("com.atproto.sync.getHostStatus", params={"hostname": host.hostname})
    assert health.json()["status"] == "active"
