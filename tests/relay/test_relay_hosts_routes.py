"""The relay's host methods over XRPC (:mod:`strato.relay.routes.hosts`): requestCrawl against
real upstreams on 127.0.0.1 (a PDS, a scripted one, one that answers as a relay), listHosts
pages and getHostStatus, with every refusal's status and error name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from localnet import LocalDns
from pds_net import LocalPds
from relay_hosts_net import FakeUpstream, add_host, eventually, fake_upstream, open_store, status
from starlette.applications import Starlette
from strato.firehose import decode_frame
from strato.identity.dnsclient import DnsClient
from strato.relay.bans import DomainBans
from strato.relay.crawler import Crawler, CrawlerConfig
from strato.relay.host_service import HostService
from strato.relay.hosts import Host, HostStatus, HostStore
from strato.relay.routes.errors import ERRORS
from strato.relay.routes.hosts import register
from strato.relay.settings import RelaySettings
from strato.storage import Store
from strato.xrpc.router import XrpcRouter

REQUEST_CRAWL = "/xrpc/com.atproto.sync.requestCrawl"
LIST_HOSTS = "/xrpc/com.atproto.sync.listHosts"
GET_HOST_STATUS = "/xrpc/com.atproto.sync.getHostStatus"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "relay") as opened:
        yield opened


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream() as running:
        yield running


class Relay:
    """The host methods served in-process, their service, and the frames its crawler got."""

    def __init__(self, service: HostService, client: httpx.AsyncClient) -> None:
        self.service = service
        self.client = client
        self.frames: list[bytes] = []

    async def crawl(self, hostname: Any) -> httpx.Response:
        return await self.client.post(REQUEST_CRAWL, json={"hostname": hostname})


@asynccontextmanager
async def relay(
    store: Store, dns: DnsClient | None = None, **settings: Any
) -> AsyncIterator[Relay]:
    config = RelaySettings(data_dir=store.path, **settings)
    hosts = HostStore(store)
    frames: list[bytes] = []

    async def on_frame(host: Host, data: bytes) -> None:
        frames.append(data)
        seq = decode_frame(data).seq
        if seq is not None:
            with store.write() as txn:
                hosts.set_cursor(txn, host.id, seq)

    bans = DomainBans(store)
    crawler = Crawler(
        hosts, on_frame, config=CrawlerConfig(policy=config.network_policy), bans=bans, dns=dns
    )
    async with httpx.AsyncClient(trust_env=False) as http:
        service = HostService(hosts, crawler, bans, config, http)
        router = XrpcRouter(errors=ERRORS)
        register(router, service)
        app = Starlette(routes=router.routes())
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay.test") as client:
            running = Relay(service, client)
            running.frames = frames
            try:
                yield running
            finally:
                await crawler.stop()


def run(
    store: Store,
    test: Callable[[Relay], Awaitable[None]],
    dns: DnsClient | None = None,
    **settings: Any,
) -> None:
    async def main() -> None:
        async with relay(store, dns, **settings) as running:
            await test(running)

    asyncio.run(main())


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


def test_request_crawl_adds_a_pds_and_reads_its_firehose(pds: LocalPds, store: Store) -> None:
    hostname = pds.url.removeprefix("http://").replace("127.0.0.1", "localhost")

    async def test(relay: Relay) -> None:
        response = await relay.crawl(hostname)
        assert response.status_code == 200, response.text
        assert response.content == b""
        host = HostStore(store).get(None, hostname)
        assert host is not None
        assert (host.no_ssl, host.account_limit, host.status) == (True, 100, HostStatus.ACTIVE)
        assert relay.service.crawler.is_subscribed(host.id)
        await eventually(lambda: relay.service.crawler.connected_hosts() == [hostname])
        await asyncio.to_thread(pds.create_account, "alice.test")
        head = pds.ctx.sequencer.head()
        await eventually(lambda: len(relay.frames) == head)

        got = (await relay.client.get(GET_HOST_STATUS, params={"hostname": hostname})).json()
        assert got == {"hostname": hostname, "seq": head, "accountCount": 0, "status": "active"}
        listed = (await relay.client.get(LIST_HOSTS)).json()
        assert listed == {"hosts": [got]}
        again = await relay.crawl(hostname.upper())  # known: nothing changes
        assert again.status_code == 200

    run(store, test, local_network=True)


@pytest.mark.parametrize(
    ("hostname", "message"),
    [
        ("", "empty"),
        ("localhost:2583", "port number"),
        ("127.0.0.1", "IP address"),
        ("pds", "not a valid DNS hostname"),
        ("http://pds.example.com", "requires SSL"),
        ("pds.example.com/xrpc", "is not a hostname"),
    ],
)
def test_bad_hostnames(store: Store, hostname: str, message: str) -> None:
    async def test(relay: Relay) -> None:
        response = await relay.crawl(hostname)
        assert error(response) == (400, "BadRequest")
        assert message in response.json()["message"]

    run(store, test)
    assert list(HostStore(store).all()) == []


def test_a_request_without_a_hostname_is_invalid(store: Store) -> None:
    async def test(relay: Relay) -> None:
        response = await relay.client.post(REQUEST_CRAWL, json={})
        assert error(response) == (400, "InvalidRequest")
        response = await relay.crawl(5)
        assert error(response) == (400, "InvalidRequest")

    run(store, test)


def test_a_host_that_does_not_resolve_is_not_found(store: Store) -> None:
    async def test(relay: Relay) -> None:
        response = await relay.crawl("no-such-host.invalid")
        assert error(response) == (400, "HostNotFound")

    run(store, test)


@pytest.mark.parametrize(
    ("hostname", "message"),
    [
        ("10.0.0.1:2583", "private address"),
        ("192.168.1.20", "private address"),
        ("169.254.169.254", "link-local address"),
        ("100.64.0.7:80", "shared address"),
        ("[fd00::1]:2583", "private address"),
        ("0.0.0.0:2583", "unspecified address"),
        ("pds.lan.test:2583", "private address (pds.lan.test resolves to 10.0.0.7)"),
    ],
)
def test_a_local_network_refuses_non_public_addresses(
    store: Store, local_dns: LocalDns, hostname: str, message: str
) -> None:
    local_dns.a("pds.lan.test", "10.0.0.7")

    async def test(relay: Relay) -> None:
        response = await relay.crawl(hostname)
        assert error(response) == (400, "BadRequest")
        assert response.json()["message"] == f"host address not allowed: {message}"

    run(store, test, DnsClient([local_dns.address]), local_network=True)
    assert list(HostStore(store).all()) == []


@pytest.mark.parametrize(
    "answer",
    [
        None,
        b"<html>hello</html>",
        b"[1, 2]",
        b'{"did": "' + b"x" * 70_000 + b'"}',
        b'{"did": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    ],
    ids=["501", "not-json", "not-an-object", "too-big", "too-deep"],
)
def test_a_host_that_does_not_answer_describe_server_is_not_found(
    store: Store, upstream: FakeUpstream, answer: bytes | None
) -> None:
    upstream.describe = answer

    async def test(relay: Relay) -> None:
        response = await relay.crawl(f"localhost:{upstream.port}")
        assert error(response) == (400, "HostNotFound")
        assert "describeServer answered" in response.json()["message"]

    run(store, test, local_network=True)
    assert list(HostStore(store).all()) == []


def test_a_host_nobody_listens_on_is_not_found(store: Store) -> None:
    with fake_upstream() as gone:
        closed_port = gone.port

    async def test(relay: Relay) -> None:
        response = await relay.crawl(f"localhost:{closed_port}")
        assert error(response) == (400, "HostNotFound")
        assert "unreachable" in response.json()["message"]

    run(store, test, local_network=True)


def test_a_relay_is_refused(store: Store, upstream: FakeUpstream) -> None:
    upstream.server = "indigo-relay/0.1 (atproto-relay)"

    async def test(relay: Relay) -> None:
        response = await relay.crawl(f"localhost:{upstream.port}")
        assert error(response) == (400, "BadRequest")
        assert "is a relay" in response.json()["message"]

    run(store, test, local_network=True)
    assert list(HostStore(store).all()) == []


def test_banned_domains_and_hosts_are_refused(store: Store, upstream: FakeUpstream) -> None:
    DomainBans(store).ban(None, "localhost")
    banned = add_host(store, f"127.0.0.1:{upstream.port}", status=HostStatus.BANNED)

    async def test(relay: Relay) -> None:
        assert error(await relay.crawl(f"localhost:{upstream.port}")) == (401, "HostBanned")
        assert error(await relay.crawl(f"pds.LOCALHOST:{upstream.port}")) == (401, "HostBanned")
        assert error(await relay.crawl(banned.hostname)) == (401, "HostBanned")

    run(store, test, local_network=True)
    assert [host.hostname for host in HostStore(store).all()] == [banned.hostname]
    assert upstream.cursors == []


def test_public_crawl_requests_can_be_turned_off(store: Store, upstream: FakeUpstream) -> None:
    async def test(relay: Relay) -> None:
        response = await relay.crawl(f"localhost:{upstream.port}")
        assert error(response) == (403, "Forbidden")
        host = await relay.service.request_crawl(f"localhost:{upstream.port}", admin=True)
        assert host.hostname == f"localhost:{upstream.port}"
        await eventually(lambda: upstream.cursors == [None])

    run(store, test, local_network=True, crawl_enabled=False)


def test_new_hosts_per_day(store: Store, upstream: FakeUpstream) -> None:
    async def test(relay: Relay) -> None:
        assert (await relay.crawl(f"localhost:{upstream.port}")).status_code == 200
        assert error(await relay.crawl(f"127.0.0.1:{upstream.port}")) == (429, "RateLimitExceeded")
        assert (await relay.crawl(f"localhost:{upstream.port}")).status_code == 200  # known
        await relay.service.request_crawl(f"127.0.0.1:{upstream.port}", admin=True)
        relay.service.set_new_hosts_per_day(0)
        with fake_upstream() as other:
            response = await relay.crawl(f"localhost:{other.port}")
        assert error(response) == (429, "RateLimitExceeded")
        with pytest.raises(ValueError, match="cannot be negative"):
            relay.service.set_new_hosts_per_day(-1)

    run(store, test, local_network=True, new_hosts_per_day=1)
    assert len(list(HostStore(store).all())) == 2


def test_an_offline_host_is_crawled_again(store: Store, upstream: FakeUpstream) -> None:
    host = add_host(store, f"localhost:{upstream.port}", last_seq=4, status=HostStatus.OFFLINE)

    async def test(relay: Relay) -> None:
        assert (await relay.crawl(host.hostname)).status_code == 200
        await eventually(lambda: status(store, host.id) == HostStatus.ACTIVE)
        assert upstream.cursors == [4]

    run(store, test, local_network=True)


def test_list_hosts_pages_through_hosts_that_have_sent_events(store: Store) -> None:
    names = [f"pds{i}.example.com" for i in range(7)]
    for i, name in enumerate(names):
        add_host(store, name, last_seq=-1 if i % 3 == 1 else 10 + i, account_count=i)

    async def test(relay: Relay) -> None:
        pages: list[list[str]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            body = (await relay.client.get(LIST_HOSTS, params=params)).json()
            pages.append([host["hostname"] for host in body["hosts"]])
            cursor = body.get("cursor")
            if cursor is None:
                break
        assert pages == [
            ["pds0.example.com", "pds2.example.com"],
            ["pds3.example.com", "pds5.example.com"],
            ["pds6.example.com"],
        ]
        first = (await relay.client.get(LIST_HOSTS, params={"limit": 1})).json()
        assert first == {
            "hosts": [{"hostname": "pds0.example.com", "seq": 10, "accountCount": 0,
                       "status": "active"}],
            "cursor": "1",
        }  # fmt: skip
        for bad in ({"cursor": "x"}, {"cursor": "-1"}, {"cursor": "9" * 5000}):
            response = await relay.client.get(LIST_HOSTS, params=bad)
            assert error(response) == (400, "BadRequest")
        for bad in ({"limit": "0"}, {"limit": "1001"}):
            response = await relay.client.get(LIST_HOSTS, params=bad)
            assert error(response) == (400, "InvalidRequest")

    run(store, test)


def test_get_host_status(store: Store) -> None:
    add_host(store, "pds.example.com", last_seq=-1, status=HostStatus.THROTTLED, account_count=3)

    async def test(relay: Relay) -> None:
        got = await relay.client.get(GET_HOST_STATUS, params={"hostname": "pds.example.com"})
        assert got.json() == {
            "hostname": "pds.example.com", "seq": -1, "accountCount": 3, "status": "throttled",
        }  # fmt: skip
        for name in ("other.example.com", "https://pds.example.com"):
            response = await relay.client.get(GET_HOST_STATUS, params={"hostname": name})
            assert error(response) == (404, "HostNotFound")
        assert error(await relay.client.get(GET_HOST_STATUS)) == (400, "InvalidRequest")

    run(store, test)
