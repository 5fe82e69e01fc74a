"""The requestCrawl notices to configured relays: sent with this PDS's hostname once the event
log moves, at most once per interval, only to relays the network policy allows, and a relay
that fails never affects a write."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from localnet import LocalDns, serve_app
from pds_net import local_network
from pds_repo_helpers import post, user
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strato.firehose import TABLES, LmdbEventLog
from strato.identity.dnsclient import DnsClient
from strato.netpolicy import NetworkPolicy
from strato.pds.crawlers import NOTIFY_INTERVAL, POLL_INTERVAL, Crawlers
from strato.storage import Store


class Relay:
    """A relay that records the requestCrawl bodies it gets (answering ``status``)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[Any] = []

    async def request_crawl(self, request: Request) -> Response:
        self.bodies.append(await request.json())
        return JSONResponse({}, status_code=self.status)

    def app(self) -> Starlette:
        path = "/xrpc/com.atproto.sync.requestCrawl"
        return Starlette(routes=[Route(path, self.request_crawl, methods=["POST"])])


def wait_for(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_relays_are_told_after_writes_and_a_failing_one_harms_nothing(tmp_path: Path) -> None:
    relay, refusing = Relay(), Relay(status=500)
    with serve_app(relay.app()) as relay_url, serve_app(refusing.app()) as refusing_url:
        relays = (relay_url, refusing_url, "http://127.0.0.1:1")
        with local_network(tmp_path, relays=relays, local_network=True) as pds:
            alice = user(pds, "alice")
            alice.create(post())
            wait_for(lambda: relay.bodies and refusing.bodies)
            assert relay.bodies == [{"hostname": pds.settings.hostname}]
            assert refusing.bodies == [{"hostname": pds.settings.hostname}]
            alice.create(post("after the notice"))


@pytest.fixture
def log(tmp_path: Path) -> Iterator[LmdbEventLog]:
    """A real event log the crawlers watch."""
    store = Store.open(tmp_path, name="crawl-test", schema_version=1, tables=TABLES, sync=False)
    yield LmdbEventLog(store)
    store.close()


def grow(log: LmdbEventLog, count: int) -> None:
    with log.store.write() as txn:
        log.append(txn, [lambda seq: b"event %d" % seq] * count)


async def _steps(dns: LocalDns, log: LmdbEventLog) -> None:
    relay = Relay()
    transport = httpx.ASGITransport(app=relay.app())
    async with httpx.AsyncClient(transport=transport) as http:
        crawlers = Crawlers(
            ["http://relay.test", "relay2.test"], "pds.test", http, log,
            policy=NetworkPolicy(local_network=True), dns=DnsClient([dns.address]),
        )  # fmt: skip
        assert crawlers.relays == ["http://relay.test", "https://relay2.test"]
        assert await crawlers.step() == POLL_INTERVAL  # nothing happened yet
        assert relay.bodies == []
        grow(log, 3)
        assert await crawlers.step() == NOTIFY_INTERVAL  # told; the next look is 20 min away
        assert relay.bodies == [{"hostname": "pds.test"}] * 2
        assert await crawlers.step() == POLL_INTERVAL
        grow(log, 1)
        assert await crawlers.step() == NOTIFY_INTERVAL
        assert len(relay.bodies) == 4


def test_crawler_steps_notify_once_per_growth(local_dns: LocalDns, log: LmdbEventLog) -> None:
    local_dns.a("relay.test", "127.0.0.1")
    local_dns.a("relay2.test", "127.0.0.1")
    asyncio.run(_steps(local_dns, log))


def test_only_relays_the_network_policy_allows_are_told(
    local_dns: LocalDns, caplog: pytest.LogCaptureFixture, log: LmdbEventLog
) -> None:
    relay = Relay()
    local_dns.a("relay.lan", "10.0.0.8")
    with serve_app(relay.app()) as relay_url:
        relays = [relay_url, "http://relay.lan:2584", "https://169.254.169.254"]

        async def notify(policy: NetworkPolicy) -> None:
            async with httpx.AsyncClient() as http:
                crawlers = Crawlers(
                    relays, "pds.test", http, log, policy=policy,
                    dns=DnsClient([local_dns.address]),
                )  # fmt: skip
                await crawlers.notify()

        with caplog.at_level(logging.WARNING, "strato.pds.crawlers"):
            asyncio.run(notify(NetworkPolicy()))
            assert relay.bodies == []  # loopback and plain http: refused outside a local network
            asyncio.run(notify(NetworkPolicy(local_network=True)))
            assert relay.bodies == [{"hostname": "pds.test"}]
    refusals = [
        record.getMessage() for record in caplog.records if "refused" in record.getMessage()
    ]
    assert (
        f"requestCrawl to {relay_url} refused: scheme 'http' not allowed (https only)" in refusals
    )
    assert (
        "requestCrawl to http://relay.lan:2584 refused: private address "
        "(relay.lan resolves to 10.0.0.8)"
    ) in refusals
    assert "requestCrawl to https://169.254.169.254 refused: link-local address" in refusals
