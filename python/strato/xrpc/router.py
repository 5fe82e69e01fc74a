"""The XRPC server: methods registered by NSID and served at ``/xrpc/<nsid>`` (Starlette).

Each request goes through the reference server's steps, in its order:

1. the global rate limits (per client address) for every ``/xrpc/`` path;
2. the method: a path that is not an NSID is 400 ``InvalidRequest``, an NSID not served here
   501 ``MethodNotImplemented`` (or the router's ``fallback`` answers it, after the global
   limits), a query called by POST (or a procedure by GET) 400
   ``InvalidRequest`` ("Incorrect HTTP method (GET) expected POST"), as the reference answers;
3. params: the query string decoded into the method's params struct (400 naming the field);
4. auth: the method's verifier (:mod:`strato.xrpc.auth`) gives the credentials;
5. input: a JSON body decoded into the input struct, or a binary body handed over as a
   :class:`BodyStream`; a body over the limit is 413 ``PayloadTooLarge``, refused from its
   Content-Length before it is read, or as soon as the stream passes the limit; a JSON body
   outside the data model's limits (invalid UTF-8, nested deeper than 64 levels, an integer
   beyond the signed 64-bit range: :func:`strato.datamodel.check_json`) is 400
   ``InvalidRequest`` naming the field, before it is parsed;
6. the method's own rate limits (per address, per account, shared between methods);
7. the handler: its output struct is encoded as JSON, a Starlette response passes as is.

:class:`XrpcError` from any step becomes its ``{"error", "message"}`` answer. Domain code raises
domain errors (:mod:`strato.errors`, or a service's own), not HTTP ones: each service gives its
router one table of :class:`ErrorMap` (``errors=``, or :meth:`XrpcRouter.map_error`) saying
which status, error name and message each class answers with; the most specific class of an
error (its MRO) that the table names decides. Any other exception is logged with its traceback
and answered 500 ``InternalServerError`` with no detail. Responses carry
the ``RateLimit-*`` headers of the tightest limit that applied. ``GET /xrpc/_health`` answers
``{"version": ...}``. Metrics (:class:`strato.service.metrics.ServerMetrics`) see each served method
as its own route ``/xrpc/<nsid>``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from strato import __version__
from strato.datamodel import check_json
from strato.errors import DataModelError, LexiconValidationError
from strato.lexicon.types._base import dec_hook, lexicon_error
from strato.service.health import Unhealthy, health_route
from strato.xrpc.auth import AuthVerifier, Credentials, unauthenticated
from strato.xrpc.errors import XrpcError, invalid_request, method_not_implemented
from strato.xrpc.method import DEFAULT_JSON_LIMIT, MethodTypes, RawInput
from strato.xrpc.params import ParamsDecoder
from strato.xrpc.ratelimit import LimitStatus, RateLimit, SlidingWindow, client_ip, tightest
from strato.xrpc.types import METHODS

logger = logging.getLogger("strato.xrpc")

P = TypeVar("P")
I = TypeVar("I")  # noqa: E741
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])
E = TypeVar("E", bound=Exception)

# the reference's check of the NSID in an /xrpc/ path (extractUrlNsid)
_XRPC_NSID: Final = re.compile(r"[A-Za-z0-9]+(?:[.-][A-Za-z0-9]+)*")
BYPASS_HEADER: Final = "x-ratelimit-bypass"


class BodyStream:
    """A binary request body, read at most once: chunks as they arrive, never more than the
    method's limit in total (past it, 413 ``PayloadTooLarge``)."""

    def __init__(self, request: Request, content_type: str, limit: int) -> None:
        self.content_type = content_type
        self.content_length = _content_length(request)
        self._request = request
        self._limit = limit

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks."""
        size = 0
        async for chunk in self._request.stream():
            size += len(chunk)
            if size > self._limit:
                raise _too_large()
            if chunk:
                yield chunk

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([chunk async for chunk in self.chunks()])


@dataclass(slots=True)
class XrpcRequest(Generic[P, I]):
    """What a handler gets: the method, typed params and input, the credentials, the HTTP
    request, the client address, and ``headers`` to add to the response."""

    nsid: str
    params: P
    input: I
    auth: Credentials
    http: Request
    client_ip: str
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[XrpcRequest[Any, Any]], Awaitable[Any]]
#: A rate-limit key for a request (None: this request is not limited by it).
KeyFn = Callable[[XrpcRequest[Any, Any]], str | None]
#: The points a request costs.
CostFn = Callable[[XrpcRequest[Any, Any]], int]


def by_ip(request: XrpcRequest[Any, Any]) -> str | None:
    """Limit by client address."""
    return request.client_ip


def by_account(request: XrpcRequest[Any, Any]) -> str | None:
    """Limit by the authenticated account (its address when there is none)."""
    did = getattr(request.auth, "did", None)
    return did if isinstance(did, str) else request.client_ip


def _one(request: XrpcRequest[Any, Any]) -> int:
    return 1


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """A method's rate limit: the :class:`RateLimit`, the key of a request, its cost."""

    limit: RateLimit
    key: KeyFn = by_ip
    cost: CostFn = _one


@dataclass(frozen=True)
class XrpcMethod:
    """A registered method."""

    nsid: str
    types: MethodTypes
    handler: Handler
    auth: AuthVerifier
    limits: tuple[RouteLimit, ...]
    max_body: int
    params: ParamsDecoder | None
    route: _MetricsRoute


@dataclass(frozen=True, slots=True)
class _MetricsRoute:
    """What :mod:`strato.service.metrics` reads from ``scope["route"]``: the route template."""

    path: str


@dataclass(frozen=True, slots=True)
class ErrorMap(Generic[E]):
    """How a domain error class answers over XRPC: ``status``, the ``error`` name (None: the
    status's generic one) and the ``message`` made from the exception."""

    kind: type[E]
    status: int
    error: str | None = None
    message: Callable[[E], str] = str

    def answer(self, err: E) -> XrpcError:
        """The XRPC error ``err`` answers with."""
        return XrpcError(self.status, self.error, self.message(err))


class ErrorTable:
    """Domain error classes and how each answers (:class:`ErrorMap`); an error answers as the
    most specific of its classes (in MRO order) that the table holds."""

    def __init__(self, mappings: Iterable[ErrorMap[Any]] = ()) -> None:
        self._mappings: dict[type[Exception], ErrorMap[Any]] = {}
        for mapping in mappings:
            self.add(mapping)

    def add(self, mapping: ErrorMap[Any]) -> None:
        """Answer ``mapping.kind`` (and its subclasses without a mapping of their own)."""
        self._mappings[mapping.kind] = mapping

    def answer(self, err: Exception) -> XrpcError | None:
        """The XRPC error ``err`` answers with; None when the table does not cover it."""
        for kind in type(err).__mro__:
            mapping = self._mappings.get(kind)
            if mapping is not None:
                return mapping.answer(err)
        return None


@dataclass(frozen=True)
class RateLimitSettings:
    """The router's rate limiting: ``global_limits`` apply to every XRPC request by client
    address (except the ``exempt`` methods); ``trusted_proxies`` is how many reverse proxies'
    ``X-Forwarded-For`` hops to trust (0: use the socket peer); requests with the
    ``x-ratelimit-bypass`` header equal to ``bypass_key``, or from ``bypass_ips``, are not
    limited; ``enabled`` False turns every limit off."""

    global_limits: tuple[RateLimit, ...] = ()
    exempt: frozenset[str] = frozenset()
    trusted_proxies: int = 0
    bypass_key: str | None = None
    bypass_ips: frozenset[str] = frozenset()
    enabled: bool = True


class XrpcRouter:
    """Methods by NSID and the Starlette routes that serve them (:meth:`routes`)."""

    def __init__(
        self,
        *,
        version: str = __version__,
        max_json_bytes: int = DEFAULT_JSON_LIMIT,
        rate_limits: RateLimitSettings | None = None,
        health: Callable[[], Awaitable[bool]] | None = None,
        clock: Callable[[], float] = time.time,
        fallback: Callable[[Request, str], Awaitable[Response]] | None = None,
        errors: Iterable[ErrorMap[Any]] = (),
    ) -> None:
        """``fallback`` answers the NSIDs no method serves (a PDS forwards them to another
        service); without one they are 501 ``MethodNotImplemented``. ``errors`` is the
        service's table of domain errors (:meth:`map_error`)."""
        self.version = version
        self.fallback = fallback
        self.max_json_bytes = max_json_bytes
        self.rate_limits = rate_limits or RateLimitSettings()
        self.clock = clock
        self.methods: dict[str, XrpcMethod] = {}
        self._health = health
        self._windows: dict[str, SlidingWindow] = {}
        self._global = [self._window(limit) for limit in self.rate_limits.global_limits]
        self.errors = ErrorTable(errors)

    # -----------------------------------------------------------------------------------------
    # Registration

    def add(
        self,
        nsid: str,
        handler: Handler,
        *,
        types: MethodTypes | None = None,
        auth: AuthVerifier = unauthenticated,
        limits: Iterable[RouteLimit] = (),
        max_body: int | None = None,
    ) -> XrpcMethod:
        """Serve ``nsid`` with ``handler``; ``types`` default to the registered ones
        (:data:`strato.xrpc.types.METHODS`); ``max_body`` overrides the JSON body limit."""
        if types is None:
            if nsid not in METHODS:
                raise LookupError(f"no registered types for {nsid}: pass types=")
            types = METHODS[nsid]
        if nsid in self.methods:
            raise ValueError(f"{nsid} is already registered")
        if isinstance(types.input, RawInput):
            body_limit = types.input.max_bytes if max_body is None else max_body
        else:
            body_limit = self.max_json_bytes if max_body is None else max_body
        route_limits = tuple(limits)
        for limit in route_limits:
            self._window(limit.limit)
        method = XrpcMethod(
            nsid,
            types,
            handler,
            auth,
            route_limits,
            body_limit,
            ParamsDecoder(types.params) if types.params is not None else None,
            _MetricsRoute(f"/xrpc/{nsid}"),
        )
        self.methods[nsid] = method
        return method

    def method(
        self,
        nsid: str,
        *,
        types: MethodTypes | None = None,
        auth: AuthVerifier = unauthenticated,
        limits: Iterable[RouteLimit] = (),
        max_body: int | None = None,
    ) -> Callable[[H], H]:
        """Decorator form of :meth:`add`."""

        def register(handler: H) -> H:
            self.add(nsid, handler, types=types, auth=auth, limits=limits, max_body=max_body)
            return handler

        return register

    def map_error(
        self,
        kind: type[E],
        status: int,
        error: str | None = None,
        message: Callable[[E], str] = str,
    ) -> None:
        """Answer a handler's ``kind`` exceptions (and its subclasses that have no mapping of
        their own) with ``status``, ``error`` and ``message(exception)``."""
        self.errors.add(ErrorMap(kind, status, error, message))

    def _window(self, limit: RateLimit) -> SlidingWindow:
        window = self._windows.get(limit.name)
        if window is None:
            window = self._windows[limit.name] = SlidingWindow(limit, self.clock)
        elif window.limit != limit:
            raise ValueError(f"two different rate limits are named {limit.name!r}")
        return window

    def routes(self) -> list[BaseRoute]:
        """``/xrpc/_health`` and ``/xrpc/<nsid>`` (every HTTP method, so a wrong one gets the
        XRPC answer)."""
        return [
            health_route("/xrpc/_health", self._unhealthy, version=self.version),
            Route("/xrpc/{nsid:path}", self.endpoint, methods=_ALL_METHODS),
        ]

    # -----------------------------------------------------------------------------------------
    # Serving

    async def _unhealthy(self) -> Unhealthy | None:
        """The health check's answer: a problem while the service's ``health`` says so."""
        return None if self._health is None or await self._health() else Unhealthy()

    async def endpoint(self, request: Request) -> Response:
        """The Starlette endpoint of ``/xrpc/{nsid}``."""
        statuses: list[LimitStatus] = []
        authenticated: list[bool] = []
        try:
            response = await self._serve(request, statuses, authenticated)
        except ClientDisconnect:  # gone, or closed for a body that stopped coming: no reader
            response = invalid_request("the connection closed before the request ended").response()
        except Exception as err:
            answer = err if isinstance(err, XrpcError) else self.errors.answer(err)
            if answer is None:
                logger.exception("unexpected error in %s", request.url.path)
                answer = XrpcError(500)
            elif answer.status >= 500 and answer.status != 501:
                logger.warning("%s in %s", answer, request.url.path)
            response = answer.response()
        status = tightest(statuses)
        if status is not None:
            for name, value in status.headers().items():
                response.headers.setdefault(name, value)
        if authenticated:
            # the answer depends on who asks: no shared caching (as the reference sets)
            response.headers.setdefault("Cache-Control", "private")
            response.headers.setdefault("Vary", "Authorization")
        return response

    async def _serve(
        self, request: Request, statuses: list[LimitStatus], authenticated: list[bool]
    ) -> Response:
        nsid: str = request.path_params["nsid"]
        nsid = nsid.removesuffix("/")
        if _XRPC_NSID.fullmatch(nsid) is None or len(nsid) < 2:
            raise invalid_request("invalid xrpc path")
        ip = client_ip(request, self.rate_limits.trusted_proxies)
        limited = self.rate_limits.enabled and not self._bypassed(request, ip)
        if limited and nsid not in self.rate_limits.exempt:
            self._consume(statuses, [(w, ip, 1) for w in self._global])
        method = self.methods.get(nsid)
        if method is None:
            if self.fallback is not None:
                authenticated.append(True)
                return await self.fallback(request, nsid)
            raise method_not_implemented()
        request.scope["route"] = method.route
        expected = "GET" if method.types.kind == "query" else "POST"
        if request.method != expected and not (expected == "GET" and request.method == "HEAD"):
            raise invalid_request(f"Incorrect HTTP method ({request.method}) expected {expected}")
        params = self._params(method, request)
        if method.auth is not unauthenticated:
            authenticated.append(True)
        credentials = await method.auth(request, nsid)
        body = await self._input(method, request)
        xrpc: XrpcRequest[Any, Any] = XrpcRequest(nsid, params, body, credentials, request, ip)
        if limited and method.limits:
            charges = []
            for limit in method.limits:
                key = limit.key(xrpc)
                if key is not None:
                    charges.append((self._windows[limit.limit.name], key, limit.cost(xrpc)))
            self._consume(statuses, charges)
        result = await method.handler(xrpc)
        response = self._output(method, result)
        response.headers.update(xrpc.headers)
        return response

    def _bypassed(self, request: Request, ip: str) -> bool:
        key = self.rate_limits.bypass_key
        if key is not None and request.headers.get(BYPASS_HEADER) == key:
            return True
        return ip in self.rate_limits.bypass_ips

    @staticmethod
    def _consume(
        statuses: list[LimitStatus], charges: list[tuple[SlidingWindow, str, int]]
    ) -> None:
        """Take every charge, or none when one of the limits has no room (so a request refused
        by a daily limit does not use up the hourly one)."""
        charges = [charge for charge in charges if charge[2] >= 1]
        checks = [window.consume(key, points, dry_run=True) for window, key, points in charges]
        refused = [status for status in checks if not status.allowed]
        if refused:
            statuses.extend(checks)
            raise max(refused, key=lambda status: status.retry_after).error()
        statuses.extend(window.consume(key, points) for window, key, points in charges)

    @staticmethod
    def _params(method: XrpcMethod, request: Request) -> Any:
        if method.params is None:
            return None
        try:
            return method.params.decode(request.query_params)
        except LexiconValidationError as err:
            raise invalid_request(_field_message("Params", err)) from None

    async def _input(self, method: XrpcMethod, request: Request) -> Any:
        declared = method.types.input
        presence = _body_presence(request)
        if declared is None:
            if presence == "present" and await _has_body(request, method.max_body):
                raise invalid_request("A request body was provided when none was expected")
            return None
        if presence == "missing":
            raise invalid_request("A request body is expected but none was provided")
        content_type = _content_type(request)
        if content_type is None:
            raise invalid_request("Request encoding (Content-Type) required but not provided")
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            raise XrpcError(415, None, "unsupported content-encoding")
        length = _content_length(request)
        if length is not None and length > method.max_body:
            raise _too_large()
        if isinstance(declared, RawInput):
            if not declared.accepts(content_type):
                raise invalid_request(f"Wrong request encoding (Content-Type): {content_type}")
            return BodyStream(request, content_type, method.max_body)
        if content_type != "application/json":
            raise invalid_request(f"Wrong request encoding (Content-Type): {content_type}")
        data = await BodyStream(request, content_type, method.max_body).read()
        try:
            check_json(data)
        except DataModelError as err:
            raise invalid_request(_field_message("Input", err)) from None
        try:
            return msgspec.json.decode(data, type=declared, dec_hook=dec_hook)
        except msgspec.ValidationError as err:
            raise invalid_request(_field_message("Input", lexicon_error(err))) from None
        except (msgspec.DecodeError, UnicodeDecodeError):
            # msgspec reports invalid UTF-8 inside a string as UnicodeDecodeError.
            raise invalid_request("Input is not valid JSON") from None

    @staticmethod
    def _output(method: XrpcMethod, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        output = method.types.output
        if output is None:
            if result is not None:
                raise TypeError(f"{method.nsid} has no output but its handler returned one")
            return Response(status_code=200)
        if not isinstance(result, output):
            raise TypeError(f"{method.nsid} returned {type(result).__name__}, not {output}")
        return Response(msgspec.json.encode(result), media_type="application/json")


_ALL_METHODS: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def _field_message(where: str, err: LexiconValidationError | DataModelError) -> str:
    """``Input.collection: must be a valid nsid``, ``Params: required field 'repo' is missing``."""
    return f"{where}{(err.path or '$')[1:]}: {err.reason}"


def _too_large() -> XrpcError:
    return XrpcError(413, None, "request entity too large")


def _content_type(request: Request) -> str | None:
    value = request.headers.get("content-type")
    if not value:
        return None
    mime = value.split(";", 1)[0].strip().lower()
    return mime or None


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise invalid_request("invalid content-length")
    return int(value)


def _body_presence(request: Request) -> str:
    """The reference's reading of the framing headers: ``missing``, ``empty`` or ``present``."""
    if "transfer-encoding" in request.headers:
        return "present"
    length = request.headers.get("content-length")
    if length is None:
        return "missing"
    return "empty" if length == "0" else "present"


async def _has_body(request: Request, limit: int) -> bool:
    """Whether a body announced by its framing has any bytes (a chunked body may be empty)."""
    if "transfer-encoding" not in request.headers:
        return True
    async for chunk in BodyStream(request, "", limit).chunks():
        if chunk:
            return True
    return False
