"""The relay as ``strato relay`` and ``strato up`` serve it: :func:`relay_service`, its app with
the ``subscribeRepos`` fan-out (:mod:`strato.firehose.fanout.service`) of its log: in the main
process with ``RelaySettings.workers`` 0, else in that many worker processes on the same port.

While the fan-out runs it is wired into the relay: its wake-up joins the context's
:class:`~strato.relay.context.Notifier` (called after each commit of the log), and its
consumers, wherever they are served, join the admin API's consumer list.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from starlette.applications import Starlette

from strato.firehose.fanout.server import FanoutOptions
from strato.firehose.fanout.service import Fanout, Stream, stream_service
from strato.firehose.fanout.workers import LogSpec
from strato.relay.admin import RelayAdmin
from strato.relay.consumers import fanout_consumers
from strato.relay.context import SCHEMA_VERSION, RelayContext
from strato.relay.server_header import SERVER
from strato.relay.settings import RelaySettings
from strato.service.serving import Service


def relay_service(settings: RelaySettings, app: Starlette) -> Service:
    """The relay app ``app`` (built over ``settings``) as a service, with its fan-out."""
    ctx: RelayContext = app.state.ctx
    admin: RelayAdmin = app.state.admin
    limits = settings.connection_limits
    data_dir = Path(settings.data_dir)
    options = FanoutOptions(
        max_backlog_frames=settings.consumer_buffer,
        server_header=SERVER.decode(),
        handshake_timeout=limits.header_timeout,
        max_connections=limits.max_connections,
        max_connections_per_ip=limits.max_connections_per_ip,
        trusted_proxies=settings.trust_proxy,
    )
    stream = Stream(
        ctx.sequencer,
        LogSpec(data_dir / "db", "relay", SCHEMA_VERSION),
        data_dir,
        options,
        workers=settings.workers,
    )

    @contextlib.contextmanager
    def attach(fanout: Fanout) -> Iterator[None]:
        consumers = fanout_consumers(fanout.consumers)
        ctx.notify.add(fanout.notify)
        admin.consumers.add_source(consumers)
        try:
            yield
        finally:
            admin.consumers.remove_source(consumers)
            ctx.notify.remove(fanout.notify)

    return stream_service(
        "relay",
        app,
        settings.host,
        settings.port,
        stream=stream,
        limits=limits,
        metrics=ctx.metrics,
        attach=attach,
    )
