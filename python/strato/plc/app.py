"""The PLC directory as an ASGI app (Starlette), as the reference directory serves it:
:func:`create_app`.

Routes (did-method-plc ``packages/server/src/routes.ts`` and
``website/spec/plc-server-openapi3.yaml``; the API is :mod:`strato.plc.routes`)::

    POST /:did            submit a signed operation (JSON); 200, or 400 {"message": why}
    GET  /:did            the DID document (application/did+ld+json); 404 unknown, 410 tombstoned
    GET  /:did/data       the current state (rotationKeys, verificationMethods, ...); 404, 410
    GET  /:did/log        the current operation chain (nullified operations left out); 404
    GET  /:did/log/audit  every operation with cid, nullified and createdAt; 404
    GET  /:did/log/last   the latest operation (a tombstone included); 404
    GET  /export          JSON lines; ?after=<seq> sequenced format, ?after=<timestamp> (or no
                          after) the legacy format; ?count=N (at most 1000); an empty
                          parameter is absent; a seq or count beyond 2^63-1, or a time
                          before 1970, is 400
    GET  /_health         {"version": ...}; 503 when storage does not answer
    GET  /metrics         Prometheus metrics: HTTP requests (see :mod:`strato.service.metrics`),
                          operations accepted and refused, operations stored
    GET  /                an HTML page naming the directory, linking /metrics and /_health

Errors are JSON ``{"message": ...}`` as in the reference: the routes' own (a bad parameter or
body) and the directory's domain errors, mapped here in one place (an operation refused: 400;
an unknown DID: 404; a tombstoned one: 410). Operations on one DID are serialized
(:mod:`strato.plc.directory`). The data directory is private (mode 0700, its files 0600): at
each start anything in it open to other users is tightened, with a warning
(:func:`strato.service.context.private_data_dir`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from strato.errors import PlcValidationError
from strato.plc.context import Clock, system_clock
from strato.plc.directory import DidNotRegisteredError, DidTombstonedError, Directory
from strato.plc.routes import routes
from strato.plc.routes.common import json_response
from strato.plc.settings import PlcSettings
from strato.service.health import HomePage, Unhealthy, health_route, home_route, metrics_route

HEALTH_PATH: Final = "/_health"
HOME: Final = HomePage(
    "strato PLC directory",
    "A did:plc directory speaking the plc.directory HTTP API.",
    HEALTH_PATH,
)


def create_app(settings: PlcSettings, *, clock: Clock = system_clock) -> Starlette:
    """The directory app; its lifespan opens (and closes) the LMDB store in
    ``settings.data_dir``. ``clock`` gives the time operations are received at (µs). Its
    :class:`~strato.service.metrics.ServerMetrics` are ``app.state.metrics``."""
    directory = Directory(settings, clock)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        directory.open()
        try:
            yield
        finally:
            await directory.aclose()

    async def storage_answers() -> Unhealthy | None:
        return None if await directory.healthy() else Unhealthy()

    app = Starlette(
        routes=[
            health_route(HEALTH_PATH, storage_answers),
            metrics_route(directory.metrics),
            home_route(HOME),
            *routes(directory),
        ],
        lifespan=lifespan,
        middleware=[directory.metrics.middleware()],
        exception_handlers={
            HTTPException: _on_http_error,
            PlcValidationError: _on_refused,
            DidNotRegisteredError: _on_not_found(404),
            DidTombstonedError: _on_not_found(410),
        },
    )
    app.state.metrics = directory.metrics  # where the server counts its connections
    return app


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    return json_response({"message": exc.detail}, status=exc.status_code)


async def _on_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PlcValidationError)  # registered for it only
    return json_response({"message": exc.reason}, status=400)


def _on_not_found(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def answer(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DidNotRegisteredError | DidTombstonedError)
        return json_response({"message": exc.reason}, status=status)

    return answer
