"""The relay's host methods: ``com.atproto.sync.requestCrawl`` (public; the admin add goes
through the same :meth:`HostService.request_crawl` with ``admin=True``),
``com.atproto.sync.listHosts`` and ``com.atproto.sync.getHostStatus``.

``requestCrawl`` checks, in the reference relay's order, with its answers:

1. public crawl requests turned off (and not an admin): 403 ``Forbidden``;
2. the hostname rules of :func:`strato.relay.ssrf.parse_hostname`: 400 ``BadRequest``;
3. a domain ban, or a host banned by an admin: 401 ``HostBanned`` (the lexicon's name; the
   reference answers ``DomainBan``);
4. the host's addresses (:func:`strato.relay.ssrf.check_target`) and its
   ``com.atproto.server.describeServer`` (5 s, no redirects, to the checked address): 400
   ``HostNotFound`` when refused or when it does not answer 200 with a JSON object; a host
   whose ``Server`` header names a relay is refused (400 ``BadRequest``), since a relay feeding
   a relay is a loop;
5. a new host needs room in the new-hosts-per-day window (admins are exempt): 429
   ``RateLimitExceeded``; it is added with the default account limit and subscribed. A known
   host is subscribed again when it is not being read, and reconnected at once when it is
   ``idle`` or ``offline`` (the only way back for a host the reference has given up on).

``listHosts`` pages by host id (the cursor), oldest first, and like the reference lists only
hosts that have sent an event (``seq`` above 0).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Final

import httpx
import msgspec

from strato.datamodel import to_int64
from strato.errors import DataModelError
from strato.relay.bans import DomainBans
from strato.relay.crawler import RELAY_MARK, USER_AGENT, Crawler
from strato.relay.hosts import Host, HostStatus, HostStore
from strato.relay.settings import RelaySettings
from strato.relay.ssrf import AddressError, HostnameError, Target, check_target, parse_hostname
from strato.xrpc.errors import XrpcError
from strato.xrpc.ratelimit import RateLimit, SlidingWindow
from strato.xrpc.router import XrpcRequest, XrpcRouter
from strato.xrpc.types.sync import (
    GetHostStatusOutput,
    ListedHost,
    ListHostsOutput,
    ListHostsParams,
)

DESCRIBE_SERVER: Final = "/xrpc/com.atproto.server.describeServer"
CHECK_TIMEOUT: Final = 5.0
MAX_DESCRIBE_BYTES: Final = 64 * 1024
DAY: Final = 86400.0


def bad_request(message: str) -> XrpcError:
    return XrpcError(400, "BadRequest", message)


class HostService:
    """The host registry as the XRPC methods (and the admin API) see it. ``crawl_enabled`` and
    ``new_hosts_per_day`` start from the settings and are held in memory (as the reference
    holds them), changed by the admin API."""

    def __init__(
        self,
        hosts: HostStore,
        crawler: Crawler,
        bans: DomainBans,
        settings: RelaySettings,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hosts = hosts
        self.crawler = crawler
        self.bans = bans
        self.settings = settings
        self.http = http
        self.clock = clock
        self.crawl_enabled = settings.crawl_enabled
        self.new_hosts_per_day = 0
        self._new_hosts: SlidingWindow | None = None
        self.set_new_hosts_per_day(settings.new_hosts_per_day)

    def set_new_hosts_per_day(self, limit: int) -> None:
        """How many new hosts public ``requestCrawl`` may add per 24 hours (0: none)."""
        if limit < 0:
            raise ValueError("the new-hosts-per-day limit cannot be negative")
        self.new_hosts_per_day = limit
        self._new_hosts = (
            SlidingWindow(RateLimit("new-hosts", limit, DAY), self.clock) if limit else None
        )

    async def request_crawl(self, hostname: str, *, admin: bool = False) -> Host:
        """Add (or wake) the host ``hostname`` and subscribe to it; raises :class:`XrpcError`
        as the module docstring lists."""
        local = self.settings.local_network
        if not (self.crawl_enabled or admin):
            raise XrpcError(403, "Forbidden", "public requestCrawl not allowed on this relay")
        try:
            parsed = parse_hostname(hostname, local_network=local, admin=admin)
        except HostnameError as err:
            raise bad_request(f"hostname field empty or invalid: {err}") from None
        if self.bans.is_banned(parsed.hostname):
            raise XrpcError(401, "HostBanned", "host domain is banned")
        known = await asyncio.to_thread(self.hosts.get, parsed.hostname)
        if known is not None and known.status == HostStatus.BANNED:
            raise XrpcError(401, "HostBanned", "host is banned")
        no_ssl = known.no_ssl if known is not None else parsed.no_ssl
        try:
            target = await check_target(parsed.hostname, no_ssl=no_ssl, local_network=local)
        except AddressError as err:
            raise XrpcError(400, "HostNotFound", f"host server unreachable: {err}") from None
        await self.check_server(target)
        if known is None:
            host = await self._add(target, admin=admin)
        else:
            host = known
            if host.status in (HostStatus.IDLE, HostStatus.OFFLINE):
                await self.crawler.unsubscribe(host.id)
        self.crawler.subscribe(host)
        return host

    async def check_server(self, target: Target) -> None:
        """GET the host's ``describeServer`` at a checked address; raises 400
        ``HostNotFound`` when it does not answer it, 400 ``BadRequest`` for a relay."""
        status, servers, body = await self._describe_server(target)
        if any(RELAY_MARK in value.lower() for value in servers):
            raise bad_request(f"{target.hostname} is a relay (Server: {servers[0]})")
        try:
            answer = json.loads(body) if status == 200 and body is not None else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise XrpcError(
                400, "HostNotFound", f"host server unreachable: describeServer answered {status}"
            )

    async def _describe_server(self, target: Target) -> tuple[int, list[str], bytes | None]:
        """The status, ``Server`` headers and body (None past :data:`MAX_DESCRIBE_BYTES`) of
        the first checked address that takes the connection."""
        scheme = "http" if target.no_ssl else "https"
        headers = {"Host": target.hostname, "User-Agent": USER_AGENT, "Accept": "application/json"}
        failure: httpx.HTTPError = httpx.ConnectError("no address")
        for address in target.addresses:
            literal = f"[{address}]" if address.version == 6 else str(address)
            url = f"{scheme}://{literal}:{target.port}{DESCRIBE_SERVER}"
            try:
                async with asyncio.timeout(CHECK_TIMEOUT):
                    async with self.http.stream(
                        "GET", url, headers=headers, extensions={"sni_hostname": target.host},
                        timeout=CHECK_TIMEOUT, follow_redirects=False,
                    ) as response:  # fmt: skip
                        answer = (response.status_code, response.headers.get_list("server"))
                        data = bytearray()
                        async for chunk in response.aiter_bytes():
                            data += chunk
                            if len(data) > MAX_DESCRIBE_BYTES:
                                return (*answer, None)
                        return (*answer, bytes(data))
            except httpx.ConnectError as err:  # the next address may answer
                failure = err
            except httpx.HTTPError as err:
                failure = err
                break
            except TimeoutError:
                failure = httpx.TimeoutException(f"no answer in {CHECK_TIMEOUT} s")
                break
        raise XrpcError(400, "HostNotFound", f"host server unreachable: {failure}")

    async def _add(self, target: Target, *, admin: bool) -> Host:
        if not admin:
            window = self._new_hosts
            if window is None or not window.consume("hosts").allowed:
                raise XrpcError(
                    429, "RateLimitExceeded", "new host subscriptions temporarily disabled"
                )

        def add() -> Host:
            with self.hosts.store.write() as txn:
                return self.hosts.add(
                    txn,
                    target.hostname,
                    no_ssl=target.no_ssl,
                    account_limit=self.settings.default_account_limit,
                )

        return await asyncio.to_thread(add)

    def list_hosts(self, *, cursor: str | None, limit: int) -> ListHostsOutput:
        """Hosts that have sent events, by id after ``cursor``."""
        after = 0
        if cursor is not None:
            if not cursor.isascii() or not cursor.isdigit():
                raise bad_request(f"cursor parameter invalid: {cursor}")
            try:
                after = to_int64(cursor)
            except DataModelError as err:
                raise bad_request(f"cursor parameter invalid: {err.reason}") from None
        listed: list[Host] = []
        for host in self.hosts.all(after=after):
            if host.last_seq > 0:
                listed.append(host)
                if len(listed) == limit:
                    break
        output = ListHostsOutput(hosts=[_listed(host) for host in listed])
        if len(listed) == limit:
            output.cursor = str(listed[-1].id)
        return output

    def get_host_status(self, hostname: str) -> GetHostStatusOutput:
        """One host by its stored hostname; 404 ``HostNotFound``."""
        host = self.hosts.get(hostname)
        if host is None:
            raise XrpcError(404, "HostNotFound", "host not found")
        return GetHostStatusOutput(
            hostname=host.hostname,
            seq=host.last_seq,
            account_count=host.account_count,
            status=str(host.status),
        )


def _listed(host: Host) -> ListedHost:
    return ListedHost(
        hostname=host.hostname,
        seq=host.last_seq,
        account_count=host.account_count,
        status=str(host.status),
    )


def register(router: XrpcRouter, service: HostService) -> None:
    """Serve the three methods from ``service``."""

    async def request_crawl(request: XrpcRequest[Any, Any]) -> None:
        await service.request_crawl(request.input.hostname)

    async def list_hosts(request: XrpcRequest[Any, Any]) -> ListHostsOutput:
        params: ListHostsParams = request.params
        cursor = None if isinstance(params.cursor, msgspec.UnsetType) else params.cursor
        return await asyncio.to_thread(service.list_hosts, cursor=cursor, limit=params.limit)

    async def get_host_status(request: XrpcRequest[Any, Any]) -> GetHostStatusOutput:
        return await asyncio.to_thread(service.get_host_status, request.params.hostname)

    router.add("com.atproto.sync.requestCrawl", request_crawl)
    router.add("com.atproto.sync.listHosts", list_hosts)
    router.add("com.atproto.sync.getHostStatus", get_host_status)
