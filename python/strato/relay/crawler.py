"""Upstream subscriptions: :class:`Crawler` keeps one task per host reading its
``com.atproto.sync.subscribeRepos`` with a :class:`~strato.firehose.consumer.StreamClient`, and
hands every message frame, as the raw bytes received, to the ingest callback
(``on_frame(host, data)``, which may wait: backpressure reaches the host's socket and nothing
is dropped).

The client owns the cursor rules, the frame cap, error frames and the backoff; the crawler
gives it, per host (:class:`_HostSubscription`):

- the cursor: the host row's ``last_seq``, which the ingest pipeline commits with the events,
  re-read at every (re)connect (none while it is -1: a new host is joined live); a frame over
  :attr:`CrawlerConfig.max_frame_bytes` (5 MB) is counted as ``frame_too_big`` (and told to
  ``on_drop``) and skipped: the next connection resumes past it;
- the connector: the address is checked first (:func:`strato.relay.ssrf.check_target`, under
  the relay's network policy) and the connection goes to a checked address; redirects are not
  followed. It identifies itself as a relay (``User-Agent: strato-relay/<version>
  (atproto-relay)``) and refuses a host whose handshake answer has
  ``Server: ...atproto-relay...``: a relay feeding a relay is a loop, so the host is set
  ``banned`` (the reference relay's loop guard);
- the rate limits: each frame is taken from the host's limits (:mod:`strato.relay.limits`);
  over a limit the host is ``throttled`` and not read until the window allows (a wait longer
  than :attr:`CrawlerConfig.short_wait` closes the connection meanwhile and resumes from the
  cursor), then ``active`` again. :meth:`Crawler.limits_changed` (a new account limit, trust,
  a ``requestCrawl``) ends a wait at once: the host goes on as soon as its new limits allow;
- what follows an ending: an error frame ends the connection; ``FutureCursor`` sets the host
  ``idle`` and it is tried again after :attr:`CrawlerConfig.offline_retry`; otherwise the
  client's backoff, doubling from :attr:`CrawlerConfig.min_backoff` to
  :attr:`CrawlerConfig.max_backoff` after every connection that failed or ended before it had
  been up :attr:`CrawlerConfig.healthy_after` seconds. After
  :attr:`CrawlerConfig.offline_after` connections in a row that could not be opened the host
  is ``offline`` and is tried every :attr:`CrawlerConfig.offline_retry` seconds (the reference
  gives up). An ``on_frame`` that fails ends the connection (``internal_error``), and the next
  one resumes from the cursor;
- a connected host silent for :attr:`CrawlerConfig.idle_after` seconds is ``idle`` (still
  connected); its next frame makes it ``active``.

:meth:`Crawler.start` subscribes every host that is not banned, spreading the first
connections over a few seconds; banned hosts and hosts under a domain ban are never
subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, NoReturn

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from strato import __version__
from strato.firehose.consumer import (
    Backoff,
    ConnectError,
    Ending,
    StreamClient,
    StreamHooks,
    StreamRefusedError,
)
from strato.firehose.frames import MAX_FRAME_BYTES
from strato.identity.dnsclient import DnsClient
from strato.netpolicy import AddressLookup, NetworkPolicy
from strato.relay.bans import DomainBans
from strato.relay.host_metrics import HostMetrics
from strato.relay.hosts import Host, HostStatus, HostStore
from strato.relay.limits import HostLimits
from strato.relay.ssrf import AddressError, HostnameError, check_target

logger = logging.getLogger("strato.relay.crawler")

#: What marks a relay in a ``Server`` or ``User-Agent`` header.
RELAY_MARK: Final = "atproto-relay"
USER_AGENT: Final = f"strato-relay/{__version__} ({RELAY_MARK})"

OnFrame = Callable[[Host, bytes], Awaitable[None]]
OnDrop = Callable[[Host, str], None]


@dataclass(frozen=True)
class CrawlerConfig:
    """Timings and limits of the crawler (seconds unless named otherwise), and the network
    policy upstream addresses must pass."""

    policy: NetworkPolicy = field(default_factory=NetworkPolicy)
    max_frame_bytes: int = MAX_FRAME_BYTES
    open_timeout: float = 5.0
    min_backoff: float = 0.5
    max_backoff: float = 30.0
    #: How long a connection must stay up before the backoff starts again from the shortest.
    healthy_after: float = 30.0
    #: Failed connections in a row after which a host is offline.
    offline_after: int = 15
    #: How often an offline (or FutureCursor-idle) host is tried again.
    offline_retry: float = 1800.0
    #: Silence after which a connected host is idle.
    idle_after: float = 1800.0
    #: How often connected hosts are checked for silence (and their rate limits resized).
    idle_check: float = 60.0
    #: The first connections at start are spread over ``hosts x stagger_per_host`` seconds,
    #: at most ``stagger_max``.
    stagger_per_host: float = 0.005
    stagger_max: float = 10.0
    #: Longest throttle wait spent connected; longer ones close the connection meanwhile.
    short_wait: float = 5.0
    ping_interval: float = 30.0
    #: How long a closing connection waits for the host's close frame (frames still queued
    #: behind it are not read, so a connection closed while throttled always waits this).
    close_timeout: float = 2.0


class _Connect(connect):
    """A websocket connect that does not follow redirects (the address was checked)."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


class Crawler:
    """The upstream subscriptions of a relay. ``on_frame`` gets each message frame;
    ``on_drop`` (optional) hears of frames dropped here (``frame_too_big``); ``dns`` resolves
    upstream hostnames (default: the system's resolver)."""

    def __init__(
        self,
        hosts: HostStore,
        on_frame: OnFrame,
        *,
        config: CrawlerConfig | None = None,
        bans: DomainBans | None = None,
        limits: HostLimits | None = None,
        metrics: HostMetrics | None = None,
        on_drop: OnDrop | None = None,
        dns: AddressLookup | None = None,
    ) -> None:
        self.hosts = hosts
        self.on_frame = on_frame
        self.config = config or CrawlerConfig()
        self.dns = dns or DnsClient()
        self.bans = bans
        self.limits = limits or HostLimits()
        self.metrics = metrics
        self.on_drop = on_drop
        self._subs: dict[int, _HostSubscription] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._closing = False

    # -- control ------------------------------------------------------------------------------

    async def start(self) -> int:
        """Subscribe every host that is not banned, the first connections spread out; returns
        how many were subscribed."""
        hosts = await asyncio.to_thread(lambda: list(self.hosts.all()))
        candidates = [host for host in hosts if host.status != HostStatus.BANNED]
        spread = min(self.config.stagger_max, len(candidates) * self.config.stagger_per_host)
        started = 0
        for host in candidates:
            if self.subscribe(host, delay=random.uniform(0, spread) if spread else 0.0):
                started += 1
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch())
        return started

    def subscribe(self, host: Host, *, delay: float = 0.0) -> bool:
        """Start reading ``host`` (after ``delay`` seconds) unless it is banned; True when it
        is subscribed (already or now)."""
        if self._closing or host.status == HostStatus.BANNED:
            return False
        if self.bans is not None and self.bans.is_banned(None, host.hostname):
            return False
        sub = self._subs.get(host.id)
        if sub is not None and sub.task is not None and not sub.task.done():
            return True
        sub = self._subs[host.id] = _HostSubscription(self, host)
        sub.task = asyncio.create_task(self._run(sub, delay), name=f"crawl {host.hostname}")
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch())
        return True

    async def unsubscribe(self, host_id: int) -> bool:
        """Stop reading the host; False when it was not subscribed."""
        sub = self._subs.pop(host_id, None)
        self.limits.forget(host_id)
        if sub is None or sub.task is None or sub.task.done():
            return False
        sub.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sub.task
        return True

    async def ban(self, host_id: int) -> Host | None:
        """Set the host ``banned`` and stop reading it."""
        await self.unsubscribe(host_id)
        return await self._set_status(host_id, HostStatus.BANNED)

    def is_subscribed(self, host_id: int) -> bool:
        sub = self._subs.get(host_id)
        return sub is not None and sub.task is not None and not sub.task.done()

    def connected_hosts(self) -> list[str]:
        """The hostnames with an open connection."""
        return sorted(sub.host.hostname for sub in self._subs.values() if sub.connected)

    async def stop(self) -> None:
        """Close every subscription and wait for the tasks to end."""
        self._closing = True
        tasks = [sub.task for sub in self._subs.values() if sub.task is not None]
        if self._watcher is not None:
            tasks.append(self._watcher)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._subs.clear()
        self._update_connected()

    async def drop_banned(self) -> list[str]:
        """Stop reading every subscribed host a domain ban now covers (after an admin bans a
        domain); their hostnames."""
        if self.bans is None:
            return []
        doomed = [
            sub.host for sub in self._subs.values() if self.bans.is_banned(None, sub.host.hostname)
        ]
        for host in doomed:
            await self.unsubscribe(host.id)
        return [host.hostname for host in doomed]

    async def check_idle(self) -> list[str]:
        """Set ``idle`` every connected host silent for :attr:`CrawlerConfig.idle_after`
        seconds; their hostnames (the crawler runs this every ``idle_check`` seconds)."""
        now = time.monotonic()
        idle = [
            sub
            for sub in list(self._subs.values())
            if sub.connected
            and sub.host.status == HostStatus.ACTIVE
            and now - sub.last_frame >= self.config.idle_after
        ]
        for sub in idle:
            await self._set_status(sub.host.id, HostStatus.IDLE)
        return [sub.host.hostname for sub in idle]

    async def refresh(self) -> None:
        """Re-read the rows of the subscribed hosts and resize their rate limits to their
        accounts now (the crawler runs this every ``idle_check`` seconds)."""

        def rows() -> list[Host]:
            with self.hosts.store.read() as txn:
                found = (self.hosts.get_by_id(txn, host_id) for host_id in list(self._subs))
                return [row for row in found if row is not None]

        for row in await asyncio.to_thread(rows):
            self.limits_changed(row)

    def limits_changed(self, host: Host) -> None:
        """The row ``host`` has new rate limits (accounts, account limit, trust), or the host
        asked to be crawled again: resize its windows and end a throttle wait at once, the
        host going on as soon as the new limits allow."""
        self.limits.update(host)
        sub = self._subs.get(host.id)
        if sub is not None:
            sub.host = host
            sub.wake.set()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.idle_check)
            await self.refresh()
            await self.check_idle()

    # -- one host -----------------------------------------------------------------------------

    async def _run(self, sub: _HostSubscription, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        config = self.config
        client = StreamClient(
            sub.host.stream_url,
            cursor=sub,
            connector=sub.connect,
            hooks=sub,
            backoff=Backoff(config.min_backoff, config.max_backoff, config.healthy_after),
            retry_errors=None,  # FutureCursor included: the host is asked again later
            max_frame_bytes=config.max_frame_bytes,
        )
        try:
            async with contextlib.aclosing(client.raw_frames()) as frames:
                async for data in frames:
                    try:
                        await self.on_frame(sub.host, data)
                        sub.last_frame = time.monotonic()
                        if sub.host.status != HostStatus.ACTIVE:
                            await self._set_status(sub.host.id, HostStatus.ACTIVE)
                    except Exception as err:  # a bug here or in on_frame: the host goes on
                        logger.exception("reading %s failed", sub.host.hostname)
                        client.drop_connection("internal_error", err)
        finally:
            sub.disconnected()

    # -- status and metrics -------------------------------------------------------------------

    async def _set_status(self, host_id: int, status: HostStatus) -> Host | None:
        def write() -> Host | None:
            with self.hosts.store.write() as txn:
                return self.hosts.set_status(txn, host_id, status)

        host = await asyncio.to_thread(write)
        sub = self._subs.get(host_id)
        if sub is not None and host is not None:
            sub.host = host
        return host

    def _update_connected(self) -> None:
        if self.metrics is not None:
            self.metrics.set_connected(sum(sub.connected for sub in self._subs.values()))


class _HostSubscription(StreamHooks):
    """One subscribed host: its row and state in memory, and what is relay-specific in its
    :class:`~strato.firehose.StreamClient`: the cursor store (the row's ``last_seq``, re-read
    before each connection), the connector (checked address, relay headers, loop guard), the
    rate limits before each frame, and the host's status, metrics and waits after each
    connection."""

    def __init__(self, crawler: Crawler, host: Host) -> None:
        self.crawler = crawler
        self.host = host
        self.task: asyncio.Task[None] | None = None
        self.connected = False
        self.connections = 0
        self.last_frame = 0.0
        #: Connections in a row that could not be opened.
        self.dial_failures = 0
        #: How the last connection (or attempt) ended: an error reason, ``closed`` or
        #: ``throttled``; the reason of the next reconnect.
        self.ended = "closed"
        #: Set when the host's limits change: ends a throttle wait.
        self.wake = asyncio.Event()

    # -- the cursor store and the connector -----------------------------------------------------

    async def load(self) -> int | None:
        """The row's cursor (read by :meth:`connecting`); none while it is -1: a new host is
        joined live."""
        return self.host.last_seq if self.host.last_seq >= 0 else None

    async def connect(self, url: str, max_size: int) -> ClientConnection:
        """A connection to one of the host's checked addresses."""
        host, config = self.host, self.crawler.config
        try:
            target = await check_target(
                host.hostname, no_ssl=host.no_ssl, policy=config.policy, dns=self.crawler.dns
            )
        except (AddressError, HostnameError) as err:
            logger.warning("not connecting to %s: %s", host.hostname, err)
            raise ConnectError("address_refused", str(err)) from None
        error: Exception | None = None
        for address in target.addresses:
            try:
                return await _Connect(
                    url,
                    user_agent_header=USER_AGENT,
                    compression=None,
                    proxy=None,
                    max_size=max_size,
                    open_timeout=config.open_timeout,
                    ping_interval=config.ping_interval,
                    close_timeout=config.close_timeout,
                    host=str(address),
                    port=target.port,
                )
            except InvalidStatus as err:  # the host answered, without a websocket
                if _is_relay(err.response.headers.get_all("Server")):
                    await self._refuse_relay()
                error = err
                break
            except (OSError, TimeoutError, InvalidHandshake) as err:
                error = err
        logger.info("cannot connect to %s: %s", url, error)
        raise ConnectError("connect_failed", str(error))

    # -- hooks ----------------------------------------------------------------------------------

    async def connecting(self) -> bool:
        """Re-read the row: a host banned, gone or under a domain ban is not read any more."""
        crawler = self.crawler
        host = await asyncio.to_thread(crawler.hosts.get_by_id, None, self.host.id)
        if host is None or host.status == HostStatus.BANNED:
            return False
        if crawler.bans is not None and crawler.bans.is_banned(None, host.hostname):
            logger.info("not crawling %s: its domain is banned", host.hostname)
            return False
        self.host = host
        crawler.limits.update(host)
        return True

    async def opened(self, websocket: ClientConnection) -> None:
        response = websocket.response
        if response is not None and _is_relay(response.headers.get_all("Server")):
            await self._refuse_relay()
        self.connected = True
        self.connections += 1
        self.last_frame = time.monotonic()
        crawler = self.crawler
        if crawler.metrics is not None and self.connections > 1:
            crawler.metrics.reconnects.labels(self.host.hostname, self.ended).inc()
        crawler._update_connected()
        if self.host.status == HostStatus.OFFLINE:
            await crawler._set_status(self.host.id, HostStatus.ACTIVE)

    async def admit(self) -> bool:
        """Take the frame from the host's rate limits; over them the host is ``throttled``
        and waits, connected for a short wait; a longer one closes the connection (False)."""
        limiter = self.crawler.limits.limiter(self.host)
        wait = limiter.take()
        if not wait:
            return True
        crawler = self.crawler
        if crawler.metrics is not None:
            crawler.metrics.throttled.labels(self.host.hostname).inc()
        if self.host.status != HostStatus.THROTTLED:
            logger.info("%s is over its event rate limits for %.1f s", self.host.hostname, wait)
            await crawler._set_status(self.host.id, HostStatus.THROTTLED)
        while wait:
            if wait > crawler.config.short_wait:
                return False
            await self._pause(wait)
            wait = limiter.take()
        return True

    async def closed(self, ending: Ending, backoff: float) -> float:
        crawler, host, config = self.crawler, self.host, self.crawler.config
        self.disconnected()
        if ending.reason is not None and crawler.metrics is not None:
            crawler.metrics.error(host.hostname, ending.reason)
        if ending.reason in ("upstream_error", "future_cursor"):
            logger.warning("%s sent error %s", host.hostname, ending.error)
        if ending.reason == "frame_too_big" and crawler.on_drop is not None:
            crawler.on_drop(host, "frame_too_big")
        self.ended = ending.reason or ("throttled" if ending.paused else "closed")
        if ending.final:
            return 0.0
        self.dial_failures = 0 if ending.opened else self.dial_failures + 1
        if ending.paused:
            await self._wait_for_room()
            return 0.0
        wait = backoff
        if ending.reason == "future_cursor":
            # the host's log is behind our cursor (it was reset or restored): it stays idle
            # and is asked again later with the same cursor
            await crawler._set_status(host.id, HostStatus.IDLE)
            wait = config.offline_retry
        elif self.dial_failures >= config.offline_after:
            if host.status != HostStatus.OFFLINE:
                logger.warning(
                    "%s is offline after %d failed connections; retrying every %.0f s",
                    host.hostname, self.dial_failures, config.offline_retry,
                )  # fmt: skip
                await crawler._set_status(host.id, HostStatus.OFFLINE)
            wait = config.offline_retry
        if crawler.metrics is not None:
            crawler.metrics.backoff.labels(host.hostname).set(wait)
        return wait

    # -- helpers --------------------------------------------------------------------------------

    def disconnected(self) -> None:
        if self.connected:
            self.connected = False
            self.crawler._update_connected()

    async def _wait_for_room(self) -> None:
        """Wait, disconnected, until the host's rate limits take a frame again; then the host
        is ``active``."""
        limiter = self.crawler.limits.limiter(self.host)
        while wait := limiter.wait():
            await self._pause(wait)
        if self.host.status == HostStatus.THROTTLED:
            await self.crawler._set_status(self.host.id, HostStatus.ACTIVE)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the host's limits change
        (:meth:`Crawler.limits_changed`)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.wake.wait()
        self.wake.clear()

    async def _refuse_relay(self) -> NoReturn:
        """A relay feeding a relay is a loop: the host is banned, the subscription ends."""
        logger.warning(
            "%s answers as a relay (Server: ...%s): not subscribing, host banned",
            self.host.hostname, RELAY_MARK,
        )  # fmt: skip
        await self.crawler._set_status(self.host.id, HostStatus.BANNED)
        raise StreamRefusedError("relay_loop")


def _is_relay(values: list[str]) -> bool:
    """Whether ``Server`` header values name a relay."""
    return any(RELAY_MARK in value.lower() for value in values)


__all__ = ["RELAY_MARK", "USER_AGENT", "Crawler", "CrawlerConfig", "OnDrop", "OnFrame"]
