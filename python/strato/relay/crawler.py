"""Upstream subscriptions: :class:`Crawler` keeps one task per host reading its
``com.atproto.sync.subscribeRepos`` and hands every message frame, as the raw bytes received,
to the ingest callback (``on_frame(host, data)``, which may wait: backpressure reaches the
host's socket and nothing is dropped).

Each host's task:

- reads the host row at every (re)connect and connects to ``host.stream_url`` with
  ``?cursor=<last_seq>`` (none while ``last_seq`` is -1: a new host is joined live);
- checks the address first (:func:`strato.relay.ssrf.check_target`, under the relay's network
  policy) and connects to a checked address; redirects are not followed;
- identifies itself as a relay (``User-Agent: strato-relay/<version> (atproto-relay)``) and
  refuses a host whose handshake answer has ``Server: ...atproto-relay...``: a relay feeding a
  relay is a loop, so the host is set ``banned`` (the reference relay's loop guard);
- refuses frames over 5 MB (the websocket's ``max_size``): the connection is dropped and the
  drop counted as ``frame_too_big``; the next connection resumes after the last frame received
  before it, skipping the seqs up to the oversized one, so the frames after it still arrive;
- an error frame from upstream ends the connection; ``FutureCursor`` sets the host ``idle``
  and it is tried again after :attr:`CrawlerConfig.offline_retry`;
- takes each frame from the host's rate limits (:mod:`strato.relay.limits`); over a limit the
  host is ``throttled`` and not read until the window allows (a wait longer than
  :attr:`CrawlerConfig.short_wait` closes the connection meanwhile and resumes from the
  cursor), then ``active`` again. :meth:`Crawler.limits_changed` (a new account limit, trust,
  a ``requestCrawl``) ends a wait at once: the host goes on as soon as its new limits allow;
- reconnects after an exponential backoff with jitter, doubling from
  :attr:`CrawlerConfig.min_backoff` to :attr:`CrawlerConfig.max_backoff` after every
  connection that failed or ended (with an error, or closed by the host) before it had been up
  :attr:`CrawlerConfig.healthy_after` seconds, so a host that sends one bad frame and hangs up
  is not redialled several times a second; only a connection that stayed up that long resets
  it. After :attr:`CrawlerConfig.offline_after` connections in a row that could not be opened
  the host is ``offline`` and is tried every :attr:`CrawlerConfig.offline_retry` seconds (the
  reference gives up);
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
from typing import Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import CloseCode

from strato import __version__
from strato.errors import FrameError
from strato.firehose.frames import ERROR_HEADER, MAX_FRAME_BYTES, decode_frame
from strato.identity.dnsclient import DnsClient
from strato.netpolicy import AddressLookup, NetworkPolicy
from strato.relay.bans import DomainBans
from strato.relay.host_metrics import HostMetrics
from strato.relay.hosts import Host, HostStatus, HostStore
from strato.relay.limits import HostLimits
from strato.relay.ssrf import AddressError, HostnameError, Target, check_target

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


@dataclass
class _Session:
    """How one connection went: when it opened (None: it did not), why it ended (a reason
    counted in the metrics), and what comes next (``stop``, ``throttled``: wait for the rate
    limits, or a ``delay`` other than the backoff)."""

    opened_at: float | None = None
    reason: str | None = None
    delay: float | None = None
    stop: bool = False
    throttled: bool = False

    @property
    def opened(self) -> bool:
        return self.opened_at is not None

    def healthy(self, healthy_after: float) -> bool:
        """Whether the connection stayed up ``healthy_after`` seconds."""
        return self.opened_at is not None and time.monotonic() - self.opened_at >= healthy_after


class _Connect(connect):
    """A websocket connect that does not follow redirects (the address was checked)."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


@dataclass
class _State:
    """What the crawler holds in memory for one subscribed host."""

    host: Host
    task: asyncio.Task[None] | None = None
    connected: bool = False
    connections: int = 0
    last_frame: float = 0.0
    #: Resume after this seq (past an oversized frame) when above the stored cursor.
    resume_after: int = -1
    #: How the last connection (or attempt) ended: an error reason, ``closed`` or
    #: ``throttled``; the reason of the next reconnect.
    ended: str = "closed"
    #: Set when the host's limits change: ends a throttle wait.
    wake: asyncio.Event = field(default_factory=asyncio.Event)


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
        self._states: dict[int, _State] = {}
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
        if self.bans is not None and self.bans.is_banned(host.hostname):
            return False
        state = self._states.get(host.id)
        if state is not None and state.task is not None and not state.task.done():
            return True
        state = self._states[host.id] = _State(host)
        state.task = asyncio.create_task(self._run(state, delay), name=f"crawl {host.hostname}")
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch())
        return True

    async def unsubscribe(self, host_id: int) -> bool:
        """Stop reading the host; False when it was not subscribed."""
        state = self._states.pop(host_id, None)
        self.limits.forget(host_id)
        if state is None or state.task is None or state.task.done():
            return False
        state.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await state.task
        return True

    async def ban(self, host_id: int) -> Host | None:
        """Set the host ``banned`` and stop reading it."""
        await self.unsubscribe(host_id)
        return await self._set_status(host_id, HostStatus.BANNED)

    def is_subscribed(self, host_id: int) -> bool:
        state = self._states.get(host_id)
        return state is not None and state.task is not None and not state.task.done()

    def connected_hosts(self) -> list[str]:
        """The hostnames with an open connection."""
        return sorted(state.host.hostname for state in self._states.values() if state.connected)

    async def stop(self) -> None:
        """Close every subscription and wait for the tasks to end."""
        self._closing = True
        tasks = [state.task for state in self._states.values() if state.task is not None]
        if self._watcher is not None:
            tasks.append(self._watcher)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._states.clear()
        self._update_connected()

    async def drop_banned(self) -> list[str]:
        """Stop reading every subscribed host a domain ban now covers (after an admin bans a
        domain); their hostnames."""
        if self.bans is None:
            return []
        doomed = [
            state.host
            for state in self._states.values()
            if self.bans.is_banned(state.host.hostname)
        ]
        for host in doomed:
            await self.unsubscribe(host.id)
        return [host.hostname for host in doomed]

    async def check_idle(self) -> list[str]:
        """Set ``idle`` every connected host silent for :attr:`CrawlerConfig.idle_after`
        seconds; their hostnames (the crawler runs this every ``idle_check`` seconds)."""
        now = time.monotonic()
        idle = [
            state
            for state in list(self._states.values())
            if state.connected
            and state.host.status == HostStatus.ACTIVE
            and now - state.last_frame >= self.config.idle_after
        ]
        for state in idle:
            await self._set_status(state.host.id, HostStatus.IDLE)
        return [state.host.hostname for state in idle]

    async def refresh(self) -> None:
        """Re-read the rows of the subscribed hosts and resize their rate limits to their
        accounts now (the crawler runs this every ``idle_check`` seconds)."""

        def rows() -> list[Host]:
            with self.hosts.store.read() as txn:
                found = (self.hosts.get_by_id(host_id, txn) for host_id in list(self._states))
                return [row for row in found if row is not None]

        for row in await asyncio.to_thread(rows):
            self.limits_changed(row)

    def limits_changed(self, host: Host) -> None:
        """The row ``host`` has new rate limits (accounts, account limit, trust), or the host
        asked to be crawled again: resize its windows and end a throttle wait at once, the
        host going on as soon as the new limits allow."""
        self.limits.update(host)
        state = self._states.get(host.id)
        if state is not None:
            state.host = host
            state.wake.set()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.idle_check)
            await self.refresh()
            await self.check_idle()

    # -- one host -----------------------------------------------------------------------------

    async def _run(self, state: _State, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        failures = 0  # connections in a row that failed or ended before they were healthy
        dial_failures = 0  # connections in a row that could not be opened
        while True:
            host = await asyncio.to_thread(self.hosts.get_by_id, state.host.id)
            if host is None or host.status == HostStatus.BANNED:
                return
            if self.bans is not None and self.bans.is_banned(host.hostname):
                logger.info("not crawling %s: its domain is banned", host.hostname)
                return
            state.host = host
            self.limits.update(host)
            session = _Session()
            try:
                await self._session(state, session)
            except Exception:  # a bug here or in on_frame: never the end of the host's task
                logger.exception("reading %s failed", host.hostname)
                session.reason = "internal_error"
            finally:
                self._disconnected(state)
            if session.reason is not None:
                self._error(host, session.reason)
            state.ended = session.reason or ("throttled" if session.throttled else "closed")
            if session.stop:
                return
            dial_failures = 0 if session.opened else dial_failures + 1
            if session.healthy(self.config.healthy_after):
                failures = 0
            elif not session.throttled:
                failures += 1
            if session.throttled:
                await self._wait_for_room(state)
                continue
            wait = session.delay
            if wait is None:
                if dial_failures >= self.config.offline_after:
                    if state.host.status != HostStatus.OFFLINE:
                        logger.warning(
                            "%s is offline after %d failed connections; retrying every %.0f s",
                            host.hostname, dial_failures, self.config.offline_retry,
                        )  # fmt: skip
                        await self._set_status(host.id, HostStatus.OFFLINE)
                    wait = self.config.offline_retry
                else:
                    wait = self._backoff(failures)
            if self.metrics is not None:
                self.metrics.backoff.labels(host.hostname).set(wait)
            await asyncio.sleep(wait)

    def _backoff(self, failures: int) -> float:
        """The wait before the next connection: a short jitter after a healthy connection,
        else doubling from ``min_backoff`` up to ``max_backoff``, jittered (a half to the whole
        of it, so each wait is at least the one before until the cap)."""
        if failures == 0:
            return random.uniform(0, self.config.min_backoff)
        delay = min(self.config.max_backoff, self.config.min_backoff * 2.0 ** min(failures - 1, 32))
        return delay * random.uniform(0.5, 1.0)

    async def _session(self, state: _State, session: _Session) -> None:
        host = state.host
        try:
            target = await check_target(
                host.hostname, no_ssl=host.no_ssl, policy=self.config.policy, dns=self.dns
            )
        except (AddressError, HostnameError) as err:
            logger.warning("not connecting to %s: %s", host.hostname, err)
            session.reason = "address_refused"
            return
        cursor = max(host.last_seq, state.resume_after)
        url = host.stream_url + (f"?cursor={cursor}" if cursor >= 0 else "")
        websocket = await self._open(url, target, session)
        if websocket is None:
            if session.stop:
                await self._refuse_relay(host)
            return
        async with websocket:
            session.opened_at = time.monotonic()
            response = websocket.response
            if response is not None and _is_relay(response.headers.get_all("Server")):
                session.reason, session.stop = "relay_loop", True
                await self._refuse_relay(host)
                return
            await self._connected(state)
            await self._read(state, websocket, session, cursor)

    async def _open(self, url: str, target: Target, session: _Session) -> ClientConnection | None:
        """A connection to one of the checked addresses (None when none answers)."""
        error: Exception | None = None
        for address in target.addresses:
            try:
                return await _Connect(
                    url,
                    user_agent_header=USER_AGENT,
                    compression=None,
                    proxy=None,
                    max_size=self.config.max_frame_bytes,
                    open_timeout=self.config.open_timeout,
                    ping_interval=self.config.ping_interval,
                    close_timeout=self.config.close_timeout,
                    host=str(address),
                    port=target.port,
                )
            except InvalidStatus as err:  # the host answered, without a websocket
                if _is_relay(err.response.headers.get_all("Server")):
                    session.reason, session.stop = "relay_loop", True
                    return None
                error = err
                break
            except (OSError, TimeoutError, InvalidHandshake) as err:
                error = err
        logger.info("cannot connect to %s: %s", url, error)
        session.reason = "connect_failed"
        return None

    async def _read(
        self, state: _State, websocket: ClientConnection, session: _Session, cursor: int
    ) -> None:
        limiter = self.limits.limiter(state.host)
        last: bytes | None = None
        try:
            async for data in websocket:
                if isinstance(data, str):
                    session.reason = "text_frame"
                    return
                if data.startswith(ERROR_HEADER):
                    await self._upstream_error(state, data, session)
                    return
                wait = limiter.take()
                if wait and not await self._throttle(state, wait, session):
                    return
                await self.on_frame(state.host, data)
                last = data
                state.last_frame = time.monotonic()
                if state.host.status != HostStatus.ACTIVE:
                    await self._set_status(state.host.id, HostStatus.ACTIVE)
        except ConnectionClosed as closed:
            if closed.sent is not None and closed.sent.code == CloseCode.MESSAGE_TOO_BIG:
                session.reason = "frame_too_big"
                self._skip_oversized(state, last, cursor)
                if self.on_drop is not None:
                    self.on_drop(state.host, "frame_too_big")
            else:
                session.reason = "connection_lost"

    def _skip_oversized(self, state: _State, last: bytes | None, cursor: int) -> None:
        """After an oversized frame, resume past the seq that follows the last frame received
        (the cursor, when none came first). No seq lies between that frame and the oversized
        one, so a seq skipped is the oversized frame's or one that does not exist; a stream
        with gaps takes one connection per missing seq to get past it."""
        after = cursor
        if last is not None:
            try:
                seq = decode_frame(last).seq
            except FrameError:
                seq = None
            if seq is not None:
                after = seq
        if after >= 0:
            state.resume_after = max(state.resume_after, after + 1)

    async def _throttle(self, state: _State, wait: float, session: _Session) -> bool:
        """Wait for the host's rate limits; False when the wait is long and the connection is
        to be closed meanwhile (``session.throttled``: the next one resumes from the cursor
        once the limits allow)."""
        limiter = self.limits.limiter(state.host)
        if self.metrics is not None:
            self.metrics.throttled.labels(state.host.hostname).inc()
        if state.host.status != HostStatus.THROTTLED:
            logger.info("%s is over its event rate limits for %.1f s", state.host.hostname, wait)
            await self._set_status(state.host.id, HostStatus.THROTTLED)
        while wait:
            if wait > self.config.short_wait:
                session.throttled = True
                return False
            await self._pause(state, wait)
            wait = limiter.take()
        return True

    async def _wait_for_room(self, state: _State) -> None:
        """Wait, disconnected, until the host's rate limits take a frame again; then the host
        is ``active``."""
        limiter = self.limits.limiter(state.host)
        while wait := limiter.wait():
            await self._pause(state, wait)
        if state.host.status == HostStatus.THROTTLED:
            await self._set_status(state.host.id, HostStatus.ACTIVE)

    async def _pause(self, state: _State, seconds: float) -> None:
        """Sleep ``seconds``, or less when the host's limits change (:meth:`limits_changed`)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await state.wake.wait()
        state.wake.clear()

    async def _upstream_error(self, state: _State, data: bytes, session: _Session) -> None:
        try:
            body = decode_frame(data).body
            name, message = str(body["error"]), str(body.get("message", ""))
        except FrameError as err:
            name, message = "malformed error frame", str(err)
        logger.warning("%s sent error %s: %s", state.host.hostname, name, message)
        if name == "FutureCursor":
            # the host's log is behind our cursor (it was reset or restored): it stays idle
            # and is asked again later with the same cursor
            session.reason, session.delay = "future_cursor", self.config.offline_retry
            await self._set_status(state.host.id, HostStatus.IDLE)
        else:
            session.reason = "upstream_error"

    async def _refuse_relay(self, host: Host) -> None:
        logger.warning(
            "%s answers as a relay (Server: ...%s): not subscribing, host banned",
            host.hostname, RELAY_MARK,
        )  # fmt: skip
        await self._set_status(host.id, HostStatus.BANNED)

    # -- status and metrics -------------------------------------------------------------------

    async def _set_status(self, host_id: int, status: HostStatus) -> Host | None:
        def write() -> Host | None:
            with self.hosts.store.write() as txn:
                return self.hosts.set_status(txn, host_id, status)

        host = await asyncio.to_thread(write)
        state = self._states.get(host_id)
        if state is not None and host is not None:
            state.host = host
        return host

    async def _connected(self, state: _State) -> None:
        state.connected = True
        state.connections += 1
        state.last_frame = time.monotonic()
        if self.metrics is not None and state.connections > 1:
            self.metrics.reconnects.labels(state.host.hostname, state.ended).inc()
        self._update_connected()
        if state.host.status == HostStatus.OFFLINE:
            await self._set_status(state.host.id, HostStatus.ACTIVE)

    def _disconnected(self, state: _State) -> None:
        if state.connected:
            state.connected = False
            self._update_connected()

    def _update_connected(self) -> None:
        if self.metrics is not None:
            self.metrics.set_connected(sum(state.connected for state in self._states.values()))

    def _error(self, host: Host, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.error(host.hostname, reason)


def _is_relay(values: list[str]) -> bool:
    """Whether ``Server`` header values name a relay."""
    return any(RELAY_MARK in value.lower() for value in values)


__all__ = ["RELAY_MARK", "USER_AGENT", "Crawler", "CrawlerConfig", "OnDrop", "OnFrame"]
