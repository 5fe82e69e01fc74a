"""The relay as an ASGI app: :func:`create_app`.

Routes: the XRPC methods of :mod:`strato.relay.routes` under ``/xrpc/``, the firehose
(``/xrpc/com.atproto.sync.subscribeRepos``, the relay's own log), ``/xrpc/_health`` (503 with
the reason while ingest is stopped), ``/metrics``, ``/`` and ``/robots.txt``. Every response
carries ``Server: strato-relay/<version> (atproto-relay)``: another relay that finds it will not
subscribe to us, and we will not subscribe to a host that sends it.

The lifespan runs the ingest pipeline, the firehose pump, the crawler of the registered hosts
(the settings' ``crawl`` hosts are registered first, and the hosts under its trusted domains
trusted) and the log's retention every ``PRUNE_INTERVAL`` seconds; leaving it stops them and
closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from strato import __version__
from strato.firehose.fanout.service import stream_routes
from strato.relay import admin_page
from strato.relay.admin import RelayAdmin
from strato.relay.context import RelayContext
from strato.relay.crawler import Crawler, CrawlerConfig
from strato.relay.host_metrics import HostMetrics
from strato.relay.limits import HostLimits
from strato.relay.routes import NAMESPACES, admin_paths
from strato.relay.routes import admin as admin_routes
from strato.relay.routes import hosts as host_routes
from strato.relay.server_header import ServerHeader
from strato.relay.settings import RelaySettings
from strato.relay.stats_history import INTERVAL
from strato.service.chores import cancel_all, every
from strato.xrpc import RateLimitSettings, XrpcRouter, cors_middleware

logger = logging.getLogger("strato.relay")

PRUNE_INTERVAL: Final = 600.0

BANNER: Final = """\
This is an AT Protocol relay, run by strato.

It crawls PDS hosts, verifies every commit and serves one event stream:
  /xrpc/com.atproto.sync.subscribeRepos
"""


def create_app(settings: RelaySettings, *, context: RelayContext | None = None) -> Starlette:
    """The relay app over ``settings`` (its data directory is opened now; ingest and the
    housekeeping run while the app's lifespan does; the firehose is served beside it by
    :func:`strato.relay.service.relay_service`)."""
    ctx = context if context is not None else RelayContext.open(settings)
    router = XrpcRouter(rate_limits=RateLimitSettings(trusted_proxies=settings.trust_proxy))
    for namespace in NAMESPACES:
        namespace.register(router, ctx)
    crawler = Crawler(
        ctx.hosts,
        ctx.ingestor.submit,
        config=CrawlerConfig(policy=settings.network_policy),
        bans=ctx.bans,
        limits=HostLimits(),
        metrics=HostMetrics(ctx.metrics),
        on_drop=lambda host, reason: ctx.relay_metrics.drop(reason),
        dns=ctx.identity.network.dns,
    )
    service = host_routes.HostService(ctx.hosts, crawler, ctx.bans, settings, ctx.http)
    host_routes.register(router, service)
    admin = RelayAdmin(ctx, service)
    admin_routes.register(router, admin)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx.relay_metrics.log_bytes.set(ctx.sequencer.total_bytes())
        tasks = [
            asyncio.create_task(ctx.ingestor.run(), name="relay-ingest"),
            asyncio.create_task(every(PRUNE_INTERVAL, ctx.prune, logger), name="prune"),
            asyncio.create_task(every(INTERVAL, admin.history.sample, logger), name="history"),
        ]
        for name in settings.crawl:
            await service.add_configured(name)
        await service.trust()
        await crawler.start()
        try:
            yield
        finally:
            await crawler.stop()
            await cancel_all(tasks)
            await ctx.aclose()

    async def health(request: Request) -> Response:
        reason = ctx.ingestor.stopped_reason
        if reason is not None:
            return JSONResponse(
                {"version": __version__, "error": "IngestStopped", "message": reason},
                status_code=503,
            )
        return JSONResponse({"version": __version__})

    async def root(request: Request) -> Response:
        return PlainTextResponse(BANNER)

    async def robots(request: Request) -> Response:
        return PlainTextResponse("# Hello!\n\nUser-agent: *\nDisallow: /\n")

    routes = [
        Route("/xrpc/_health", health, methods=["GET", "HEAD"]),
        *stream_routes(),
        *router.routes(),
        *admin_paths.routes(admin),
        *admin_page.routes(settings.admin_token_file),
        Route("/metrics", ctx.metrics.endpoint, methods=["GET"]),
        Route("/robots.txt", robots, methods=["GET"]),
        Route("/", root, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(ServerHeader), ctx.metrics.middleware(), cors_middleware()],
    )
    app.state.ctx = ctx
    app.state.router = router
    app.state.admin = admin
    app.state.crawler = crawler
    return app
