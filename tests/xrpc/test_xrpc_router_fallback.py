"""The router's fallback for NSIDs no method serves: it answers them (after the global rate
limits), while served methods and malformed paths never reach it."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from strato.xrpc import MethodTypes, RateLimit, RateLimitSettings, XrpcRouter
from strato.xrpc.errors import XrpcError


def fallback_app(seen: list[str]) -> Starlette:
    async def fallback(request: Request, nsid: str) -> Response:
        seen.append(nsid)
        if nsid == "com.example.refused":
            raise XrpcError(400, "Refused", "no")
        return PlainTextResponse(f"{request.method} {nsid}")

    router = XrpcRouter(
        fallback=fallback,
        rate_limits=RateLimitSettings(global_limits=(RateLimit("global", 3, 60.0),)),
    )

    async def served(request: object) -> None:
        return None

    router.add("com.example.served", served, types=MethodTypes("query"))
    return Starlette(routes=router.routes())


def test_the_fallback_answers_unknown_methods_only() -> None:
    seen: list[str] = []
    transport = httpx.ASGITransport(fallback_app(seen))

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=transport, base_url="http://x.test") as client:
            return [
                await client.post("/xrpc/com.example.other"),
                await client.get("/xrpc/com.example.served"),
                await client.get("/xrpc/com.example.refused"),
                await client.get("/xrpc/not..an.nsid"),
                await client.get("/xrpc/com.example.other"),  # over the global limit of 3
            ]

    other, served, refused, malformed, limited = asyncio.run(main())
    assert (other.status_code, other.text) == (200, "POST com.example.other")
    assert other.headers["cache-control"] == "private"
    assert served.status_code == 200
    assert (refused.status_code, refused.json()["error"]) == (400, "Refused")
    assert (malformed.status_code, malformed.json()["error"]) == (400, "InvalidRequest")
    assert (limited.status_code, limited.json()["error"]) == (429, "RateLimitExceeded")
    assert seen == ["com.example.other", "com.example.refused"]


def test_without_a_fallback_unknown_methods_are_not_implemented() -> None:
    router = XrpcRouter()
    transport = httpx.ASGITransport(Starlette(routes=router.routes()))

    async def main() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://x.test") as client:
            return await client.get("/xrpc/com.example.other")

    response = asyncio.run(main())
    assert (response.status_code, response.json()["error"]) == (501, "MethodNotImplemented")
