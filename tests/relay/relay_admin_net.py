"""A relay with an admin password beside a PLC directory and a PDS, for the admin tests: the
admin calls (XRPC with Bearer, the reference's ``/admin/...`` paths with Basic), and waits."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pds_net import LocalPds, run_plc
from relay_net import LocalRelay, run_addressed_pds, run_relay
from strato.firehose import Frame, StreamClient
from strato.relay.admin import RelayAdmin

#: With "+", "/" and "=", as ``openssl rand -base64`` writes: the page reads it percent-encoded.
TOKEN = "relay-admin+pass/word=0123456789"
NS = "dev.strato.relay.admin."
POST = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-11-24T00:00:00Z"}


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(password: str = TOKEN, user: str = "admin") -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


@dataclass
class AdminNet:
    pds: LocalPds
    relay: LocalRelay

    def call(
        self, method: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """``dev.strato.relay.admin.<method>`` with the admin password as a Bearer token."""
        return self.relay.xrpc(
            NS + method, headers=bearer() if headers is None else headers, **kwargs
        )

    def path(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A reference admin path, with the admin password as HTTP Basic (as goat sends it)."""
        with httpx.Client(base_url=self.relay.url, timeout=60.0) as client:
            return client.request(
                method, path, headers=basic() if headers is None else headers, **kwargs
            )

    @property
    def admin(self) -> RelayAdmin:
        assert self.relay.app is not None
        admin: RelayAdmin = self.relay.app.state.admin
        return admin

    @property
    def pds_host(self) -> str:
        return self.pds.settings.hostname

    def write_posts(self, handle: str, count: int) -> tuple[str, str]:
        """A new account with ``count`` posts; its DID and access token."""
        session = self.pds.create_account(handle)
        self.post(session, count)
        return str(session["did"]), str(session["accessJwt"])

    def post(self, session: dict[str, Any] | tuple[str, str], count: int = 1) -> None:
        did, token = (
            (session["did"], session["accessJwt"]) if isinstance(session, dict) else session
        )
        for _ in range(count):
            made = self.pds.xrpc(
                "com.atproto.repo.createRecord", token=token,
                json={"repo": did, "collection": "app.bsky.feed.post", "record": POST},
            )  # fmt: skip
            assert made.status_code == 200, made.text

    def pds_head(self) -> int:
        return self.pds.ctx.sequencer.head()

    def drops(self, reason: str) -> float:
        value = self.relay.ctx.metrics.registry.get_sample_value(
            "strato_relay_events_dropped_total", {"reason": reason}
        )
        return value or 0.0


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@contextlib.contextmanager
def admin_net(tmp_path: Path, **relay_settings: Any) -> Iterator[AdminNet]:
    token_file = tmp_path / "admin-token"
    token_file.write_text(TOKEN + "\n")
    with (
        run_plc(tmp_path / "plc") as plc_url,
        run_addressed_pds(tmp_path / "pds", plc_url) as pds,
        run_relay(
            tmp_path / "relay", plc_url, admin_token_file=token_file, **relay_settings
        ) as relay,
    ):
        yield AdminNet(pds, relay)


def replay(relay: LocalRelay, cursor: int = 0) -> list[Frame]:
    """Every frame the relay serves after ``cursor``, up to its log's head now."""
    head = relay.ctx.sequencer.head()

    async def collect() -> list[Frame]:
        frames: list[Frame] = []
        if head <= cursor:
            return frames
        client = StreamClient(relay.stream_url, cursor=cursor, reconnect=False)
        async with contextlib.aclosing(client.frames()) as stream:
            async for frame in stream:
                frames.append(frame)
                if frame.seq is not None and frame.seq >= head:
                    break
        return frames

    return asyncio.run(asyncio.wait_for(collect(), 30))


def did_of(frame: Frame) -> str | None:
    value = frame.body.get("repo" if frame.t == "#commit" else "did")
    return value if isinstance(value, str) else None


def crawled(net: AdminNet) -> None:
    """Wait until the relay has handled every event the PDS has sequenced."""

    def done() -> bool:
        host = net.relay.ctx.hosts.get(None, net.pds_host)
        return host is not None and host.last_seq >= net.pds_head()

    wait_for(done)


def add_and_connect(net: AdminNet) -> dict[str, Any]:
    """Add the PDS as an admin and wait for the relay's subscription to open."""
    added = net.call("addHost", json={"hostname": net.pds_host})
    assert added.status_code == 200, added.text
    wait_for(lambda: net.pds_host in net.admin.crawler.connected_hosts())
    return dict(added.json())
