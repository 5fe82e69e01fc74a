"""Per-host limits: event rate limits (:class:`HostLimits`) and account limits
(:func:`admit_account`, :func:`release_account`, :func:`lift_limit`).

**Event rates.** Each host has a sliding window per second, hour and day (the sliding-window
counter of :mod:`strato.xrpc.ratelimit`). The reference relay sizes them from the host's
account limit; as the issue asks, ours follow the accounts the host really has within
its limit (``admitted``, the accounts whose events are forwarded; throttled ones do not raise
the rate):

==========  ===========================  ===========
window      regular host                 trusted
==========  ===========================  ===========
second      50 + admitted / 1000         5,000
hour        2,500 + admitted             50,000,000
day         20,000 + admitted x 10       500,000,000
==========  ===========================  ===========

An event over a window is never dropped: :meth:`HostLimiter.take` says how long to wait, the
crawler stops reading that host meanwhile (status ``throttled``) and carries on from there. A
change of the host's accounts, account limit or trust resizes its windows at once
(:meth:`HostLimits.update`), counts kept.

**Accounts.** When the pipeline meets a new account on a host it calls :func:`admit_account`
in its transaction: the host's ``account_count`` goes up and the account is admitted while the
host has fewer than ``account_limit`` admitted accounts; past that it is recorded as throttled
(its status ``throttled`` in ``getRepoStatus``). :func:`lift_limit` raises (or lowers) the
limit and hands back the throttled accounts that now fit, oldest first, for the pipeline to
reactivate and resync. :func:`release_account` is the way out (an account deleted or moved to
another host), so deleted accounts stop counting against the limit.

Tables (:data:`TABLES`): ``relay_throttled``: ``u64(host id) + u64(order)`` -> DID, the
throttled accounts of each host in the order they arrived; ``relay_throttled_dids``: DID ->
that key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from strato.relay.hosts import Host, HostStore
from strato.relay.ssrf import host_part
from strato.storage import ReadTxn, WriteTxn, from_u64, u64
from strato.xrpc.ratelimit import RateLimit

THROTTLED: Final = "relay_throttled"
THROTTLED_DIDS: Final = "relay_throttled_dids"
TABLES: Final = (THROTTLED, THROTTLED_DIDS)

SECOND: Final = 1.0
HOUR: Final = 3600.0
DAY: Final = 86400.0
TRUSTED_RATES: Final = (5_000, 50_000_000, 500_000_000)

Rates = tuple[RateLimit, RateLimit, RateLimit]


def host_rates(host: Host) -> Rates:
    """The host's per-second, per-hour and per-day event limits (see the module docstring)."""
    if host.trusted:
        second, hour, day = TRUSTED_RATES
    else:
        admitted = max(0, host.admitted_count)
        second, hour, day = 50 + admitted // 1000, 2_500 + admitted, 20_000 + admitted * 10
    return (
        RateLimit("host-second", second, SECOND),
        RateLimit("host-hour", hour, HOUR),
        RateLimit("host-day", day, DAY),
    )


class HostLimiter:
    """The three windows of one host: each the sliding-window counter of
    :class:`strato.xrpc.ratelimit.SlidingWindow` (this window's count plus the previous one's,
    weighted by how much of it still overlaps), kept lean since every frame passes here."""

    __slots__ = ("_clock", "_limits", "_state", "_windows")

    def __init__(self, rates: Rates, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._windows = [rate.window for rate in rates]
        self._limits = [rate.points for rate in rates]
        # per window: [start of the current fixed window, its count, the previous one's]
        self._state = [[0.0, 0, 0] for _ in rates]

    def update(self, rates: Rates) -> None:
        """Resize the windows (counts are kept)."""
        self._limits = [rate.points for rate in rates]

    def take(self, points: int = 1) -> float:
        """Take ``points`` events from every window and return 0, or take none and return the
        seconds until they fit."""
        wait = self.wait(points)
        if wait:
            return wait
        for state in self._state:
            state[1] += points
        return 0.0

    def wait(self, points: int = 1) -> float:
        """The seconds until ``points`` events fit in every window (0: they fit now); takes
        nothing."""
        now = self._clock()
        wait = 0.0
        for window, limit, state in zip(self._windows, self._limits, self._state, strict=True):
            start = (now // window) * window
            if state[0] != start:
                state[1], state[2] = 0, state[1] if start - state[0] == window else 0
                state[0] = start
            current, previous = state[1], state[2]
            if previous * (1 - (now - start) / window) + current + points > limit:
                room = limit - current - points
                if room >= 0:  # wait for the previous window's weight to fall far enough
                    until = start + window * (1 - room / previous)
                else:  # this window alone is too full: wait until it is the previous one
                    fits = (limit - points) / current if limit >= points else 0.0
                    until = start + window * (2 - fits)
                wait = max(wait, until - now, 0.001)
        return wait


@dataclass
class HostLimits:
    """The limiters of every host, made on first use, sized by ``rates`` (the module
    docstring's table)."""

    clock: Callable[[], float] = time.time
    rates: Callable[[Host], Rates] = host_rates

    def __post_init__(self) -> None:
        self._limiters: dict[int, HostLimiter] = {}

    def limiter(self, host: Host) -> HostLimiter:
        limiter = self._limiters.get(host.id)
        if limiter is None:
            limiter = self._limiters[host.id] = HostLimiter(self.rates(host), self.clock)
        return limiter

    def update(self, host: Host) -> None:
        """Resize the host's windows after its accounts, limit or trust changed. The limiter
        is made now if the host has none yet, so a change that lands while the host is being
        connected is not lost to a limiter made from the row read before it."""
        limiter = self._limiters.get(host.id)
        if limiter is None:
            self._limiters[host.id] = HostLimiter(self.rates(host), self.clock)
        else:
            limiter.update(self.rates(host))

    def forget(self, host_id: int) -> None:
        self._limiters.pop(host_id, None)


def is_trusted_host(hostname: str, domains: Iterable[str]) -> bool:
    """Whether the stored ``hostname`` (lowercase, a port only on a local network) is under
    one of the trusted ``domains``: ``pds.example.com`` names that host on any port,
    ``localhost:2583`` that host on that port only, ``*.example.com`` every name under it (as
    the reference's trusted domains, ``*.host.bsky.network``)."""
    host = host_part(hostname)
    for domain in domains:
        if domain.startswith("*."):
            if host.endswith(domain[1:]):
                return True
        elif domain in (hostname, host):
            return True
    return False


def admit_account(txn: WriteTxn, hosts: HostStore, host_id: int, did: str) -> bool:
    """Count the new account ``did`` on the host; True when it is within the host's account
    limit, False when it is throttled (and recorded as such). Raises ``LookupError`` for an
    unknown host."""
    host = _host(txn, hosts, host_id)
    host.account_count += 1
    admitted = host.trusted or host.admitted_count <= host.account_limit
    if not admitted:
        host.throttled_count += 1
        prefix = u64(host_id)
        last = next(iter(txn.items(THROTTLED, prefix=prefix, reverse=True, limit=1)), None)
        order = time.time_ns() if last is None else max(time.time_ns(), from_u64(last[0][8:]) + 1)
        key = prefix + u64(order)
        txn.put(THROTTLED, key, did.encode())
        txn.put(THROTTLED_DIDS, did.encode(), key)
    hosts.put(txn, host)
    return admitted


def release_account(txn: WriteTxn, hosts: HostStore, host_id: int, did: str) -> None:
    """The account ``did`` no longer counts on the host (deleted, or moved away)."""
    host = _host(txn, hosts, host_id)
    key = txn.get(THROTTLED_DIDS, did.encode())
    if key is not None and from_u64(key[:8]) == host_id:
        txn.delete(THROTTLED, key)
        txn.delete(THROTTLED_DIDS, did.encode())
        host.throttled_count = max(0, host.throttled_count - 1)
    host.account_count = max(0, host.account_count - 1)
    hosts.put(txn, host)


def is_throttled(txn: ReadTxn, did: str) -> bool:
    """Whether the account waits for room under its host's account limit."""
    return (THROTTLED_DIDS, did.encode()) in txn


def lift_limit(txn: WriteTxn, hosts: HostStore, host_id: int, account_limit: int) -> list[str]:
    """Set the host's account limit; the throttled accounts that now fit, in the order they
    arrived (no longer recorded as throttled: the caller reactivates and resyncs them). A
    lower limit throttles nobody already admitted."""
    if account_limit < 0:
        raise ValueError("an account limit cannot be negative")
    host = _host(txn, hosts, host_id)
    host.account_limit = account_limit
    room = account_limit - host.admitted_count
    lifted: list[str] = []
    if room > 0:
        for key, did in list(txn.items(THROTTLED, prefix=u64(host_id), limit=room)):
            txn.delete(THROTTLED, key)
            txn.delete(THROTTLED_DIDS, did)
            lifted.append(did.decode())
        host.throttled_count -= len(lifted)
    hosts.put(txn, host)
    return lifted


def _host(txn: WriteTxn, hosts: HostStore, host_id: int) -> Host:
    host = hosts.get_by_id(txn, host_id)
    if host is None:
        raise LookupError(f"no host with id {host_id}")
    return host


__all__ = [
    "TABLES",
    "THROTTLED",
    "THROTTLED_DIDS",
    "HostLimiter",
    "HostLimits",
    "admit_account",
    "host_rates",
    "is_throttled",
    "is_trusted_host",
    "lift_limit",
    "release_account",
]
