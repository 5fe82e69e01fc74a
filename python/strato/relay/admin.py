"""What a relay operator can do, as plain operations: :class:`RelayAdmin`. The admin XRPC
methods (:mod:`strato.relay.routes.admin`), the reference relay's ``/admin/...`` paths that
``goat`` calls (:mod:`strato.relay.routes.admin_paths`) and the admin page are thin adapters
over it.

- hosts: add (``requestCrawl`` as an admin: no daily limit, crawling off or not), block and
  unblock one host, ban and unban domain patterns (subscribed hosts a new ban covers are
  disconnected), account limit and trust (a host waiting on its rate limits goes on at once
  when the new ones allow);
- raising a host's account limit reactivates its throttled accounts that now fit, oldest first:
  each gets an ``#account`` with its combined status, and a resync (``#sync``), since the
  commits dropped while it was throttled are gone;
- accounts: takedown and reversal (:mod:`strato.relay.takedowns`), the state and indexed
  events of one account;
- the crawl switch and the new-hosts-per-day limit (held in memory by the host service, as the
  reference relay holds them);
- figures: per host events in, lag and status, drops by reason, the log, the consumers; and
  their last ten minutes (:attr:`RelayAdmin.history`, sampled by a chore of the app).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from strato.relay.accounts import AccountState
from strato.relay.consumers import Consumer, Consumers
from strato.relay.context import RelayContext
from strato.relay.host_service import HostService
from strato.relay.hosts import Host, HostStatus
from strato.relay.limits import lift_limit
from strato.relay.stats_history import StatsHistory, read_counters
from strato.relay.takedowns import Takedowns, UnknownAccountError
from strato.storage import WriteTxn


class HostNotFoundError(LookupError):
    """No host of that name is registered."""


@dataclass(frozen=True, slots=True)
class HostInfo:
    """A host with what the crawler and the bans say of it."""

    host: Host
    connected: bool
    banned_by: str | None


@dataclass(frozen=True, slots=True)
class HostFigures:
    """One host's ingest figures since start (``lag`` None: no event seen)."""

    host: Host
    events_in: int
    lag: float | None


@dataclass(frozen=True, slots=True)
class Stats:
    hosts: list[HostFigures]
    drops: dict[str, int]
    head: int
    log_bytes: int
    subscribers: int
    ingest_stopped: str | None


@dataclass(frozen=True, slots=True)
class AccountInfo:
    state: AccountState
    hostname: str | None
    events: list[int]


class RelayAdmin:
    """The admin operations of one relay over its context and host service."""

    def __init__(self, ctx: RelayContext, service: HostService) -> None:
        self.ctx = ctx
        self.service = service
        self.crawler = service.crawler
        self.bans = service.bans
        self.takedowns = Takedowns(
            store=ctx.store,
            accounts=ctx.accounts,
            sequencer=ctx.sequencer,
            repairer=ctx.repairer,
            notify=ctx.notify,
            metrics=ctx.relay_metrics,
        )
        self.consumers = Consumers()
        self.history = StatsHistory(lambda: read_counters(ctx.metrics, ctx.relay_metrics))

    # -- hosts --------------------------------------------------------------------------------

    def host(self, hostname: str) -> Host:
        """The registered host ``hostname``; raises :class:`HostNotFoundError`."""
        host = self.ctx.hosts.get(None, hostname.strip().lower())
        if host is None:
            raise HostNotFoundError(hostname)
        return host

    def info(self, host: Host) -> HostInfo:
        return HostInfo(
            host=host,
            connected=host.hostname in set(self.crawler.connected_hosts()),
            banned_by=self.bans.banned_by(None, host.hostname),
        )

    def hosts(self, *, after: int = 0, limit: int | None = None) -> list[HostInfo]:
        """Registered hosts of every status, in id order after ``after``."""
        connected = set(self.crawler.connected_hosts())
        found: list[HostInfo] = []
        with self.ctx.store.read() as txn:
            for host in self.ctx.hosts.all(txn, after=after):
                banned_by = self.bans.banned_by(txn, host.hostname)
                found.append(HostInfo(host, host.hostname in connected, banned_by))
                if limit is not None and len(found) >= limit:
                    break
        return found

    async def add_host(self, hostname: str) -> Host:
        """Register and subscribe ``hostname`` as an admin (raises the host service's
        :class:`~strato.relay.host_service.CrawlRefusedError` for a bad, banned or unreachable
        host)."""
        return await self.service.request_crawl(hostname, admin=True)

    async def block_host(self, hostname: str) -> Host:
        """Ban one host: disconnected, status ``banned``, not crawled again."""
        host = self.host(hostname)
        return await self.crawler.ban(host.id) or host

    async def unblock_host(self, hostname: str) -> Host:
        """Lift a host's ban (status ``active``) and subscribe to it again."""
        host = self.host(hostname)

        def write(txn: WriteTxn) -> Host | None:
            return self.ctx.hosts.set_status(txn, host.id, HostStatus.ACTIVE)

        updated = await asyncio.to_thread(self.ctx.store.transact, write) or host
        self.crawler.subscribe(updated)
        return updated

    async def ban_domain(self, domain: str) -> str:
        """Ban a domain pattern (raises :class:`~strato.relay.ssrf.HostnameError` for one
        that is not a domain name); the stored pattern."""
        pattern = await asyncio.to_thread(self.bans.ban, None, domain)
        await self.crawler.drop_banned()
        return pattern

    async def unban_domain(self, domain: str) -> bool:
        return await asyncio.to_thread(self.bans.unban, None, domain)

    async def set_host_limits(
        self, hostname: str, *, account_limit: int | None = None, trusted: bool | None = None
    ) -> tuple[Host, list[str]]:
        """Change a host's account limit and trust; the host and the accounts lifted (each
        has had its ``#account`` and is being resynced): those that fit under the new limit,
        or all of them when the host is trusted."""
        host = self.host(hostname)

        def write(txn: WriteTxn) -> tuple[Host, list[str]]:
            row = self.ctx.hosts.get_by_id(txn, host.id)
            if row is None:
                raise HostNotFoundError(hostname)
            if trusted is not None and row.trusted != trusted:
                row.trusted = trusted
                self.ctx.hosts.put(txn, row)
            lifted: list[str] = []
            limit = row.account_limit if account_limit is None else account_limit
            dids = lift_limit(txn, self.ctx.hosts, host.id, limit)
            if row.trusted:
                # A trusted host has no account limit: every throttled account fits (lifted
                # through a limit that holds them all, then the host's own is put back).
                current = self.ctx.hosts.get_by_id(txn, host.id) or row
                everyone = current.admitted_count + current.throttled_count
                dids += lift_limit(txn, self.ctx.hosts, host.id, everyone)
                lift_limit(txn, self.ctx.hosts, host.id, limit)
            for did in dids:
                state = self.ctx.accounts.get(txn, did)
                if state is None or not state.throttled:
                    continue
                state.throttled = False
                self.ctx.accounts.put(txn, state)
                self.ctx.repairer.append_account(txn, state)
                lifted.append(did)
            return self.ctx.hosts.get_by_id(txn, host.id) or row, lifted

        updated, lifted = await asyncio.to_thread(self.ctx.store.transact, write)
        self.crawler.limits_changed(updated)
        if lifted:
            self.ctx.notify()
        for did in lifted:
            self.ctx.repairer.resync(did)
        return updated, lifted

    # -- accounts -----------------------------------------------------------------------------

    def account(self, did: str) -> AccountInfo:
        """An account's state and its events in the log; raises
        :class:`~strato.relay.takedowns.UnknownAccountError`."""
        with self.ctx.store.read() as txn:
            state = self.ctx.accounts.get(txn, did)
            if state is None:
                raise UnknownAccountError(did)
            host = self.ctx.hosts.get_by_id(txn, state.host_id)
            events = self.ctx.accounts.event_seqs(txn, did)
        return AccountInfo(state, None if host is None else host.hostname, events)

    async def take_down(self, did: str) -> AccountInfo:
        await self.takedowns.take_down(did)
        return self.account(did)

    async def reverse_takedown(self, did: str) -> AccountInfo:
        await self.takedowns.reverse(did)
        return self.account(did)

    # -- switches -----------------------------------------------------------------------------

    @property
    def crawl_enabled(self) -> bool:
        return self.service.crawl_enabled

    def set_crawl_enabled(self, enabled: bool) -> None:
        self.service.crawl_enabled = enabled

    @property
    def new_hosts_per_day(self) -> int:
        return self.service.new_hosts_per_day

    def set_new_hosts_per_day(self, limit: int) -> None:
        self.service.set_new_hosts_per_day(limit)

    # -- figures ------------------------------------------------------------------------------

    def stats(self) -> Stats:
        """Ingest figures from the relay's metrics and store."""
        metrics = self.ctx.relay_metrics
        received, lag = metrics.received(), metrics.lag_seconds()
        hosts = [
            HostFigures(info.host, received.get(info.host.hostname, 0), lag.get(info.host.hostname))
            for info in self.hosts()
        ]
        return Stats(
            hosts=hosts,
            drops=metrics.drop_counts(),
            head=self.ctx.sequencer.head(),
            log_bytes=self.ctx.sequencer.total_bytes(),
            subscribers=len(self.consumers.all()),
            ingest_stopped=self.ctx.ingestor.stopped_reason,
        )

    def list_consumers(self) -> list[Consumer]:
        return self.consumers.all()
