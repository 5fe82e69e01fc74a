"""Crawl requests: :class:`HostService`, what ``com.atproto.sync.requestCrawl`` (public; the
admin add goes through the same :meth:`HostService.request_crawl` with ``admin=True``) and the
listing of hosts do, over the host registry (:mod:`strato.relay.hosts`).

A crawl request is checked in the reference relay's order; each refusal is a
:class:`CrawlRefusedError` (the relay's XRPC answer, :mod:`strato.relay.routes.errors`, in
brackets):

1. public crawl requests turned off (and not an admin): :class:`CrawlDisabledError` (403
   ``Forbidden``);
2. the hostname rules of :func:`strato.relay.ssrf.parse_hostname`:
   :class:`HostRefusedError` (400 ``BadRequest``);
3. a domain ban, or a host banned by an admin: :class:`HostBannedError` (401 ``HostBanned``,
   the lexicon's name; the reference answers ``DomainBan``);
4. the host's addresses (:func:`strato.relay.ssrf.check_target`, under the relay's network
   policy): :class:`HostRefusedError` when the policy refuses one (a private or link-local
   address, say), :class:`HostUnreachableError` (400 ``HostNotFound``) when the name does not
   resolve; then its ``com.atproto.server.describeServer`` (5 s, no redirects, to a checked
   address): :class:`HostUnreachableError` when it does not answer 200 with a JSON object; a
   host whose ``Server`` header names a relay is refused (:class:`HostRefusedError`), since a
   relay feeding a relay is a loop;
5. a new host needs room in the new-hosts-per-day window (admins are exempt):
   :class:`NewHostsLimitError` (429 ``RateLimitExceeded``); it is added with the default
   account limit (trusted when its name is under ``--trusted-domain``) and subscribed. A known
   host is subscribed again when it is not being read, reconnected at once when it is ``idle``
   or ``offline`` (the only way back for a host the reference has given up on), and a
   ``throttled`` one has its rate limits read again at once
   (:meth:`~strato.relay.crawler.Crawler.limits_changed`).

The crawl hosts of the settings are registered at start (:meth:`HostService.add_configured`),
and every registered host under a trusted domain is trusted then (:meth:`HostService.trust`).

:meth:`HostService.listed` pages by host id, oldest first, and like the reference lists only
hosts that have sent an event (``seq`` above 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Final

import httpx

from strato.datamodel import check_json
from strato.netpolicy import send
from strato.relay.bans import DomainBans
from strato.relay.crawler import RELAY_MARK, USER_AGENT, Crawler
from strato.relay.hosts import Host, HostStatus, HostStore
from strato.relay.limits import is_trusted_host
from strato.relay.settings import RelaySettings
from strato.relay.ssrf import (
    AddressError,
    HostnameError,
    ParsedHostname,
    Target,
    UnresolvedHostError,
    check_target,
    parse_hostname,
)
from strato.xrpc.ratelimit import RateLimit, SlidingWindow

DESCRIBE_SERVER: Final = "/xrpc/com.atproto.server.describeServer"
CHECK_TIMEOUT: Final = 5.0
MAX_DESCRIBE_BYTES: Final = 64 * 1024
DAY: Final = 86400.0

logger = logging.getLogger("strato.relay")


class CrawlRefusedError(Exception):
    """A crawl request refused; the message says why."""


class CrawlDisabledError(CrawlRefusedError):
    """Public crawl requests are turned off."""


class HostRefusedError(CrawlRefusedError):
    """A hostname, address or server the relay will not crawl."""


class HostBannedError(CrawlRefusedError):
    """The host, or its domain, is banned."""


class HostUnreachableError(CrawlRefusedError):
    """The host does not resolve, or does not answer ``describeServer``."""


class NewHostsLimitError(CrawlRefusedError):
    """No room for a new host in the new-hosts-per-day window."""


class HostService:
    """The host registry as the XRPC methods (and the admin API) see it. ``crawl_enabled`` and
    ``new_hosts_per_day`` start from the settings and are held in memory (as the reference
    holds them), changed by the admin API. Hostnames are resolved as the crawler resolves
    them (its ``dns``), under the settings' network policy."""

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
        """Add (or wake) the host ``hostname`` and subscribe to it; raises a
        :class:`CrawlRefusedError` as the module docstring lists."""
        if not (self.crawl_enabled or admin):
            raise CrawlDisabledError("public requestCrawl not allowed on this relay")
        try:
            parsed = self._parse(hostname, admin=admin)
        except HostnameError as err:
            raise HostRefusedError(f"hostname field empty or invalid: {err}") from None
        if self.bans.is_banned(None, parsed.hostname):
            raise HostBannedError("host domain is banned")
        known = await asyncio.to_thread(self.hosts.get, None, parsed.hostname)
        if known is not None and known.status == HostStatus.BANNED:
            raise HostBannedError("host is banned")
        no_ssl = known.no_ssl if known is not None else parsed.no_ssl
        try:
            target = await self._check(parsed.hostname, no_ssl)
        except UnresolvedHostError as err:
            raise HostUnreachableError(f"host server unreachable: {err}") from None
        except AddressError as err:
            raise HostRefusedError(f"host address not allowed: {err}") from None
        await self.check_server(target)
        if known is None:
            host = await self._add(target, admin=admin)
        else:
            host = known
            if host.status in (HostStatus.IDLE, HostStatus.OFFLINE):
                await self.crawler.unsubscribe(host.id)
            else:
                self.crawler.limits_changed(host)
        self.crawler.subscribe(host)
        return host

    async def add_configured(self, name: str) -> Host | None:
        """Register the host ``name`` (a ``crawl`` host of the settings, as an admin adds one
        but without asking it first: it may not be up yet); None, logged, when its name or
        address is refused."""
        try:
            parsed = self._parse(name, admin=True)
            target = await self._check(parsed.hostname, parsed.no_ssl)
        except (HostnameError, AddressError) as err:
            logger.warning("not crawling %s: %s", name, err)
            return None
        return await asyncio.to_thread(self._store, target)

    async def trust(self) -> list[str]:
        """Trust every registered host under a trusted domain that is not yet (run at start,
        before the crawler); their hostnames."""
        domains = self.settings.trusted_domains

        def write() -> list[str]:
            trusted: list[str] = []
            with self.hosts.store.write() as txn:
                for host in list(self.hosts.all(txn)):
                    if not host.trusted and is_trusted_host(host.hostname, domains):
                        host.trusted = True
                        self.hosts.put(txn, host)
                        trusted.append(host.hostname)
            return trusted

        return await asyncio.to_thread(write) if domains else []

    def _parse(self, hostname: str, *, admin: bool) -> ParsedHostname:
        return parse_hostname(
            hostname, local_network=self.settings.network_policy.local_network, admin=admin
        )

    async def _check(self, hostname: str, no_ssl: bool | None) -> Target:
        policy = self.settings.network_policy
        return await check_target(hostname, no_ssl=no_ssl, policy=policy, dns=self.crawler.dns)

    async def check_server(self, target: Target) -> None:
        """GET the host's ``describeServer`` at a checked address; raises
        :class:`HostUnreachableError` when it does not answer it, :class:`HostRefusedError`
        for a relay."""
        status, servers, body = await self._describe_server(target)
        if any(RELAY_MARK in value.lower() for value in servers):
            raise HostRefusedError(f"{target.hostname} is a relay (Server: {servers[0]})")
        answer = None
        if status == 200 and body is not None:
            # check_json first: a host's answer nested deep would exhaust the decoder's stack
            with contextlib.suppress(ValueError):  # DataModelError is one too
                check_json(body)
                answer = json.loads(body)
        if not isinstance(answer, dict):
            raise HostUnreachableError(f"host server unreachable: describeServer answered {status}")

    async def _describe_server(self, target: Target) -> tuple[int, list[str], bytes | None]:
        """The status, ``Server`` headers and body (None past :data:`MAX_DESCRIBE_BYTES`) of
        the first checked address that takes the connection."""
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                response = await send(
                    self.http, target.destination, "GET", DESCRIBE_SERVER, headers=headers,
                    timeout=CHECK_TIMEOUT,
                )  # fmt: skip
                try:
                    answer = (response.status_code, response.headers.get_list("server"))
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if len(data) > MAX_DESCRIBE_BYTES:
                            return (*answer, None)
                    return (*answer, bytes(data))
                finally:
                    await response.aclose()
        except httpx.HTTPError as err:
            failure = str(err)
        except TimeoutError:
            failure = f"no answer in {CHECK_TIMEOUT} s"
        raise HostUnreachableError(f"host server unreachable: {failure}")

    async def _add(self, target: Target, *, admin: bool) -> Host:
        if not admin:
            window = self._new_hosts
            if window is None or not window.consume("hosts").allowed:
                raise NewHostsLimitError("new host subscriptions temporarily disabled")
        return await asyncio.to_thread(self._store, target)

    def _store(self, target: Target) -> Host:
        """The host row of ``target``, created when new (trusted when its name is under a
        trusted domain)."""
        with self.hosts.store.write() as txn:
            return self.hosts.add(
                txn,
                target.hostname,
                no_ssl=target.no_ssl,
                account_limit=self.settings.default_account_limit,
                trusted=is_trusted_host(target.hostname, self.settings.trusted_domains),
            )

    def listed(self, *, after: int, limit: int) -> list[Host]:
        """Up to ``limit`` hosts that have sent events, by id after ``after``."""
        listed: list[Host] = []
        for host in self.hosts.all(after=after):
            if host.last_seq > 0:
                listed.append(host)
                if len(listed) == limit:
                    break
        return listed
