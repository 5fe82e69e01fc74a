"""Helpers for the PDS identity, admin and proxy tests: PLC reads, firehose event kinds, and a
PDS whose identity resolver asks a local DNS server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from localnet import LocalDns, serve_service
from pds_net import LocalPds, local_network, run_plc
from strato.firehose import decode_frame
from strato.identity import IdentityCache, IdentityResolver
from strato.identity.plc import PlcClient
from strato.pds.app import create_app
from strato.pds.context import PdsContext
from strato.pds.service import pds_service
from strato.pds.settings import PdsSettings
from strato.service.context import IDENTITY_CACHE_TABLE


def plc_data(pds: LocalPds, did: str) -> dict[str, Any]:
    """The DID's current PLC data (rotationKeys, verificationMethods, alsoKnownAs, services)."""

    async def run() -> dict[str, Any]:
        async with PlcClient(pds.plc_url) as plc:
            return await plc.get_data(did)

    return asyncio.run(run())


def events_since(pds: LocalPds, seq: int) -> list[tuple[str, dict[str, Any]]]:
    """The firehose events after ``seq``: (kind, body)."""
    found = []
    for event in pds.ctx.sequencer.events_after(seq):
        frame = decode_frame(event.frame)
        found.append((str(frame.t), dict(frame.body)))
    return found


def error_of(response: Any) -> tuple[int, str]:
    """(status, error name) of an XRPC answer."""
    return response.status_code, response.json().get("error")


@contextlib.contextmanager
def pds_with_dns(tmp: Path, dns: LocalDns, **settings: Any) -> Iterator[LocalPds]:
    """A PLC directory and a PDS on a local network whose identity resolver asks ``dns``."""
    with run_plc(tmp / "plc") as plc_url:
        options: dict[str, Any] = {"rate_limits": False, "sync": False, **settings}
        config = PdsSettings(data_dir=tmp / "pds", plc_url=plc_url, local_network=True, **options)
        ctx = PdsContext.open(config)
        asyncio.run(ctx.identity.aclose())  # unused: replaced by one that asks ``dns``
        ctx.identity = IdentityResolver(
            plc_url=plc_url,
            cache=IdentityCache(ctx.store, table=IDENTITY_CACHE_TABLE),
            policy=config.network_policy,
            nameservers=[dns.address],
            timeout=3.0,
            local_handles=ctx.identity.local_handles,
        )
        service = pds_service(config, create_app(config, context=ctx))
        with serve_service(service) as (url, _):
            yield LocalPds(url, plc_url, config, ctx, service)


ADMIN_TOKEN = "admin-token-for-the-tests-0123456789"


@contextlib.contextmanager
def pds_with_admin(tmp: Path, **settings: Any) -> Iterator[LocalPds]:
    """A PLC directory and a PDS with the admin token :data:`ADMIN_TOKEN`."""
    token_file = tmp / "admin-token"
    token_file.write_text(ADMIN_TOKEN + "\n")
    with local_network(tmp, admin_token_file=token_file, **settings) as pds:
        yield pds


def admin(pds: LocalPds, nsid: str, password: str = ADMIN_TOKEN, **kwargs: Any) -> httpx.Response:
    """An admin call (HTTP Basic ``admin:<password>``)."""
    method = "POST" if "json" in kwargs else "GET"
    with httpx.Client(base_url=pds.url, auth=("admin", password), timeout=30.0) as client:
        return client.request(method, f"/xrpc/{nsid}", **kwargs)
