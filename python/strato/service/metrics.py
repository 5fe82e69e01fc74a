"""Prometheus metrics for strato's servers.

Owns :class:`ServerMetrics`: one registry per app (so several services, or several test apps, in
one process never share or clash), the HTTP metrics every server has, and the ``/metrics``
endpoint in the Prometheus text format. Services add their own counters and gauges to
:attr:`ServerMetrics.registry`.

HTTP metrics, labelled by the route *template* (``/{did}/log``, never the raw path, so label
cardinality stays bounded), the method and the status:

- ``strato_http_requests_total{route,method,status}``
- ``strato_http_request_duration_seconds{route,method}`` (histogram, to the end of the response)
- ``strato_http_requests_in_progress``

Connection metrics, counted by the server's connection guard (:mod:`strato.service.limits`):

- ``strato_connections_open{service}``: connections the server holds (WebSockets included);
- ``strato_connections_refused_total{service,reason}``: connections closed before a request
  was read: over a cap (``max_connections``, ``max_connections_per_ip``), without a complete
  request head in time (``header_timeout``), or silent while its body was awaited
  (``body_timeout``).
"""

from __future__ import annotations

import time
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Request latency buckets (seconds): sub-millisecond lookups up to slow disk flushes.
LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)
UNMATCHED: Final = "<unmatched>"


class ServerMetrics:
    """The registry of one server app and its HTTP metrics; ``service`` (``plc``, ``pds``, ...)
    is a constant label of every metric, so one Prometheus can scrape a whole local network."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "strato_http_requests",
            "HTTP requests answered, by route template, method and status",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "strato_http_request_duration_seconds",
            "Time from request to the end of the response, by route template and method",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "strato_http_requests_in_progress",
            "HTTP requests being answered",
            registry=self.registry,
        )
        self.connections_open = Gauge(
            "strato_connections_open",
            "Connections the server holds (HTTP and WebSocket)",
            ("service",),
            registry=self.registry,
        )
        self.connections_refused = Counter(
            "strato_connections_refused",
            "Connections closed before a request was read (over a cap, no request head in "
            "time, a body that stopped coming), by reason",
            ("service", "reason"),
            registry=self.registry,
        )
        Gauge(
            "strato_service_info", "The service this process serves", ("service",),
            registry=self.registry,
        ).labels(service).set(1)  # fmt: skip

    def connections_held(self, count: int) -> None:
        """The number of connections the server holds (for its connection guard)."""
        self.connections_open.labels(self.service).set(count)

    def connection_refused(self, reason: str) -> None:
        """One connection refused, or closed before its request, for ``reason``."""
        self.connections_refused.labels(self.service, reason).inc()

    def middleware(self) -> Middleware:
        """The middleware that counts and times every HTTP request (for ``Starlette(middleware=
        [...])``)."""
        return Middleware(_MetricsMiddleware, metrics=self)

    async def endpoint(self, request: Request) -> Response:
        """``GET /metrics``: every metric of this app in the Prometheus text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _MetricsMiddleware:
    """Pure ASGI (so streaming responses pass through untouched)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what an exception before the response start amounts to
        started = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.in_progress.dec()
            template = getattr(scope.get("route"), "path", UNMATCHED)
            method = scope["method"]
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)
