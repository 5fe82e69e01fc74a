"""The PLC directory's HTTP API (Starlette), as the reference directory serves it.

Routes (did-method-plc ``packages/server/src/routes.ts`` and
``website/spec/plc-server-openapi3.yaml``)::

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

Errors are JSON ``{"message": ...}`` as in the reference; a body outside the data model's
limits (invalid UTF-8, nested deeper than 64, an integer beyond 64 bits:
:func:`strato.datamodel.check_json`) is a 400 before it is parsed. Operations on one DID are
serialized (an asyncio lock per DID, then one LMDB write transaction that checks and appends);
the storage work runs in a worker thread so the event loop never waits on a disk flush. The
data directory is private (mode 0700, its files 0600): at each start anything in it open to
other users is tightened, with a warning (:func:`strato.storage.private.tighten`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final

import msgspec
from prometheus_client import Counter, Gauge
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from strato import __version__
from strato.datamodel import check_json, to_int64
from strato.errors import DataModelError, PlcValidationError
from strato.identity.plc.log import DidData, DidLog, timestamp_us
from strato.identity.plc.operations import is_plc_did
from strato.plc.document import MEDIA_TYPE, did_document
from strato.plc.limits import check_admission
from strato.plc.store import MAX_EXPORT_COUNT, PlcStore
from strato.service.metrics import ServerMetrics
from strato.storage.private import tighten

#: The largest request body read for ``POST /:did``: far above any operation within
#: :data:`strato.plc.limits.MAX_OP_BYTES`, small enough to refuse garbage early.
MAX_BODY_BYTES: Final = 64 * 1024
JSON_LINES: Final = "application/jsonlines"
_DIGITS: Final = re.compile(r"[0-9]+")

Clock = Callable[[], int]


def system_clock() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


@dataclass(frozen=True)
class PlcSettings:
    """What the directory needs: where its data lives, whether to flush every write to disk
    before answering (``sync``; tests may turn it off), and whether to apply the reference's
    per-DID rate limits (``rate_limits``, off by default: see :mod:`strato.plc.limits`)."""

    data_dir: Path
    sync: bool = True
    rate_limits: bool = False


class DirectoryError(HTTPException):
    """An HTTP error with the reference's ``{"message": ...}`` body."""


class _DidLocks:
    """One asyncio lock per DID with a write in flight, dropped when nobody holds or waits."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, did: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(did, (asyncio.Lock(), 0))
        self._locks[did] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[did]
            if users == 1:
                del self._locks[did]
            else:
                self._locks[did] = (lock, users - 1)


class _Directory:
    """The handlers, sharing the store (opened by the lifespan), the clock and the DID locks."""

    def __init__(self, settings: PlcSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.locks = _DidLocks()
        self._store: PlcStore | None = None
        self.metrics = ServerMetrics("plc")
        self.operations = Counter(
            "strato_plc_operations",
            "Operations submitted, by result (accepted, refused)",
            ("result",),
            registry=self.metrics.registry,
        )
        Gauge(
            "strato_plc_operations_stored",
            "Operations in the directory's log (nullified ones included)",
            registry=self.metrics.registry,
        ).set_function(self._stored)

    def _stored(self) -> float:
        return float("nan") if self._store is None else float(self._store.operation_count())

    @property
    def store(self) -> PlcStore:
        if self._store is None:
            raise RuntimeError("the directory's lifespan has not started")
        return self._store

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        tighten(self.settings.data_dir)
        self._store = PlcStore.open(self.settings.data_dir, sync=self.settings.sync)
        try:
            yield
        finally:
            self._store.close()
            self._store = None

    async def health(self, request: Request) -> Response:
        try:
            await asyncio.to_thread(self.store.healthy)
        except Exception:  # any storage failure means unhealthy
            return _json({"version": __version__, "error": "Service Unavailable"}, status=503)
        return _json({"version": __version__})

    async def export(self, request: Request) -> Response:
        # an empty parameter is no parameter, as the reference reads ``req.query``
        count = _count_param(request.query_params.get("count") or None)
        after = request.query_params.get("after") or None
        if after is not None and _DIGITS.fullmatch(after):
            seq = _integer(after, "Invalid after parameter")
            rows = await asyncio.to_thread(self.store.export_by_seq, seq, count)
        else:
            since = None if after is None else _timestamp_param(after)
            rows = await asyncio.to_thread(self.store.export_by_time, since, count)
        body = b"\n".join(msgspec.json.encode(row) for row in rows)
        return Response(body, media_type=JSON_LINES)

    async def submit(self, request: Request) -> Response:
        did = request.path_params["did"]
        body = await _read_body(request)
        try:
            check_json(body)
        except DataModelError as err:
            raise DirectoryError(400, f"request body is not valid: {err}") from err
        try:
            value = msgspec.json.decode(body)
        except (
            msgspec.DecodeError,
            UnicodeDecodeError,
        ) as err:  # msgspec's error for invalid UTF-8
            raise DirectoryError(400, f"request body is not JSON: {err}") from err
        try:
            op = check_admission(value)
            if not is_plc_did(did):
                raise PlcValidationError(f"not a did:plc: {did}")
            async with self.locks.hold(did):
                await asyncio.to_thread(
                    partial(
                        self.store.submit,
                        did,
                        op,
                        self.clock(),
                        rate_limits=self.settings.rate_limits,
                    )
                )
        except PlcValidationError as err:
            self.operations.labels("refused").inc()
            raise DirectoryError(400, err.reason) from err
        self.operations.labels("accepted").inc()
        return Response(b"OK", media_type="text/plain")

    async def _load(self, request: Request) -> DidLog:
        did = request.path_params["did"]
        log = await asyncio.to_thread(self.store.load, did) if is_plc_did(did) else DidLog(did)
        if not log.entries:
            raise DirectoryError(404, f"DID not registered: {did}")
        return log

    async def _data(self, request: Request) -> DidData:
        log = await self._load(request)
        current = log.data()
        if current is None:
            raise DirectoryError(410, f"DID not available: {log.did}")
        return current

    async def resolve(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.submit(request)
        return _json(did_document(await self._data(request)), media_type=MEDIA_TYPE)

    async def data(self, request: Request) -> Response:
        return _json((await self._data(request)).to_json())

    async def operation_log(self, request: Request) -> Response:
        log = await self._load(request)
        return _json([entry.operation for entry in log.active()])

    async def audit_log(self, request: Request) -> Response:
        did = request.path_params["did"]
        rows = await asyncio.to_thread(self.store.audit_log, did) if is_plc_did(did) else []
        if not rows:
            raise DirectoryError(404, f"DID not registered: {did}")
        return _json(rows)

    async def last_operation(self, request: Request) -> Response:
        log = await self._load(request)
        head = log.head_entry()
        if head is None:  # every operation nullified: impossible, the genesis never is
            raise DirectoryError(404, f"DID not registered: {log.did}")
        return _json(head.operation)


def create_app(settings: PlcSettings, *, clock: Clock = system_clock) -> Starlette:
    """The directory app; its lifespan opens (and closes) the LMDB store in
    ``settings.data_dir``. ``clock`` gives the time operations are received at (µs). Its
    :class:`~strato.service.metrics.ServerMetrics` are ``app.state.metrics``."""
    directory = _Directory(settings, clock)
    routes = [
        Route("/_health", directory.health, methods=["GET"]),
        Route("/metrics", directory.metrics.endpoint, methods=["GET"]),
        Route("/export", directory.export, methods=["GET"]),
        Route("/{did}", directory.resolve, methods=["GET", "POST"]),
        Route("/{did}/data", directory.data, methods=["GET"]),
        Route("/{did}/log", directory.operation_log, methods=["GET"]),
        Route("/{did}/log/audit", directory.audit_log, methods=["GET"]),
        Route("/{did}/log/last", directory.last_operation, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=directory.lifespan,
        middleware=[directory.metrics.middleware()],
        exception_handlers={HTTPException: _on_error},
    )
    app.state.metrics = directory.metrics  # where the server counts its connections
    return app


async def _on_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    return _json({"message": exc.detail}, status=exc.status_code)


async def _read_body(request: Request) -> bytes:
    """The request body, refusing (without reading it all) one over :data:`MAX_BODY_BYTES`."""
    too_large = DirectoryError(400, f"operation too large (request body over {MAX_BODY_BYTES})")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:  # gone, or closed for a body that stopped coming: no reader
        raise DirectoryError(400, "the connection closed before the request ended") from None
    return b"".join(chunks)


def _json(value: Any, *, status: int = 200, media_type: str = "application/json") -> Response:
    return Response(msgspec.json.encode(value), status_code=status, media_type=media_type)


def _count_param(value: str | None) -> int:
    if value is None:
        return MAX_EXPORT_COUNT
    message = "Invalid count parameter"
    count = _integer(value, message) if _DIGITS.fullmatch(value) else 0
    if count < 1:
        raise DirectoryError(400, message)
    return min(count, MAX_EXPORT_COUNT)


def _integer(digits: str, message: str) -> int:
    """``digits`` as an int, or a 400 with ``message`` beyond the signed 64-bit range."""
    try:
        return to_int64(digits)
    except DataModelError as err:
        raise DirectoryError(400, message) from err


def _timestamp_param(value: str) -> int:
    """Microseconds since the epoch, which no operation precedes: an earlier time is refused
    as out of range, like an unparsable one."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise DirectoryError(400, "Invalid after parameter") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since = timestamp_us(moment)
    if since < 0:
        raise DirectoryError(400, "Invalid after parameter")
    return since
