"""The PDS as an ASGI app: :func:`create_app`.

Routes: the XRPC methods of :mod:`strato.pds.routes` under ``/xrpc/`` (any other NSID is
forwarded to another service by :mod:`strato.pds.proxy`), the firehose
(``/xrpc/com.atproto.sync.subscribeRepos``), ``/xrpc/_health``, ``/metrics``
(:mod:`strato.service.health`),
``/.well-known/atproto-did`` (the DID of the hosted handle named by the ``Host`` header),
``/.well-known/did.json`` (the PDS's own did:web document), ``/`` and ``/robots.txt``.

The app's lifespan starts the group-commit writer, ends the repository imports a crash
interrupted (their leftovers, and the spaces finished imports retired, are dropped in the
background), starts the firehose pump, and runs the housekeeping: the event log's retention
every ``PRUNE_INTERVAL`` seconds, the collection of unreferenced blob uploads every
``BLOB_GC_INTERVAL`` seconds, and the notices to the configured relays
(:class:`strato.pds.crawlers.Crawlers`). Leaving it stops them, lets queued writes finish, and
closes the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from strato.errors import AccountNotFoundError
from strato.firehose.fanout.service import stream_routes
from strato.pds.context import PdsContext
from strato.pds.crawlers import Crawlers
from strato.pds.proxy import proxy_handler
from strato.pds.routes import NAMESPACES
from strato.pds.routes.errors import ERRORS
from strato.pds.routes.sync import GLOBAL_EXEMPT
from strato.pds.settings import PdsSettings
from strato.service.health import metrics_route
from strato.xrpc import RateLimit, RateLimitSettings, XrpcRouter, cors_middleware

PRUNE_INTERVAL: Final = 600.0
BLOB_GC_INTERVAL: Final = 3600.0
#: The reference PDS's global limit: 3000 requests per 5 minutes per client address.
GLOBAL_LIMIT: Final = RateLimit("global-ip", 3000, 300.0)

BANNER: Final = """\
This is an AT Protocol personal data server (PDS), run by strato.

Most API routes are under /xrpc/
"""


def create_app(settings: PdsSettings, *, context: PdsContext | None = None) -> Starlette:
    """The PDS app over ``settings`` (its data directory is opened now; the writer and the
    housekeeping run while the app's lifespan does; the firehose is served beside it by
    :func:`strato.pds.service.pds_service`)."""
    ctx = context if context is not None else PdsContext.open(settings)
    router = XrpcRouter(
        rate_limits=RateLimitSettings(
            global_limits=(GLOBAL_LIMIT,),
            trusted_proxies=settings.trust_proxy,
            enabled=settings.rate_limits,
            exempt=GLOBAL_EXEMPT,
        ),
        fallback=proxy_handler(ctx),
        errors=ERRORS,
    )
    for namespace in NAMESPACES:
        namespace.register(router, ctx)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx.writer.start()
        await ctx.importer.reclaim()
        ctx.chores.every("prune", PRUNE_INTERVAL, ctx.sequencer.prune)
        ctx.chores.every("blob-gc", BLOB_GC_INTERVAL, ctx.blobs.collect_garbage)
        if settings.relays:
            crawlers = Crawlers(
                settings.relays, settings.hostname, ctx.http, ctx.sequencer,
                policy=settings.network_policy, dns=ctx.identity.network.dns,
            )  # fmt: skip
            ctx.chores.start("crawlers", crawlers.run())
        try:
            yield
        finally:
            await ctx.aclose()  # the chores first

    async def atproto_did(request: Request) -> Response:
        host = (request.headers.get("host") or "").split(":", 1)[0].strip().lower()
        try:
            account = ctx.accounts.get_by_handle(host)
        except (AccountNotFoundError, ValueError):
            return PlainTextResponse("User not found", status_code=404)
        return PlainTextResponse(account.did)

    async def did_json(request: Request) -> Response:
        return JSONResponse(service_did_document(settings))

    async def root(request: Request) -> Response:
        return PlainTextResponse(BANNER)

    async def robots(request: Request) -> Response:
        return PlainTextResponse("# Hello!\n\nUser-agent: *\nAllow: /\n")

    routes = [
        *stream_routes(),
        *router.routes(),
        metrics_route(ctx.metrics),
        Route("/.well-known/atproto-did", atproto_did, methods=["GET"]),
        Route("/.well-known/did.json", did_json, methods=["GET"]),
        Route("/robots.txt", robots, methods=["GET"]),
        Route("/", root, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[ctx.metrics.middleware(), cors_middleware()],
    )
    app.state.ctx = ctx
    app.state.router = router
    return app


def service_did_document(settings: PdsSettings) -> dict[str, object]:
    """The PDS's did:web document: the service entry relays and appviews look up."""
    did = settings.service_did
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "service": [
            {
                "id": "#atproto_pds",
                "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": settings.public_url,
            }
        ],
    }
