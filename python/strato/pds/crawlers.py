"""Telling relays about this PDS: :class:`Crawlers`.

After the PDS's event log moves (a commit, an identity or account change), each configured
relay (``settings.relays``) gets ``com.atproto.sync.requestCrawl`` with this PDS's hostname,
so it subscribes to the firehose. As the reference's crawlers do, the notice goes out at most
once per :data:`NOTIFY_INTERVAL` (a relay that crawls keeps its subscription); it runs as a
background task of the app, and a relay that fails or refuses is logged and never affects a
write. Each notice goes to the relay's checked addresses under the PDS's network policy (a
relay on loopback needs ``--local-network``, one on a private network ``--allow-network``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

import httpx
import msgspec

from strato.errors import IdentityUnavailableError, NetworkPolicyError
from strato.firehose import EventLog
from strato.identity.dnsclient import DnsClient
from strato.netpolicy import AddressLookup, NetworkPolicy, send

logger = logging.getLogger("strato.pds.crawlers")

#: The least time between two notices to the relays (seconds), the reference's 20 minutes.
NOTIFY_INTERVAL: Final = 20 * 60.0
#: How often the event log is looked at for new events (seconds).
POLL_INTERVAL: Final = 1.0
REQUEST_CRAWL: Final = "/xrpc/com.atproto.sync.requestCrawl"


class Crawlers:
    """Notifies ``relays`` (base URLs; a bare host means https) that ``hostname`` has news,
    whenever ``sequencer``'s log has grown, at most once per ``interval`` seconds; ``policy``
    says which relay addresses may be reached, ``dns`` resolves them."""

    def __init__(
        self,
        relays: Sequence[str],
        hostname: str,
        http: httpx.AsyncClient,
        sequencer: EventLog,
        *,
        interval: float = NOTIFY_INTERVAL,
        poll: float = POLL_INTERVAL,
        policy: NetworkPolicy | None = None,
        dns: AddressLookup | None = None,
    ) -> None:
        self.relays = [_base_url(relay) for relay in relays]
        self.hostname = hostname
        self.http = http
        self.sequencer = sequencer
        self.interval = interval
        self.poll = poll
        self.policy = policy or NetworkPolicy()
        self.dns = dns or DnsClient()
        #: The event-log head when the relays were last told (0: never).
        self.notified_seq = 0

    async def run(self) -> None:
        """Watch the log and notify, until cancelled."""
        while True:
            await asyncio.sleep(await self.step())

    async def step(self) -> float:
        """Notify the relays if the log grew since they were last told; how long to wait
        before the next step (the full interval after a notice)."""
        head = self.sequencer.head()
        if head <= self.notified_seq:
            return self.poll
        self.notified_seq = head
        await self.notify()
        return self.interval

    async def notify(self) -> None:
        """Send ``requestCrawl`` to every relay now (failures are logged)."""
        await asyncio.gather(*(self._request_crawl(relay) for relay in self.relays))

    async def _request_crawl(self, relay: str) -> None:
        parts = urlsplit(relay)
        try:
            relay_at = await self.policy.destination(
                parts.scheme, parts.hostname or "", parts.port, self.dns
            )
        except (NetworkPolicyError, IdentityUnavailableError, ValueError) as err:
            logger.warning("requestCrawl to %s refused: %s", relay, err)
            return
        if relay_at is None:
            logger.warning("requestCrawl to %s refused: %s does not resolve", relay, parts.hostname)
            return
        body = msgspec.json.encode({"hostname": self.hostname})
        headers = {"Content-Type": "application/json"}
        try:
            response = await send(
                self.http, relay_at, "POST", parts.path + REQUEST_CRAWL, headers=headers,
                content=body,
            )  # fmt: skip
            try:
                answer = await response.aread()
            finally:
                await response.aclose()
        except httpx.HTTPError as err:
            logger.warning("requestCrawl to %s failed: %s", relay, err)
            return
        if response.status_code != 200:
            logger.warning(
                "requestCrawl to %s answered %d: %s", relay, response.status_code,
                answer[:200].decode("utf-8", "replace"),
            )  # fmt: skip


def _base_url(relay: str) -> str:
    url = relay.strip().rstrip("/")
    return url if "://" in url else f"https://{url}"
