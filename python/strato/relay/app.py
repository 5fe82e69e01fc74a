"""The relay as an ASGI app: :func:`create_app`.

Routes: the XRPC methods of :mod:`strato.relay.routes` under ``/xrpc/``, the firehose
(``/xrpc/com.atproto.sync.subscribeRepos``, the relay's own log), ``/xrpc/_health`` (503 with
the reason while ingest is stopped), ``/metrics`` (:mod:`strato.service.health`), ``/`` (an HTML
page linking the admin page, the metrics and health) and ``/robots.txt``. Every response
carries ``Server: strato-relay/<version> (atproto-relay)``: another relay that finds it will not
subscribe to us, and we will not subscribe to a host that sends it.

The lifespan runs the ingest pipeline, the firehose pump, the crawler of the registered hosts
(the settings' ``crawl`` hosts are registered first, and the hosts under its trusted domains
trusted), the log's retention every ``PRUNE_INTERVAL`` seconds and the admin page's history
(a sample of the counters every ``INTERVAL`` seconds, :mod:`strato.relay.stats_history`);
leaving it stops them and closes the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from strato.firehose.fanout.service import stream_routes
from strato.relay import admin_page
from strato.relay.admin import RelayAdmin
from strato.relay.context import RelayContext
from strato.relay.crawler import Crawler, CrawlerConfig
from strato.relay.host_metrics import HostMetrics
from strato.relay.host_service import HostService
from strato.relay.limits import HostLimits
from strato.relay.routes import NAMESPACES, admin_paths
from strato.relay.routes import admin as admin_routes
from strato.relay.routes import hosts as host_routes
from strato.relay.routes.errors import ERRORS
from strato.relay.server_header import ServerHeader
from strato.relay.settings import RelaySettings
from strato.relay.stats_history import INTERVAL
from strato.service.health import HomePage, Unhealthy, health_route, home_route, metrics_route
from strato.xrpc import RateLimitSettings, XrpcRouter, cors_middleware

PRUNE_INTERVAL: Final = 600.0
HEALTH_PATH: Final = "/xrpc/_health"

HOME: Final = HomePage(
    "strato relay",
    "An AT Protocol relay: it crawls PDS hosts, verifies every commit and serves one event "
    "stream at /xrpc/com.atproto.sync.subscribeRepos.",
    HEALTH_PATH,
    "/admin/",
)


def create_app(settings: RelaySettings, *, context: RelayContext | None = None) -> Starlette:
    """The relay app over ``settings`` (its data directory is opened now; ingest and the
    housekeeping run while the app's lifespan does; the firehose is served beside it by
    :func:`strato.relay.service.relay_service`)."""
    ctx = context if context is not None else RelayContext.open(settings)
    router = XrpcRouter(
        rate_limits=RateLimitSettings(trusted_proxies=settings.trust_proxy), errors=ERRORS
    )
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
    service = HostService(ctx.hosts, crawler, ctx.bans, settings, ctx.http)
    host_routes.register(router, service)
    admin = RelayAdmin(ctx, service)
    admin_routes.register(router, admin)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx.relay_metrics.log_bytes.set(ctx.sequencer.total_bytes())
        ctx.chores.start("relay-ingest", ctx.ingestor.run())
        ctx.chores.every("prune", PRUNE_INTERVAL, ctx.prune)
        ctx.chores.every("history", INTERVAL, admin.history.sample)
        for name in settings.crawl:
            await service.add_configured(name)
        await service.trust()
        await crawler.start()
        try:
            yield
        finally:
            await crawler.stop()
            await ctx.aclose()  # the chores first

    async def ingesting() -> Unhealthy | None:
        reason = ctx.ingestor.stopped_reason
        return None if reason is None else Unhealthy("IngestStopped", reason)

    async def robots(request: Request) -> Response:
        return PlainTextResponse("# Hello!\n\nUser-agent: *\nDisallow: /\n")

    routes = [
        health_route(HEALTH_PATH, ingesting),
        *stream_routes(),
        *router.routes(),
        *admin_paths.routes(admin),
        *admin_page.routes(settings.admin_token_file),
        metrics_route(ctx.metrics),
        Route("/robots.txt", robots, methods=["GET"]),
        home_route(HOME),
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
