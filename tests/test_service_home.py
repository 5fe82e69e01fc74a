"""The routes every service shares (:mod:`strato.service.health`): the relay's and the PLC
directory's ``/`` home pages, and their health and ``/metrics`` answers beside them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from strato import __version__
from strato.plc.app import create_app as create_plc_app
from strato.plc.settings import PlcSettings
from strato.relay.app import create_app as create_relay_app
from strato.relay.settings import RelaySettings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://svc.test") as http,
    ):
        yield http


async def check_home(http: httpx.AsyncClient, name: str, expected: list[str]) -> None:
    """``/`` is an HTML page naming the service and its version, with the ``expected`` links."""
    home = await http.get("/")
    assert home.status_code == 200
    assert home.headers["content-type"] == "text/html; charset=utf-8"
    assert f"<h1>{name}</h1>" in home.text
    assert f"Version {__version__}." in home.text
    assert [part.split('"', 1)[0] for part in home.text.split('href="')[1:]] == expected


@pytest.mark.anyio
async def test_the_relay_home_page_links_admin_metrics_and_health(tmp_path: Path) -> None:
    app = create_relay_app(RelaySettings(data_dir=tmp_path, sync=False))
    async with running(app) as http:
        await check_home(http, "strato relay", ["/admin/", "/metrics", "/xrpc/_health"])
        health = await http.get("/xrpc/_health")
        assert (health.status_code, health.json()) == (200, {"version": __version__})
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert 'strato_http_requests_total{method="GET",route="/",' in metrics.text


@pytest.mark.anyio
async def test_the_plc_home_page_links_metrics_and_health(tmp_path: Path) -> None:
    app = create_plc_app(PlcSettings(tmp_path, sync=False))
    async with running(app) as http:
        await check_home(http, "strato PLC directory", ["/metrics", "/_health"])
        health = await http.get("/_health")
        assert (health.status_code, health.json()) == (200, {"version": __version__})
        assert (await http.head("/_health")).status_code == 200
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert "strato_plc_operations_stored" in metrics.text
