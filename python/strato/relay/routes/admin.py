"""The relay's admin XRPC methods, ``dev.strato.relay.admin.*`` (lexicons in
``strato/relay/lexicons``), over :class:`strato.relay.admin.RelayAdmin`; every one needs the
admin password (:mod:`strato.relay.admin_auth`).

Errors (:mod:`strato.relay.routes.errors`): an unknown account is 400 ``RepoNotFound``, an
unknown host 400 ``HostNotFound``, a domain pattern that is not a domain name 400
``InvalidDomain``; ``addHost`` answers as ``requestCrawl`` does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

from strato import CID
from strato.relay import admin_types as types
from strato.relay.admin import AccountInfo, HostInfo, RelayAdmin
from strato.relay.admin_auth import admin_verifier
from strato.relay.consumers import Consumer
from strato.relay.hosts import Host
from strato.relay.stats_history import INTERVAL, Interval
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.errors import XrpcError

NS: Final = types.NS
UNSET: Any = types.UNSET
T = TypeVar("T")


def iso(stamp: float) -> str:
    """Unix time as an atproto datetime (UTC, milliseconds)."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp))
    return f"{whole}.{int(stamp % 1 * 1000):03d}Z"


def host_view(info: HostInfo) -> types.HostView:
    host = info.host
    return types.HostView(
        id=host.id,
        hostname=host.hostname,
        status=str(host.status),
        seq=host.last_seq,
        account_count=host.account_count,
        account_limit=host.account_limit,
        throttled_count=host.throttled_count,
        trusted=host.trusted,
        no_ssl=host.no_ssl,
        connected=info.connected,
        banned_by=UNSET if info.banned_by is None else info.banned_by,
        added_at=iso(host.added_at) if host.added_at else UNSET,
    )


def account_view(info: AccountInfo) -> types.AccountView:
    state = info.state
    head = UNSET if state.head is None else CID.decode(state.head).encode()
    return types.AccountView(
        did=state.did,
        active=state.active,
        takendown=state.takendown,
        throttled=state.throttled,
        desynchronized=state.desynchronized,
        events=info.events,
        hostname=UNSET if info.hostname is None else info.hostname,
        status=UNSET if state.status is None else state.status,
        upstream_status=UNSET if state.upstream_status is None else state.upstream_status,
        rev=UNSET if state.rev is None else state.rev,
        head=head,
    )


def consumer_view(consumer: Consumer) -> types.ConsumerView:
    return types.ConsumerView(
        id=consumer.id,
        remote_addr=consumer.remote_addr,
        user_agent=consumer.user_agent,
        connected_at=iso(consumer.connected_at),
        events_sent=UNSET if consumer.events_sent is None else consumer.events_sent,
        source=consumer.source,
        cursor=UNSET if consumer.cursor is None else consumer.cursor,
    )


def interval_view(interval: Interval) -> types.StatsInterval:
    return types.StatsInterval(
        end=iso(interval.end),
        duration_ms=round(interval.seconds * 1000),
        events_in=interval.received,
        events_appended=interval.appended,
        frames_sent=UNSET if interval.sent is None else interval.sent,
        drops=[types.DropCount(reason=r, count=n) for r, n in interval.drops.items()],
        lag=[
            types.HostLag(hostname=host, lag_ms=round(seconds * 1000))
            for host, seconds in interval.lag.items()
        ],
    )


def register(router: XrpcRouter, admin: RelayAdmin) -> None:
    """Add the admin methods to ``router``."""
    auth = admin_verifier(admin.ctx.admin_token)

    def method(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        nsid = f"{NS}.{name}"
        return router.method(nsid, types=types.METHODS[nsid], auth=auth)

    @method("banDomain")
    async def ban_domain(request: XrpcRequest[None, types.DomainInput]) -> types.DomainOutput:
        domain = request.input.domain
        return types.DomainOutput(domain=await admin.ban_domain(domain))

    @method("unbanDomain")
    async def unban_domain(request: XrpcRequest[None, types.DomainInput]) -> types.UnbanOutput:
        domain = request.input.domain
        return types.UnbanOutput(removed=await admin.unban_domain(domain))

    @method("listBans")
    async def list_bans(request: XrpcRequest[None, None]) -> types.ListBansOutput:
        return types.ListBansOutput(domains=await asyncio.to_thread(admin.bans.patterns))

    async def hosted(host: Host) -> types.HostView:
        return host_view(await asyncio.to_thread(admin.info, host))

    @method("addHost")
    async def add_host(request: XrpcRequest[None, types.HostInput]) -> types.HostView:
        return await hosted(await admin.add_host(request.input.hostname))

    @method("blockHost")
    async def block_host(request: XrpcRequest[None, types.HostInput]) -> types.HostView:
        return await hosted(await admin.block_host(request.input.hostname))

    @method("unblockHost")
    async def unblock_host(request: XrpcRequest[None, types.HostInput]) -> types.HostView:
        return await hosted(await admin.unblock_host(request.input.hostname))

    @method("setHostLimits")
    async def set_host_limits(
        request: XrpcRequest[None, types.SetHostLimitsInput],
    ) -> types.SetHostLimitsOutput:
        given = request.input
        host, lifted = await admin.set_host_limits(
            given.hostname,
            account_limit=given.account_limit if isinstance(given.account_limit, int) else None,
            trusted=given.trusted if isinstance(given.trusted, bool) else None,
        )
        info = await asyncio.to_thread(admin.info, host)
        return types.SetHostLimitsOutput(host=host_view(info), lifted=lifted)

    @method("listHosts")
    async def list_hosts(
        request: XrpcRequest[types.ListHostsParams, None],
    ) -> types.ListHostsOutput:
        params = request.params
        after = 0
        if isinstance(params.cursor, str):
            if not params.cursor.isascii() or not params.cursor.isdigit():
                raise XrpcError(400, "InvalidRequest", f"bad cursor: {params.cursor}")
            after = int(params.cursor)
        found = await asyncio.to_thread(lambda: admin.hosts(after=after, limit=params.limit))
        full = len(found) >= params.limit
        return types.ListHostsOutput(
            hosts=[host_view(info) for info in found],
            cursor=str(found[-1].host.id) if full else UNSET,
        )

    @method("takedownAccount")
    async def takedown(request: XrpcRequest[None, types.DidInput]) -> types.AccountView:
        return account_view(await admin.take_down(request.input.did))

    @method("reverseTakedown")
    async def reverse(request: XrpcRequest[None, types.DidInput]) -> types.AccountView:
        return account_view(await admin.reverse_takedown(request.input.did))

    @method("getAccount")
    async def get_account(request: XrpcRequest[types.DidParams, None]) -> types.AccountView:
        did = request.params.did
        return account_view(await asyncio.to_thread(admin.account, did))

    @method("listTakedowns")
    async def list_takedowns(
        request: XrpcRequest[types.ListTakedownsParams, None],
    ) -> types.ListTakedownsOutput:
        params = request.params
        after = params.cursor if isinstance(params.cursor, str) else None
        dids = await asyncio.to_thread(
            lambda: admin.takedowns.listed(after=after, limit=params.limit)
        )
        full = len(dids) >= params.limit
        return types.ListTakedownsOutput(dids=dids, cursor=dids[-1] if full else UNSET)

    @method("listConsumers")
    async def list_consumers(request: XrpcRequest[None, None]) -> types.ListConsumersOutput:
        consumers = await asyncio.to_thread(admin.list_consumers)
        return types.ListConsumersOutput(consumers=[consumer_view(c) for c in consumers])

    @method("getStats")
    async def get_stats(request: XrpcRequest[None, None]) -> types.GetStatsOutput:
        stats = await asyncio.to_thread(admin.stats)
        return types.GetStatsOutput(
            hosts=[
                types.HostStats(
                    hostname=figures.host.hostname,
                    status=str(figures.host.status),
                    events_in=figures.events_in,
                    account_count=figures.host.account_count,
                    account_limit=figures.host.account_limit,
                    seq=figures.host.last_seq,
                    lag_ms=UNSET if figures.lag is None else round(figures.lag * 1000),
                )
                for figures in stats.hosts
            ],
            drops=[types.DropCount(reason=r, count=n) for r, n in stats.drops.items()],
            head=stats.head,
            log_bytes=stats.log_bytes,
            subscribers=stats.subscribers,
            ingest_stopped=UNSET if stats.ingest_stopped is None else stats.ingest_stopped,
        )

    @method("getStatsHistory")
    async def get_stats_history(request: XrpcRequest[None, None]) -> types.GetStatsHistoryOutput:
        return types.GetStatsHistoryOutput(
            interval_ms=round(INTERVAL * 1000),
            intervals=[interval_view(interval) for interval in admin.history.intervals()],
        )

    @method("setCrawlEnabled")
    async def set_crawl_enabled(request: XrpcRequest[None, types.Enabled]) -> types.Enabled:
        admin.set_crawl_enabled(request.input.enabled)
        return types.Enabled(enabled=admin.crawl_enabled)

    @method("getCrawlEnabled")
    async def get_crawl_enabled(request: XrpcRequest[None, None]) -> types.Enabled:
        return types.Enabled(enabled=admin.crawl_enabled)

    @method("setNewHostsPerDay")
    async def set_new_hosts_per_day(request: XrpcRequest[None, types.Limit]) -> types.Limit:
        admin.set_new_hosts_per_day(request.input.limit)
        return types.Limit(limit=admin.new_hosts_per_day)

    @method("getNewHostsPerDay")
    async def get_new_hosts_per_day(request: XrpcRequest[None, None]) -> types.Limit:
        return types.Limit(limit=admin.new_hosts_per_day)
