"""A throttled host goes on at once when its limits change (:meth:`Crawler.limits_changed`):
trusted by the admin, its account limit raised, or a ``requestCrawl`` after its row changed;
and the hosts under ``--trusted-domain`` are trusted, as ``strato up`` trusts its own PDS.
Real relay stores and a real upstream on 127.0.0.1; an untrusted host's hour window is made
tiny, so that without the change the wait would last until the next hour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from relay_hosts_net import FakeUpstream, eventually, fake_upstream, frame
from strato.firehose import decode_frame
from strato.relay.admin import RelayAdmin
from strato.relay.context import RelayContext
from strato.relay.crawler import Crawler, CrawlerConfig
from strato.relay.host_service import HostService
from strato.relay.hosts import Host, HostStatus
from strato.relay.limits import HOUR, HostLimits, Rates, host_rates
from strato.relay.settings import RelaySettings
from strato.xrpc.ratelimit import RateLimit

FRAMES = 20
#: The events an untrusted host with the default account limit may send in an hour here.
TINY_HOUR = 5


def tiny_rates(host: Host) -> Rates:
    """The usual rates, except five events an hour for an untrusted host whose account limit
    is the default."""
    second, hour, day = host_rates(host)
    if host.trusted or host.account_limit > 100:
        return second, hour, day
    return second, RateLimit("host-hour", TINY_HOUR, HOUR), day


@dataclass
class Relay:
    ctx: RelayContext
    crawler: Crawler
    service: HostService
    admin: RelayAdmin
    upstream: FakeUpstream
    seqs: list[int]

    def row(self, host: Host) -> Host:
        row = self.ctx.hosts.get_by_id(None, host.id)
        assert row is not None
        return row


@asynccontextmanager
async def relay(tmp_path: Path, **settings: Any) -> AsyncIterator[Relay]:
    """A relay's stores, crawler (the tiny rates), host service and admin, and an upstream
    holding :data:`FRAMES` frames."""
    config = RelaySettings(data_dir=tmp_path / "relay", local_network=True, sync=False, **settings)
    ctx = RelayContext.open(config)
    seqs: list[int] = []

    async def on_frame(host: Host, data: bytes) -> None:
        seq = decode_frame(data).seq
        assert seq is not None
        seqs.append(seq)
        with ctx.store.write() as txn:
            ctx.hosts.set_cursor(txn, host.id, seq)

    crawler = Crawler(
        ctx.hosts, on_frame, config=CrawlerConfig(policy=config.network_policy, close_timeout=0.1),
        limits=HostLimits(rates=tiny_rates), dns=ctx.identity.network.dns,
    )  # fmt: skip
    service = HostService(ctx.hosts, crawler, ctx.bans, config, ctx.http)
    with fake_upstream() as upstream:
        upstream.add(*[(seq, frame(seq)) for seq in range(1, FRAMES + 1)])
        try:
            yield Relay(ctx, crawler, service, RelayAdmin(ctx, service), upstream, seqs)
        finally:
            await crawler.stop()
            await ctx.aclose()


async def throttled_host(relay: Relay) -> Host:
    """The upstream, subscribed from seq 0 and driven over its hour window: throttled, its
    connection closed while it waits."""
    with relay.ctx.store.write() as txn:
        host = relay.ctx.hosts.add(
            txn, f"localhost:{relay.upstream.port}", no_ssl=True, account_limit=100
        )
        relay.ctx.hosts.set_cursor(txn, host.id, 0)
    relay.crawler.subscribe(host)
    await eventually(lambda: relay.row(host).status == HostStatus.THROTTLED)
    await eventually(lambda: relay.crawler.connected_hosts() == [])
    assert relay.seqs == list(range(1, TINY_HOUR + 1))
    return relay.row(host)


async def trust(relay: Relay, host: Host) -> None:
    await relay.admin.set_host_limits(host.hostname, trusted=True)


async def raise_account_limit(relay: Relay, host: Host) -> None:
    await relay.admin.set_host_limits(host.hostname, account_limit=1000)


async def request_crawl_after_a_change(relay: Relay, host: Host) -> None:
    # the row changes behind the crawler's back (as the accounts the pipeline admits change
    # the rates), then the host asks to be crawled
    with relay.ctx.store.write() as txn:
        row = relay.ctx.hosts.get_by_id(txn, host.id)
        assert row is not None
        row.account_limit = 1000
        relay.ctx.hosts.put(txn, row)
    await relay.service.request_crawl(host.hostname)


@pytest.mark.parametrize("change", [trust, raise_account_limit, request_crawl_after_a_change])
def test_a_throttled_host_goes_on_at_once_when_its_limits_change(
    tmp_path: Path, change: Any
) -> None:
    async def main() -> None:
        async with relay(tmp_path) as running:
            host = await throttled_host(running)
            await change(running, host)
            await eventually(lambda: len(running.seqs) == FRAMES)
            assert running.seqs == list(range(1, FRAMES + 1))
            assert running.row(host).status == HostStatus.ACTIVE
            assert running.upstream.cursors == [0, TINY_HOUR]

    asyncio.run(main())


def test_hosts_under_a_trusted_domain_are_trusted(tmp_path: Path) -> None:
    async def main() -> None:
        async with relay(tmp_path, trusted_domains=("LOCALHOST", "*.pds.test")) as running:
            hosts = running.ctx.hosts
            with running.ctx.store.write() as txn:
                old = hosts.add(txn, "localhost:2583", no_ssl=True, account_limit=100)
                under = hosts.add(txn, "a.pds.test", no_ssl=False, account_limit=100)
                other = hosts.add(txn, "pds.test", no_ssl=False, account_limit=100)
            assert not old.trusted  # registered before the setting: trusted at start
            assert sorted(await running.service.trust()) == ["a.pds.test", "localhost:2583"]
            assert [running.row(h).trusted for h in (old, under, other)] == [True, True, False]
            assert await running.service.trust() == []
            added = await running.service.add_configured(f"localhost:{running.upstream.port}")
            assert added is not None
            assert added.trusted  # a new host is trusted when it is added

    asyncio.run(main())
