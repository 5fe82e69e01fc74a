"""strato.service.metrics: HTTP requests counted and timed by route template, for any Starlette
app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from strato.service.metrics import UNMATCHED, ServerMetrics


def sample(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def app_with(metrics: ServerMetrics) -> Starlette:
    async def item(request: Request) -> Response:
        return PlainTextResponse(request.path_params["name"])

    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for part in (b"a", b"b"):
                yield part

        return StreamingResponse(chunks())

    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    routes = [
        Route("/items/{name}", item),
        Route("/stream", stream),
        Route("/broken", broken),
        Route("/metrics", metrics.endpoint),
    ]
    return Starlette(routes=routes, middleware=[metrics.middleware()])


def test_requests_are_counted_by_template() -> None:
    metrics = ServerMetrics("test")
    transport = httpx.ASGITransport(app_with(metrics), raise_app_exceptions=False)

    async def scenario() -> str:
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            for name in ("a", "b", "c"):
                assert (await client.get(f"/items/{name}")).text == name
            assert (await client.get("/stream")).content == b"ab"
            assert (await client.get("/nowhere")).status_code == 404
            assert (await client.get("/broken")).status_code == 500
            return (await client.get("/metrics")).text

    text = asyncio.run(scenario())
    ok = 'strato_http_requests_total{method="GET",route="/items/{name}",status="200"}'
    assert sample(text, ok) == 3
    assert sample(text, 'strato_http_requests_total{method="GET",route="/stream",status="200"}')
    missing = f'strato_http_requests_total{{method="GET",route="{UNMATCHED}",status="404"}}'
    assert sample(text, missing) == 1
    assert sample(text, 'strato_http_requests_total{method="GET",route="/broken",status="500"}')
    count = 'strato_http_request_duration_seconds_count{method="GET",route="/items/{name}"}'
    assert sample(text, count) == 3
    assert sample(text, "strato_http_requests_in_progress") == 1  # the /metrics request itself
    assert "/items/a" not in text


def test_registries_are_per_app() -> None:
    first, second = ServerMetrics("one"), ServerMetrics("two")
    first.requests.labels("/x", "GET", "200").inc()
    assert (
        second.registry.get_sample_value(
            "strato_http_requests_total", {"route": "/x", "method": "GET", "status": "200"}
        )
        is None
    )
    assert (
        first.registry.get_sample_value(
            "strato_http_requests_total", {"route": "/x", "method": "GET", "status": "200"}
        )
        == 1
    )


@pytest.mark.parametrize("service", ["plc", "pds"])
def test_service_label(service: str) -> None:
    metrics = ServerMetrics(service)
    assert metrics.registry.get_sample_value("strato_service_info", {"service": service}) == 1
