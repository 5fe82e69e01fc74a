"""A local network for PDS tests: a PLC directory and a PDS (served as ``strato pds`` serves
it, its firehose included), each on 127.0.0.1 in a thread, with data in a temporary directory;
plus small HTTP helpers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from localnet import fanout_of, serve_app, serve_service
from strato.pds.app import create_app
from strato.pds.context import PdsContext
from strato.pds.service import pds_service
from strato.pds.settings import PdsSettings
from strato.plc.app import create_app as create_plc_app
from strato.plc.settings import PlcSettings
from strato.service.serving import Service

PASSWORD = "correct horse battery"


@dataclass
class LocalPds:
    """A running PDS: its URL, its settings, its open context (stores, writer, ...) and the
    service serving it."""

    url: str
    plc_url: str
    settings: PdsSettings
    ctx: PdsContext
    service: Service

    @property
    def subscriber_count(self) -> int:
        """Subscribers of its firehose (a relay crawling it, say)."""
        return fanout_of(self.service).connection_count

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def xrpc(self, nsid: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """GET (``params=``) or POST (``json=``/``content=``) ``/xrpc/<nsid>``."""
        method = "POST" if "json" in kwargs or "content" in kwargs else "GET"
        with self.client(token) as client:
            return client.request(method, f"/xrpc/{nsid}", **kwargs)

    def create_account(
        self, handle: str, password: str = PASSWORD, email: str | None = None
    ) -> dict[str, Any]:
        """Create an account; its session (``did``, ``handle``, ``accessJwt``, ...)."""
        body: dict[str, Any] = {"handle": handle, "password": password}
        if email is not None:
            body["email"] = email
        response = self.xrpc("com.atproto.server.createAccount", json=body)
        assert response.status_code == 200, response.text
        session: dict[str, Any] = response.json()
        return session


@contextlib.contextmanager
def run_plc(data_dir: Path) -> Iterator[str]:
    """A PLC directory; yields its URL."""
    with serve_app(create_plc_app(PlcSettings(data_dir, sync=False))) as url:
        yield url


@contextlib.contextmanager
def run_pds(data_dir: Path, plc_url: str, **settings: Any) -> Iterator[LocalPds]:
    """A PDS using the directory at ``plc_url``; ``settings`` override :class:`PdsSettings`
    fields (rate limits are off and transactions unflushed unless given)."""
    options: dict[str, Any] = {"rate_limits": False, "sync": False, **settings}
    config = PdsSettings(data_dir=data_dir, plc_url=plc_url, **options)
    app = create_app(config)
    service = pds_service(config, app)
    with serve_service(service) as (url, _):
        yield LocalPds(url, plc_url, config, app.state.ctx, service)


@contextlib.contextmanager
def local_network(tmp: Path, **settings: Any) -> Iterator[LocalPds]:
    """A PLC directory and a PDS using it."""
    with run_plc(tmp / "plc") as plc_url, run_pds(tmp / "pds", plc_url, **settings) as pds:
        yield pds
