"""The reference relay's admin paths (indigo ``cmd/relay``, ``/admin/...``), the ones ``goat relay
admin`` calls and the few more the reference serves, as thin adapters over
:class:`strato.relay.admin.RelayAdmin`, so operators' tools work unchanged.

Their answers are the reference's: ``{"success": "true"}`` (a string) for a change, errors as
``{"error": message}`` with the reference's status (an unknown host or account is 404), JSON
arrays for the host and consumer lists with the reference's field names, a takedown cursor as
a string (``goat`` reads it as one). The admin password is checked as for the XRPC methods
(:mod:`strato.relay.admin_auth`).

| path | what it does |
|---|---|
| POST ``/admin/pds/requestCrawl`` ``{"hostname"}`` | add a host as an admin |
| GET ``/admin/pds/list`` | every host, every status |
| POST ``/admin/pds/changeLimits`` ``{"host", "repo_limit"?}`` | the account limit |
| POST ``/admin/pds/block?host=H`` / ``unblock`` | ban one host, lift it |
| POST ``/admin/repo/takeDown`` / ``reverseTakedown`` ``{"did"}`` | takedowns |
| GET ``/admin/repo/takedowns?cursor=&size=`` | ``{"dids", "cursor"?}`` |
| POST ``/admin/subs/banDomain`` / ``unbanDomain`` ``{"domain"}`` | domain bans |
| GET ``/admin/subs/listDomainBans`` | ``{"banned_domains"}`` |
| GET ``/admin/subs/getUpstreamConns`` | connected hostnames |
| POST ``/admin/subs/killUpstream?host=H&block=true`` | disconnect (and ban) a host |
| GET ``/admin/subs/getEnabled``, POST ``setEnabled?enabled=`` | the public crawl switch |
| GET ``/admin/subs/perDayLimit``, POST ``setPerDayLimit?limit=`` | new hosts per day |
| GET ``/admin/consumers/list`` | live subscribers |
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from strato.datamodel import check_json, to_int64
from strato.errors import DataModelError
from strato.relay.admin import HostInfo, HostNotFoundError, RelayAdmin
from strato.relay.admin_auth import CHALLENGE, is_admin
from strato.relay.limits import host_rates
from strato.relay.routes.admin import iso
from strato.relay.routes.errors import ERRORS
from strato.relay.takedowns import UnknownAccountError
from strato.syntax import is_did
from strato.xrpc import ErrorTable

SUCCESS: Final = {"success": "true"}
TAKEDOWN_PAGE: Final = 500
_ANSWERS: Final = ErrorTable(ERRORS)

Handler = Callable[[Request], Awaitable[Any]]


class PathError(Exception):
    """An answer ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def guarded(admin: RelayAdmin, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` behind the admin password; its value is the JSON answer."""

    async def endpoint(request: Request) -> Response:
        if not is_admin(request, admin.ctx.admin_token):
            return error(401, "Unauthorized", CHALLENGE)
        try:
            return JSONResponse(await handler(request))
        except PathError as err:
            return error(err.status, str(err))
        except HostNotFoundError:
            return error(404, "host not found")
        except UnknownAccountError:
            return error(404, "account not found")
        except Exception as err:  # a refused crawl request, a bad domain: as over XRPC
            answer = _ANSWERS.answer(err)
            if answer is None:
                raise
            return error(answer.status, answer.message or answer.error)

    return endpoint


async def body(request: Request) -> dict[str, Any]:
    try:
        data = await request.body()
    except ClientDisconnect:  # gone, or closed for a body that stopped coming: no reader
        raise PathError(400, "the connection closed before the request ended") from None
    try:
        check_json(data)
        value = json.loads(data)
    except DataModelError as err:
        raise PathError(400, f"invalid JSON body: {err}") from None
    except ValueError:
        raise PathError(400, "invalid JSON body") from None
    if not isinstance(value, dict):
        raise PathError(400, "the body must be a JSON object")
    return value


def text_field(value: dict[str, Any], name: str) -> str:
    field = value.get(name)
    if not isinstance(field, str) or not field:
        raise PathError(400, f"missing {name}")
    return field


def query(request: Request, name: str) -> str:
    field = request.query_params.get(name)
    if not field:
        raise PathError(400, f"missing {name} query parameter")
    return field


def did_field(value: dict[str, Any]) -> str:
    did = text_field(value, "did")
    if not is_did(did):
        raise PathError(400, f"invalid DID: {did}")
    return did


def number(text: str, name: str) -> int:
    """A non-negative integer parameter (at most 2^63-1)."""
    if not text.isascii() or not text.isdigit():
        raise PathError(400, f"{name} must be a non-negative integer")
    try:
        return to_int64(text)
    except DataModelError as err:
        raise PathError(400, f"{name}: {err.reason}") from None


def flag(text: str, name: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise PathError(400, f"{name} must be true or false")
    return lowered == "true"


def listed_host(info: HostInfo, events_in: int) -> dict[str, Any]:
    """A host as the reference's ``/admin/pds/list`` shows it (Go field names)."""
    host = info.host
    rates = host_rates(host)
    return {
        "ID": host.id,
        "CreatedAt": iso(host.added_at) if host.added_at else None,
        "Host": host.hostname,
        "SSL": not host.no_ssl,
        "Cursor": max(host.last_seq, 0),
        "Registered": host.status == "active",
        "Blocked": host.status == "banned",
        "Status": str(host.status),
        "Trusted": host.trusted,
        "CrawlRateLimit": 0,
        "RepoCount": host.account_count,
        "RepoLimit": host.account_limit,
        "ThrottledCount": host.throttled_count,
        "HasActiveConnection": info.connected,
        "EventsSeenSinceStartup": events_in,
        **{
            key: {"Max": rate.points if info.connected else -1, "Window": int(rate.window)}
            for key, rate in zip(
                ("PerSecondEventRate", "PerHourEventRate", "PerDayEventRate"), rates, strict=True
            )
        },
        "UserCount": host.account_count,
    }


class AdminPaths:
    """The handlers, each answering with its JSON value."""

    def __init__(self, admin: RelayAdmin) -> None:
        self.admin = admin

    async def request_crawl(self, request: Request) -> Any:
        await self.admin.add_host(text_field(await body(request), "hostname"))
        return SUCCESS

    async def list_hosts(self, request: Request) -> Any:
        return await asyncio.to_thread(self._list_hosts)

    def _list_hosts(self) -> list[dict[str, Any]]:
        figures = self.admin.stats().hosts
        connected = set(self.admin.crawler.connected_hosts())
        return [
            listed_host(HostInfo(each.host, each.host.hostname in connected, None), each.events_in)
            for each in figures
        ]

    async def change_limits(self, request: Request) -> Any:
        value = await body(request)
        hostname = text_field(value, "host")
        limit = value.get("repo_limit")
        silenced = value.get("account_limit_alerts_silenced")
        if limit is None and silenced is None:
            raise PathError(400, "nothing to change: give repo_limit")
        if limit is not None and (type(limit) is not int or limit < 0):
            raise PathError(400, "repo_limit must be a non-negative integer")
        await self.admin.set_host_limits(hostname, account_limit=limit)
        return SUCCESS

    async def block(self, request: Request) -> Any:
        await self.admin.block_host(query(request, "host"))
        return SUCCESS

    async def unblock(self, request: Request) -> Any:
        await self.admin.unblock_host(query(request, "host"))
        return SUCCESS

    async def take_down(self, request: Request) -> Any:
        await self.admin.take_down(did_field(await body(request)))
        return SUCCESS

    async def reverse_takedown(self, request: Request) -> Any:
        await self.admin.reverse_takedown(did_field(await body(request)))
        return SUCCESS

    async def takedowns(self, request: Request) -> Any:
        cursor = request.query_params.get("cursor") or None
        size = number(request.query_params.get("size") or str(TAKEDOWN_PAGE), "size")
        if not 1 <= size <= 1000:
            raise PathError(400, "size must be between 1 and 1000")
        dids = await asyncio.to_thread(
            lambda: self.admin.takedowns.listed(after=cursor, limit=size)
        )
        answer: dict[str, Any] = {"dids": dids}
        if len(dids) == size:
            answer["cursor"] = dids[-1]
        return answer

    async def ban_domain(self, request: Request) -> Any:
        await self.admin.ban_domain(text_field(await body(request), "domain"))
        return SUCCESS

    async def unban_domain(self, request: Request) -> Any:
        await self.admin.unban_domain(text_field(await body(request), "domain"))
        return SUCCESS

    async def list_domain_bans(self, request: Request) -> Any:
        return {"banned_domains": await asyncio.to_thread(self.admin.bans.patterns)}

    async def upstream_conns(self, request: Request) -> Any:
        return self.admin.crawler.connected_hosts()

    async def kill_upstream(self, request: Request) -> Any:
        host = self.admin.host(query(request, "host"))
        ban = flag(request.query_params.get("block", "false"), "block")
        if ban:
            await self.admin.block_host(host.hostname)
        elif not await self.admin.crawler.unsubscribe(host.id):
            raise PathError(400, "no active connection to that host")
        return SUCCESS

    async def get_enabled(self, request: Request) -> Any:
        return {"enabled": self.admin.crawl_enabled}

    async def set_enabled(self, request: Request) -> Any:
        self.admin.set_crawl_enabled(flag(query(request, "enabled"), "enabled"))
        return SUCCESS

    async def per_day_limit(self, request: Request) -> Any:
        return {"limit": self.admin.new_hosts_per_day}

    async def set_per_day_limit(self, request: Request) -> Any:
        self.admin.set_new_hosts_per_day(number(query(request, "limit"), "limit"))
        return SUCCESS

    async def consumers(self, request: Request) -> Any:
        return [
            {
                "id": consumer.id,
                "remote_addr": consumer.remote_addr,
                "user_agent": consumer.user_agent,
                "events_consumed": consumer.events_sent,
                "connected_at": iso(consumer.connected_at),
                "source": consumer.source,
            }
            for consumer in self.admin.list_consumers()
        ]


def routes(admin: RelayAdmin) -> list[Route]:
    """The ``/admin/...`` routes over ``admin``."""
    paths = AdminPaths(admin)
    table: list[tuple[str, str, Handler]] = [
        ("POST", "/admin/pds/requestCrawl", paths.request_crawl),
        ("GET", "/admin/pds/list", paths.list_hosts),
        ("POST", "/admin/pds/changeLimits", paths.change_limits),
        ("POST", "/admin/pds/block", paths.block),
        ("POST", "/admin/pds/unblock", paths.unblock),
        ("POST", "/admin/repo/takeDown", paths.take_down),
        ("POST", "/admin/repo/reverseTakedown", paths.reverse_takedown),
        ("GET", "/admin/repo/takedowns", paths.takedowns),
        ("POST", "/admin/subs/banDomain", paths.ban_domain),
        ("POST", "/admin/subs/unbanDomain", paths.unban_domain),
        ("GET", "/admin/subs/listDomainBans", paths.list_domain_bans),
        ("GET", "/admin/subs/getUpstreamConns", paths.upstream_conns),
        ("POST", "/admin/subs/killUpstream", paths.kill_upstream),
        ("GET", "/admin/subs/getEnabled", paths.get_enabled),
        ("POST", "/admin/subs/setEnabled", paths.set_enabled),
        ("GET", "/admin/subs/perDayLimit", paths.per_day_limit),
        ("POST", "/admin/subs/setPerDayLimit", paths.set_per_day_limit),
        ("GET", "/admin/consumers/list", paths.consumers),
    ]
    return [
        Route(path, guarded(admin, handler), methods=[method]) for method, path, handler in table
    ]
