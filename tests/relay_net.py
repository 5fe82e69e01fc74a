"""A local network for relay tests: a PLC directory, PDSes whose public URL is their real
address (``http://localhost:<port>``, so their accounts' DID documents name the host the relay
subscribes to), and a relay, each served as the command line serves it (firehose fan-out
included: in the process, unless a test asks for workers) on 127.0.0.1 in a thread."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from localnet import serve_service
from pds_net import LocalPds, run_plc
from starlette.applications import Starlette
from strato.pds.app import create_app as create_pds_app
from strato.pds.service import pds_service
from strato.pds.settings import PdsSettings
from strato.relay.app import create_app as create_relay_app
from strato.relay.context import RelayContext
from strato.relay.service import relay_service
from strato.relay.settings import RelaySettings
from strato.service.serving import Service
from strato_proc import free_port


@dataclass
class LocalRelay:
    """A running relay: its URL, settings and open context, its app, the service serving it
    and the event loop it runs in."""

    url: str
    settings: RelaySettings
    ctx: RelayContext
    app: Starlette
    service: Service
    loop: asyncio.AbstractEventLoop

    @property
    def stream_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/xrpc/com.atproto.sync.subscribeRepos"

    def xrpc(self, nsid: str, **kwargs: Any) -> httpx.Response:
        method = "POST" if "json" in kwargs or "content" in kwargs else "GET"
        with httpx.Client(base_url=self.url, timeout=30.0) as client:
            return client.request(method, f"/xrpc/{nsid}", **kwargs)


@contextlib.contextmanager
def run_addressed_pds(data_dir: Path, plc_url: str, **settings: Any) -> Iterator[LocalPds]:
    """A PDS on a port chosen first, so its public URL is where it really listens."""
    port = free_port()
    options: dict[str, Any] = {
        "rate_limits": False, "sync": False, "local_network": True, "port": port,
        "public_url": f"http://localhost:{port}", **settings,
    }  # fmt: skip
    config = PdsSettings(data_dir=data_dir, plc_url=plc_url, **options)
    app = create_pds_app(config)
    service = pds_service(config, app)
    with serve_service(service, port=None) as (url, _):
        yield LocalPds(url, plc_url, config, app.state.ctx, service)


@contextlib.contextmanager
def run_relay(data_dir: Path, plc_url: str, **settings: Any) -> Iterator[LocalRelay]:
    """A relay on a local network using the directory at ``plc_url``."""
    options: dict[str, Any] = {"sync": False, "local_network": True, "workers": 0, **settings}
    config = RelaySettings(data_dir=data_dir, plc_url=plc_url, **options)
    app = create_relay_app(config)
    service = relay_service(config, app)
    with serve_service(service) as (url, loop):
        yield LocalRelay(url, config, app.state.ctx, app, service, loop)


@contextlib.contextmanager
def pds_and_relay(tmp: Path, **relay_settings: Any) -> Iterator[tuple[LocalPds, LocalRelay]]:
    """A PLC directory, an addressed PDS and a relay using it (not yet crawling the PDS)."""
    with (
        run_plc(tmp / "plc") as plc_url,
        run_addressed_pds(tmp / "pds", plc_url) as pds,
        run_relay(tmp / "relay", plc_url, **relay_settings) as relay,
    ):
        yield pds, relay
