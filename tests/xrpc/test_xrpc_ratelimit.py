"""Rate limits: the sliding window by itself (with a clock the test moves), and through the
router: per client address (X-Forwarded-For only when trusted), per account with a cost,
bypass and exemptions, and the reference's headers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from strato.xrpc import MethodTypes, RateLimit, RateLimitSettings, RouteLimit, XrpcRouter
from strato.xrpc.auth import create_session_tokens
from strato.xrpc.ratelimit import SlidingWindow, client_ip
from xrpc_demo import ALICE, GLOBAL, SECRET, SERVICE_DID, FakeClock, demo_app

# ---------------------------------------------------------------------------------------------
# The window


def test_points_per_window_and_refusals_cost_nothing() -> None:
    clock = FakeClock(1000.0)
    window = SlidingWindow(RateLimit("w", 3, 10), clock)
    statuses = [window.consume("k") for _ in range(3)]
    assert [s.allowed for s in statuses] == [True, True, True]
    assert [s.remaining for s in statuses] == [2, 1, 0]
    refused = window.consume("k")
    assert not refused.allowed
    assert refused.remaining == 0
    assert window.consume("other").allowed
    # a refusal took nothing: once the window slid far enough, exactly the room frees
    clock.now = 1010.0 + 10 * (1 / 3) + 0.001  # a third of the old window has slid out
    assert window.consume("k").allowed
    assert not window.consume("k").allowed


def test_window_slides_instead_of_resetting() -> None:
    clock = FakeClock(1009.0)  # near the end of the fixed window [1000, 1010)
    window = SlidingWindow(RateLimit("w", 10, 10), clock)
    for _ in range(10):
        assert window.consume("k").allowed
    clock.now = 1010.5  # a fixed window would allow 10 more at once
    status = window.consume("k")
    assert not status.allowed
    # 95% of the previous window still overlaps: 9.5 used, one point needs it under 9
    assert status.retry_after == pytest.approx(0.5)
    clock.now = 1011.0 + 0.001
    assert window.consume("k").allowed
    clock.now = 1030.0  # two windows later, all free
    assert window.consume("k", 10).allowed


def test_a_cost_larger_than_the_room() -> None:
    clock = FakeClock(2000.0)
    window = SlidingWindow(RateLimit("w", 6, 60), clock)
    assert window.consume("k", 3).allowed
    assert window.consume("k", 3).allowed
    status = window.consume("k", 3)
    assert not status.allowed
    headers = status.headers()
    assert headers["RateLimit-Limit"] == "6"
    assert headers["RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Policy"] == "6;w=60"
    assert headers["RateLimit-Reset"] == "2040"
    # the fixed window is [1980, 2040): it must slide out as the previous window until half of
    # it is left (3 points), 30 s into the next one
    assert int(headers["Retry-After"]) == 70
    window.reset("k")
    assert window.consume("k", 6).allowed


def test_bad_limits() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        RateLimit("w", 0, 10)
    with pytest.raises(ValueError, match="must be positive"):
        RateLimit("w", 1, 0)


# ---------------------------------------------------------------------------------------------
# Client addresses


def _request(peer: str, forwarded: list[str]) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope = {"type": "http", "headers": headers, "client": (peer, 1234)}
    return Request(scope)


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        (0, ["1.1.1.1"], "10.0.0.9"),
        (1, [], "10.0.0.9"),
        (1, ["1.1.1.1"], "1.1.1.1"),
        (1, ["6.6.6.6, 1.1.1.1"], "1.1.1.1"),  # the client forged the first hop
        (2, ["6.6.6.6, 1.1.1.1", "2.2.2.2"], "1.1.1.1"),
        (3, ["1.1.1.1"], "1.1.1.1"),
        (1, ["1.1.1.1:4711"], "1.1.1.1"),  # a proxy that adds the port
        (1, ["[2001:db8::1]:4711"], "2001:db8::1"),
        (1, ["2001:DB8:0::1"], "2001:db8::1"),
        (1, ["unknown"], "10.0.0.9"),  # not an address: not believed
        (1, ["x" * 600], "10.0.0.9"),
    ],
)
def test_client_ip(trusted: int, forwarded: list[str], expected: str) -> None:
    assert client_ip(_request("10.0.0.9", forwarded), trusted) == expected


# ---------------------------------------------------------------------------------------------
# Through the router

Scenario = Callable[[httpx.AsyncClient, FakeClock], Awaitable[Any]]


def run(scenario: Scenario, settings: RateLimitSettings) -> Any:
    clock = FakeClock()
    app, _, _ = demo_app(clock, rate_limits=settings)
    transport = httpx.ASGITransport(app, client=("10.0.0.1", 4000))

    async def main() -> Any:
        async with httpx.AsyncClient(transport=transport, base_url="http://pds.test") as client:
            return await scenario(client, clock)

    return asyncio.run(main())


async def echo(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.get("/xrpc/com.example.echo", params={"name": "x"}, headers=headers)


def test_global_limit_per_address() -> None:
    async def scenario(client: httpx.AsyncClient, clock: FakeClock) -> None:
        answers = [await echo(client) for _ in range(5)]
        assert [a.status_code for a in answers] == [200] * 5
        assert [a.headers["RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0"]
        assert answers[0].headers["RateLimit-Limit"] == "5"
        assert answers[0].headers["RateLimit-Policy"] == "5;w=300"
        refused = await echo(client)
        assert refused.status_code == 429
        assert refused.json() == {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.headers["RateLimit-Remaining"] == "0"
        # unknown methods count too, and are refused the same way
        assert (await client.get("/xrpc/com.example.nothing")).status_code == 429
        # X-Forwarded-For is not trusted by default
        assert (await echo(client, **{"x-forwarded-for": "9.9.9.9"})).status_code == 429
        clock.now += 600
        assert (await echo(client)).status_code == 200

    run(scenario, RateLimitSettings(global_limits=(GLOBAL,)))


def test_trusted_proxy_separates_clients() -> None:
    async def scenario(client: httpx.AsyncClient, clock: FakeClock) -> None:
        for _ in range(5):
            assert (await echo(client, **{"x-forwarded-for": "1.1.1.1"})).status_code == 200
        assert (await echo(client, **{"x-forwarded-for": "1.1.1.1"})).status_code == 429
        assert (await echo(client, **{"x-forwarded-for": "2.2.2.2"})).status_code == 200

    run(scenario, RateLimitSettings(global_limits=(GLOBAL,), trusted_proxies=1))


def test_bypass_exempt_and_disabled() -> None:
    async def scenario(client: httpx.AsyncClient, clock: FakeClock) -> None:
        for _ in range(8):
            assert (await echo(client, **{"x-ratelimit-bypass": "letmein"})).status_code == 200
            resolved = await client.get(
                "/xrpc/com.atproto.identity.resolveHandle", params={"handle": "alice.test"}
            )
            assert resolved.status_code == 200
            assert "RateLimit-Limit" not in resolved.headers
        assert (await echo(client, **{"x-ratelimit-bypass": "wrong"})).status_code == 200

    settings = RateLimitSettings(
        global_limits=(GLOBAL,),
        exempt=frozenset({"com.atproto.identity.resolveHandle"}),
        bypass_key="letmein",
    )
    run(scenario, settings)

    async def unlimited(client: httpx.AsyncClient, clock: FakeClock) -> None:
        for _ in range(8):
            response = await echo(client)
            assert response.status_code == 200
            assert "RateLimit-Limit" not in response.headers

    run(unlimited, RateLimitSettings(global_limits=(GLOBAL,), enabled=False))
    run(unlimited, RateLimitSettings(global_limits=(GLOBAL,), bypass_ips=frozenset({"10.0.0.1"})))


def test_per_account_limit_with_a_cost() -> None:
    def token(did: str) -> str:
        return create_session_tokens(SECRET, SERVICE_DID, did, now=FakeClock().now).access_jwt

    async def write(client: httpx.AsyncClient, did: str) -> httpx.Response:
        body = {"repo": did, "collection": "a.b.c", "record": {}}
        headers = {"authorization": f"Bearer {token(did)}"}
        return await client.post("/xrpc/com.example.write", json=body, headers=headers)

    async def scenario(client: httpx.AsyncClient, clock: FakeClock) -> None:
        first = await write(client, ALICE)
        assert first.status_code == 200
        assert first.headers["RateLimit-Remaining"] == "3"
        assert first.headers["RateLimit-Policy"] == "6;w=3600"
        assert (await write(client, ALICE)).status_code == 200
        refused = await write(client, ALICE)
        assert refused.status_code == 429
        assert refused.json()["error"] == "RateLimitExceeded"
        # another account (from the same address) has its own budget
        assert (await write(client, "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb")).status_code == 200

    run(scenario, RateLimitSettings())


def test_two_limits_with_one_name_are_refused() -> None:
    async def handler(request: Any) -> None:
        return None

    router = XrpcRouter()
    router.add("com.example.a", handler, types=MethodTypes("query"), limits=[RouteLimit(GLOBAL)])
    with pytest.raises(ValueError, match="two different rate limits are named 'global-ip'"):
        router.add(
            "com.example.b",
            handler,
            types=MethodTypes("query"),
            limits=[RouteLimit(RateLimit("global-ip", 1, 1))],
        )


def test_a_refusal_by_one_limit_takes_nothing_from_the_others() -> None:
    clock = FakeClock()
    hour, day = RateLimit("hour", 5, 3600), RateLimit("day", 2, 86400)

    async def handler(request: Any) -> None:
        return None

    router = XrpcRouter(clock=clock)
    router.add("com.example.a", handler, types=MethodTypes("procedure"),
               limits=[RouteLimit(hour), RouteLimit(day)])  # fmt: skip
    router.add("com.example.b", handler, types=MethodTypes("procedure"), limits=[RouteLimit(hour)])
    transport = httpx.ASGITransport(Starlette(routes=router.routes()), client=("10.0.0.1", 1))

    async def main() -> list[tuple[int, str]]:
        async with httpx.AsyncClient(transport=transport, base_url="http://x.test") as client:
            answers = [await client.post(f"/xrpc/com.example.{m}") for m in "aaaabbb"]
        return [(a.status_code, a.headers.get("RateLimit-Policy", "")) for a in answers]

    assert asyncio.run(main()) == [
        (200, "2;w=86400"),
        (200, "2;w=86400"),
        (429, "2;w=86400"),
        (429, "2;w=86400"),
        # the hourly limit (5) lost only the two accepted requests
        (200, "5;w=3600"),
        (200, "5;w=3600"),
        (200, "5;w=3600"),
    ]
