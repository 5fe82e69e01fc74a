"""The PDS as ``strato pds`` and ``strato up`` serve it: :func:`pds_service`, its app with the
``subscribeRepos`` fan-out of its log (:mod:`strato.firehose.fanout.service`) in the same
process: the HTTP server hands each firehose connection to the Rust frame writer, which its
writer wakes after each commit (through the log's own ``notify``).
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette

from strato.firehose.fanout.server import FanoutOptions
from strato.firehose.fanout.service import Stream, stream_service
from strato.firehose.fanout.workers import LogSpec
from strato.pds.context import SCHEMA_VERSION, PdsContext
from strato.pds.settings import PdsSettings
from strato.service.serving import Service


def pds_service(settings: PdsSettings, app: Starlette) -> Service:
    """The PDS app ``app`` (built over ``settings``) as a service, with its firehose."""
    ctx: PdsContext = app.state.ctx
    limits = settings.connection_limits
    data_dir = Path(settings.data_dir)
    stream = Stream(
        ctx.sequencer,
        LogSpec(data_dir / "db", "pds", SCHEMA_VERSION),
        data_dir,
        FanoutOptions(
            handshake_timeout=limits.header_timeout, trusted_proxies=settings.trust_proxy
        ),
    )
    return stream_service(
        "pds",
        app,
        settings.host,
        settings.port,
        stream=stream,
        limits=limits,
        metrics=ctx.metrics,
    )
