"""Rate limits: sliding windows in memory, the client address, and the reference's headers.

A :class:`RateLimit` is ``points`` per ``window`` seconds under a ``name``; every key (a client
address, an account DID, ``identifier-ip``...) has its own window. The window slides: the
count is the current fixed window's points plus the previous window's, weighted by how much of
it still overlaps the sliding window (Cloudflare's sliding-window counter), so a burst at a
window boundary cannot double the rate and each key costs two counters. Routes that name the
same :class:`RateLimit` share its counters (the reference's "shared" limits, such as repo
writes per hour across createRecord, putRecord, deleteRecord and applyWrites).

Every limited response carries the reference's headers: ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (unix seconds) and ``RateLimit-Policy``
(``<limit>;w=<window seconds>``) of the tightest limit; a refusal is 429
``RateLimitExceeded`` with ``Retry-After`` as well.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from starlette.requests import HTTPConnection

from strato.xrpc.errors import XrpcError

Clock = Callable[[], float]
#: Keys are pruned after this many consumptions (the scan drops keys idle for two windows).
_PRUNE_EVERY: Final = 4096


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``points`` per ``window`` seconds, for each key."""

    name: str
    points: int
    window: float

    def __post_init__(self) -> None:
        if self.points < 1 or self.window <= 0:
            raise ValueError(f"rate limit {self.name}: points and window must be positive")


@dataclass(frozen=True, slots=True)
class LimitStatus:
    """The state of one key after a consumption attempt."""

    limit: RateLimit
    allowed: bool
    remaining: int
    reset_at: float
    retry_after: float

    def headers(self) -> dict[str, str]:
        """The reference's ``RateLimit-*`` headers (and ``Retry-After`` on a refusal)."""
        headers = {
            "RateLimit-Limit": str(self.limit.points),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.floor(self.reset_at)),
            "RateLimit-Policy": f"{self.limit.points};w={_seconds(self.limit.window)}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return headers

    def error(self) -> XrpcError:
        """The 429 answer for a refusal."""
        return XrpcError(429, "RateLimitExceeded", "Rate Limit Exceeded", self.headers())


def _seconds(window: float) -> str:
    return str(int(window)) if window == int(window) else str(window)


class SlidingWindow:
    """The counters of one :class:`RateLimit` for every key."""

    def __init__(self, limit: RateLimit, clock: Clock = time.time) -> None:
        self.limit = limit
        self.clock = clock
        # key -> (start of the current fixed window, its points, the previous window's points)
        self._counts: dict[str, tuple[float, int, int]] = {}
        self._until_prune = _PRUNE_EVERY

    def consume(self, key: str, points: int = 1, *, dry_run: bool = False) -> LimitStatus:
        """Take ``points`` for ``key`` if the sliding window has room (a refusal takes none;
        ``dry_run`` only says whether they would be taken)."""
        now = self.clock()
        window = self.limit.window
        start = math.floor(now / window) * window
        current_start, current, previous = self._counts.get(key, (start, 0, 0))
        if current_start != start:
            previous = current if start - current_start == window else 0
            current = 0
        weight = 1 - (now - start) / window
        used = previous * weight + current
        allowed = used + points <= self.limit.points
        if allowed:
            current += points
            used += points
        if not dry_run:
            self._counts[key] = (start, current, previous)
            self._until_prune -= 1
            if self._until_prune <= 0:
                self._prune(start)
        remaining = max(0, math.floor(self.limit.points - used))
        retry = 0.0 if allowed else self._retry_after(now, start, current, previous, points)
        return LimitStatus(self.limit, allowed, remaining, start + window, retry)

    def _retry_after(
        self, now: float, start: float, current: int, previous: int, points: int
    ) -> float:
        """Seconds until ``points`` more fit, for a key that has no room now."""
        window, limit = self.limit.window, self.limit.points
        room = limit - current - points
        if room >= 0:
            # the previous window's weight falls until previous * (1 - (t - start) / window)
            # is at most room
            return start + window * (1 - room / previous) - now
        # the current window is too full by itself: it must slide out as the previous one
        fits = (limit - points) / current if limit >= points else 0.0
        return start + window * (2 - fits) - now

    def _prune(self, start: float) -> None:
        self._until_prune = _PRUNE_EVERY
        horizon = start - self.limit.window
        self._counts = {k: v for k, v in self._counts.items() if v[0] >= horizon}

    def reset(self, key: str) -> None:
        """Forget ``key``'s counts (after a successful login, for instance)."""
        self._counts.pop(key, None)


def client_ip(request: HTTPConnection, trusted_proxies: int = 0) -> str:
    """The client's address: the socket peer, or with ``trusted_proxies`` > 0 (the number of
    reverse proxies in front of the server, ``--trust-proxy``) the address that many hops back
    in ``X-Forwarded-For``, which only those proxies can have written. A hop that is not an IP
    address (a proxy's ``unknown``, a client's junk) is not believed: the peer it is."""
    peer = request.client.host if request.client is not None else "unknown"
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), trusted_proxies)


def forwarded_client(peer: str, forwarded_for: Iterable[str], trusted_proxies: int) -> str:
    """:func:`client_ip` from the socket ``peer`` and the ``X-Forwarded-For`` header values."""
    if trusted_proxies <= 0:
        return peer
    forwarded = [
        hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()
    ]
    if not forwarded:
        return peer
    return _address(forwarded[-min(trusted_proxies, len(forwarded))]) or peer


def _address(hop: str) -> str | None:
    """The IP address of an ``X-Forwarded-For`` hop (some proxies add the port: ``a.b.c.d:p``,
    ``[v6]:p``), in its canonical form; None when it is none."""
    host = hop
    if hop.startswith("["):
        host = hop[1:].partition("]")[0]
    elif hop.count(":") == 1:
        host = hop.partition(":")[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def tightest(statuses: list[LimitStatus]) -> LimitStatus | None:
    """The status to report: a refusal if any, else the one with the fewest points left."""
    refused = [s for s in statuses if not s.allowed]
    if refused:
        return max(refused, key=lambda s: s.retry_after)
    return min(statuses, key=lambda s: s.remaining, default=None)
