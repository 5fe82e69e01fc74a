"""The relay's host methods over :class:`strato.relay.host_service.HostService`:
``com.atproto.sync.requestCrawl`` (its refusals are the service's errors, answered as
:mod:`strato.relay.routes.errors` maps them), ``com.atproto.sync.listHosts`` (paged by host
id, the cursor; 400 ``BadRequest`` for a cursor that is not one) and
``com.atproto.sync.getHostStatus`` (404 ``HostNotFound`` for a host not registered).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from strato.datamodel import to_int64
from strato.errors import DataModelError
from strato.relay.host_service import HostService
from strato.relay.hosts import Host
from strato.xrpc.errors import XrpcError
from strato.xrpc.router import XrpcRequest, XrpcRouter
from strato.xrpc.types.sync import (
    GetHostStatusOutput,
    ListedHost,
    ListHostsOutput,
    ListHostsParams,
)


def _bad_cursor(message: str) -> XrpcError:
    return XrpcError(400, "BadRequest", f"cursor parameter invalid: {message}")


def _after(cursor: str | None) -> int:
    """The host id a ``listHosts`` cursor names (0: from the start)."""
    if cursor is None:
        return 0
    if not cursor.isascii() or not cursor.isdigit():
        raise _bad_cursor(cursor)
    try:
        return to_int64(cursor)
    except DataModelError as err:
        raise _bad_cursor(err.reason) from None


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
        after = _after(None if isinstance(params.cursor, msgspec.UnsetType) else params.cursor)
        listed = await asyncio.to_thread(service.listed, after=after, limit=params.limit)
        output = ListHostsOutput(hosts=[_listed(host) for host in listed])
        if len(listed) == params.limit:
            output.cursor = str(listed[-1].id)
        return output

    async def get_host_status(request: XrpcRequest[Any, Any]) -> GetHostStatusOutput:
        host = await asyncio.to_thread(service.hosts.get, None, request.params.hostname)
        if host is None:
            raise XrpcError(404, "HostNotFound", "host not found")
        return GetHostStatusOutput(
            hostname=host.hostname,
            seq=host.last_seq,
            account_count=host.account_count,
            status=str(host.status),
        )

    router.add("com.atproto.sync.requestCrawl", request_crawl)
    router.add("com.atproto.sync.listHosts", list_hosts)
    router.add("com.atproto.sync.getHostStatus", get_host_status)
