"""A small XRPC app for the xrpc tests: demo methods with hand-written types, one method with
the registered types, auth, rate limits, CORS and metrics, and a way to serve it with uvicorn
on 127.0.0.1."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from localnet import serve_app
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from strato.lexicon.types._base import LexObject, text
from strato.service.metrics import ServerMetrics
from strato.syntax import is_did, is_nsid
from strato.xrpc import (
    BodyStream,
    MethodTypes,
    RateLimit,
    RateLimitSettings,
    RawInput,
    RouteLimit,
    XrpcError,
    XrpcRequest,
    XrpcRouter,
    by_account,
    cors_middleware,
)
from strato.xrpc.auth import AccessCredentials, Authenticator
from strato.xrpc.types.identity import ResolveHandleOutput, ResolveHandleParams

SECRET = b"demo-secret"
SERVICE_DID = "did:web:pds.test"
ADMIN_TOKEN = "admin-token"
ALICE = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


class EchoParams(LexObject):
    name: str
    count: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1
    loud: bool | msgspec.UnsetType = msgspec.UNSET
    tags: list[str] | msgspec.UnsetType = msgspec.UNSET
    numbers: list[int] | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        text(self.name, "name", max_bytes=20)


class EchoOutput(LexObject):
    text: str
    tags: list[str]
    numbers: list[int]


class WriteInput(LexObject):
    repo: str
    collection: str
    record: dict[str, Any]

    def __post_init__(self) -> None:
        text(self.repo, "repo", check=is_did, fmt="did")
        text(self.collection, "collection", check=is_nsid, fmt="nsid")


class WriteOutput(LexObject):
    did: str
    keys: list[str]


class UploadOutput(LexObject):
    size: int
    mime_type: str


class WhoAmIOutput(LexObject):
    did: str
    scope: str


@dataclass
class FakeClock:
    """A clock tests move by hand."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


GLOBAL = RateLimit("global-ip", 5, 300)
WRITES = RateLimit("writes-hour", 6, 3600)


def demo_router(clock: FakeClock, *, rate_limits: RateLimitSettings | None = None) -> XrpcRouter:
    """The demo methods on a router."""
    router = XrpcRouter(version="9.9.9", max_json_bytes=1024, rate_limits=rate_limits, clock=clock)
    auth = Authenticator(SECRET, SERVICE_DID, admin_token=ADMIN_TOKEN, clock=clock)

    @router.method(
        "com.example.echo", types=MethodTypes("query", params=EchoParams, output=EchoOutput)
    )
    async def echo(request: XrpcRequest[EchoParams, None]) -> EchoOutput:
        p = request.params
        word = p.name.upper() if p.loud is True else p.name
        tags = p.tags if p.tags is not msgspec.UNSET else []
        numbers = p.numbers if p.numbers is not msgspec.UNSET else []
        return EchoOutput(text=" ".join([word] * p.count), tags=tags, numbers=numbers)

    @router.method(
        "com.example.write",
        types=MethodTypes("procedure", input=WriteInput, output=WriteOutput),
        auth=auth.access(),
        limits=[RouteLimit(WRITES, key=by_account, cost=lambda r: 3)],
    )
    async def write(request: XrpcRequest[None, WriteInput]) -> WriteOutput:
        assert isinstance(request.auth, AccessCredentials)
        if request.input.repo != request.auth.did:
            raise XrpcError(403, "NotYourRepo", "you can only write to your own repo")
        return WriteOutput(did=request.auth.did, keys=sorted(request.input.record))

    @router.method("com.example.ping", types=MethodTypes("procedure"))
    async def ping(request: XrpcRequest[None, None]) -> None:
        request.headers["x-pong"] = "1"
        request.headers["Access-Control-Expose-Headers"] = "x-pong"

    @router.method(
        "com.example.upload",
        types=MethodTypes("procedure", input=RawInput("image/*", 64), output=UploadOutput),
    )
    async def upload(request: XrpcRequest[None, BodyStream]) -> UploadOutput:
        data = await request.input.read()
        return UploadOutput(size=len(data), mime_type=request.input.content_type)

    @router.method("com.example.fail", types=MethodTypes("query"))
    async def fail(request: XrpcRequest[None, None]) -> None:
        raise RuntimeError("secret database password leaked in this message")

    @router.method("com.example.wrongOutput", types=MethodTypes("query", output=EchoOutput))
    async def wrong_output(request: XrpcRequest[None, None]) -> WriteOutput:
        return WriteOutput(did=ALICE, keys=[])

    @router.method("com.example.teapot", types=MethodTypes("query"))
    async def teapot(request: XrpcRequest[None, None]) -> None:
        raise XrpcError(409, "InvalidSwap", "the record changed", {"x-swap": "1"})

    @router.method(
        "com.example.car", types=MethodTypes("query", raw_output="application/vnd.ipld.car")
    )
    async def car(request: XrpcRequest[None, None]) -> Response:
        return Response(b"\x0a\xa1", media_type="application/vnd.ipld.car")

    @router.method(
        "com.example.whoami", types=MethodTypes("query", output=WhoAmIOutput), auth=auth.access()
    )
    async def whoami(request: XrpcRequest[None, None]) -> WhoAmIOutput:
        assert isinstance(request.auth, AccessCredentials)
        return WhoAmIOutput(did=request.auth.did, scope=str(request.auth.scope))

    @router.method("com.example.admin", types=MethodTypes("query"), auth=auth.admin())
    async def admin(request: XrpcRequest[None, None]) -> None:
        return None

    @router.method("com.atproto.identity.resolveHandle")
    async def resolve_handle(
        request: XrpcRequest[ResolveHandleParams, None],
    ) -> ResolveHandleOutput:
        if request.params.handle != "alice.test":
            raise XrpcError(400, "HandleNotFound", "Unable to resolve handle")
        return ResolveHandleOutput(did=ALICE)

    return router


def demo_app(
    clock: FakeClock | None = None, *, rate_limits: RateLimitSettings | None = None
) -> tuple[Starlette, XrpcRouter, ServerMetrics]:
    """The demo router in an app with CORS and metrics (``/metrics``)."""
    router = demo_router(clock or FakeClock(), rate_limits=rate_limits)
    metrics = ServerMetrics("demo")
    app = Starlette(
        routes=[*router.routes(), Route("/metrics", metrics.endpoint)],
        middleware=[metrics.middleware(), cors_middleware()],
    )
    return app, router, metrics


def serve(app: Starlette) -> AbstractContextManager[str]:
    """Run ``app`` on 127.0.0.1 (any free port) in a thread, without its lifespan; yields its
    URL."""
    return serve_app(app, lifespan="off")
