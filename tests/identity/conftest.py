"""Fixtures for the identity tests: a local DNS server per test and one HTTP server per module
(see ``identity_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .identity_helpers import LocalDns, LocalHttp


@pytest.fixture
def local_dns() -> Iterator[LocalDns]:
    server = LocalDns()
    yield server
    server.close()


@pytest.fixture(scope="module")
def _http_server() -> Iterator[LocalHttp]:
    server = LocalHttp()
    yield server
    server.close()


@pytest.fixture
def local_http(_http_server: LocalHttp) -> LocalHttp:
    """The module's HTTP server with its routes, counters and delay reset."""
    _http_server.routes.clear()
    _http_server.hits.clear()
    _http_server.delay = 0.0
    return _http_server
