"""The routes every service answers besides its API: health, ``/metrics`` and a home page.

- :func:`health_route`: ``{"version": ...}``, or 503 with ``{"version", "error"[, "message"]}``
  while the service's check reports a problem (:class:`Unhealthy`). The relay serves it at
  ``/xrpc/_health``, the PLC directory at ``/_health``, and every XRPC router at
  ``/xrpc/_health`` (:meth:`strato.xrpc.XrpcRouter.routes`: the PDS's).
- :func:`metrics_route`: ``/metrics``, the service's :class:`ServerMetrics` in the Prometheus
  text format.
- :func:`home_route`: ``/``, an HTML page naming the service and its version and linking its
  admin page (where it has one), ``/metrics`` and its health endpoint.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from strato import __version__
from strato.service.metrics import ServerMetrics

METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class Unhealthy:
    """Why a service is not healthy: an error name and, when there is more to say, a message."""

    error: str = "Service Unavailable"
    message: str | None = None


#: A service's health check: None while healthy.
HealthCheck = Callable[[], Awaitable[Unhealthy | None]]


def health_route(
    path: str, check: HealthCheck | None = None, *, version: str = __version__
) -> Route:
    """``GET path`` (and HEAD): 200 ``{"version": ...}``, or 503 with what ``check`` reports."""

    async def health(request: Request) -> Response:
        problem = None if check is None else await check()
        if problem is None:
            return JSONResponse({"version": version})
        body = {"version": version, "error": problem.error}
        if problem.message is not None:
            body["message"] = problem.message
        return JSONResponse(body, status_code=503)

    return Route(path, health, methods=["GET"])


def metrics_route(metrics: ServerMetrics) -> Route:
    """``GET /metrics``: ``metrics`` in the Prometheus text format."""
    return Route(METRICS_PATH, metrics.endpoint, methods=["GET"])


@dataclass(frozen=True)
class HomePage:
    """What a service's ``/`` says: its name (``strato relay``), one line on what it does, and
    the paths of its health endpoint and of its admin page (None: it has none)."""

    name: str
    summary: str
    health_path: str
    admin_path: str | None = None

    def render(self) -> str:
        links = [(self.admin_path, "the admin page")] if self.admin_path else []
        links += [(METRICS_PATH, "Prometheus metrics"), (self.health_path, "health")]
        items = "".join(
            f'<li><a href="{html.escape(path)}">{html.escape(path)}</a>: {text}</li>'
            for path, text in links
        )
        name = html.escape(self.name)
        return (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{name}</title></head>\n<body><h1>{name}</h1>\n"
            f"<p>{html.escape(self.summary)} Version {html.escape(__version__)}.</p>\n"
            f"<ul>{items}</ul></body></html>\n"
        )


def home_route(page: HomePage) -> Route:
    """``GET /``: ``page`` as HTML."""
    body = page.render()

    async def home(request: Request) -> Response:
        return HTMLResponse(body)

    return Route("/", home, methods=["GET"])
