"""The ``com.atproto.sync.subscribeRepos`` WebSocket endpoint over a
:class:`~strato.firehose.broadcaster.Broadcaster`.

``GET /xrpc/com.atproto.sync.subscribeRepos?cursor=N`` upgraded to a WebSocket:

- no ``cursor``, or an empty one (``cursor=``, no value as for any XRPC parameter): live events
  only;
- ``cursor`` above the log's head: an error frame ``FutureCursor``, then close;
- ``cursor=0``: the whole retained window, then live;
- ``cursor`` older than the window: an ``#info`` frame ``OutdatedCursor``, the whole window, live;
- otherwise events with ``seq > cursor``, then live (a reconnect never sees an event twice);
- a ``cursor`` that is not an integer from 0 to 2^63-1 (the data model's signed 64-bit range):
  an error frame ``InvalidRequest``, then close (:func:`parse_cursor`, which the relay's
  fan-out workers share).

An error frame is followed by a close with code 1008 (policy) and the error name as the reason,
as the reference server does. A subscriber whose queue overflows gets ``ConsumerTooSlow``; when
its connection is so stuck that not even that frame can be written within ``cut_grace``
seconds, the connection is dropped. Anything a client sends is read and ignored. Connections
over ``max_per_ip`` from one address (behind ``trusted_proxies`` reverse proxies, the address
they put in ``X-Forwarded-For``) are refused before the upgrade with HTTP 429. A plain HTTP
request to the path (no upgrade) gets 426.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from strato.datamodel import to_int64
from strato.errors import DataModelError, EventStreamError
from strato.firehose.broadcaster import Broadcaster, ConsumerTooSlowError, Peer, Subscription
from strato.firehose.frames import encode_error
from strato.xrpc.ratelimit import client_ip

SUBSCRIBE_REPOS_PATH: Final = "/xrpc/com.atproto.sync.subscribeRepos"
#: Close codes: 1008 after an error frame (policy), 1001 when the server stops (going away).
CLOSE_POLICY: Final = 1008
CLOSE_GOING_AWAY: Final = 1001
DEFAULT_MAX_PER_IP: Final = 16
DEFAULT_CUT_GRACE: Final = 10.0


class SubscribeReposEndpoint:
    """The WebSocket handler of one stream; mount :meth:`routes` in the service's app."""

    def __init__(
        self,
        broadcaster: Broadcaster,
        *,
        path: str = SUBSCRIBE_REPOS_PATH,
        max_per_ip: int = DEFAULT_MAX_PER_IP,
        cut_grace: float = DEFAULT_CUT_GRACE,
        trusted_proxies: int = 0,
    ) -> None:
        self.broadcaster = broadcaster
        self.path = path
        self.max_per_ip = max_per_ip
        self.trusted_proxies = trusted_proxies
        self.cut_grace = cut_grace
        self._per_ip: Counter[str] = Counter()

    def routes(self) -> list[BaseRoute]:
        """The WebSocket route, and the HTTP route that answers 426 without an upgrade."""
        return [WebSocketRoute(self.path, self.websocket), Route(self.path, _upgrade_required)]

    async def websocket(self, websocket: WebSocket) -> None:
        ip = client_ip(websocket, self.trusted_proxies)
        if self._per_ip[ip] >= self.max_per_ip:
            self.broadcaster.metrics.consumer_cut("ConnectionLimit")
            await websocket.send_denial_response(
                JSONResponse(
                    {"error": "RateLimitExceeded", "message": "too many connections"},
                    status_code=429,
                    headers={"Retry-After": "10"},
                )
            )
            return
        self._per_ip[ip] += 1
        try:
            await websocket.accept()
            await self._stream(websocket)
        finally:
            self._per_ip[ip] -= 1
            if not self._per_ip[ip]:
                del self._per_ip[ip]

    async def _stream(self, websocket: WebSocket) -> None:
        try:
            cursor = parse_cursor(websocket.query_params.get("cursor"))
        except EventStreamError as refused:
            await self._refuse(websocket, refused.error, refused.message)
            return
        if cursor is not None and cursor > self.broadcaster.sequencer.head():
            await self._refuse(websocket, "FutureCursor", "Cursor in the future.")
            return
        client = websocket.client
        peer = Peer(
            remote=f"{client.host}:{client.port}" if client else "",
            user_agent=websocket.headers.get("user-agent", ""),
        )
        subscription = self.broadcaster.subscribe(cursor, peer)
        try:
            await self._serve(websocket, subscription)
        finally:
            subscription.close()

    async def _serve(self, websocket: WebSocket, subscription: Subscription) -> None:
        receiver = asyncio.create_task(_ignore_input(websocket))
        sender = asyncio.create_task(self._send(websocket, subscription))
        ended = asyncio.create_task(subscription.ended.wait())
        try:
            done, _ = await asyncio.wait(
                {receiver, sender, ended}, return_when=asyncio.FIRST_COMPLETED
            )
            if done == {ended}:
                # Cut or stopping: the sender ends the stream itself once its current send goes
                # through; a connection that accepts nothing more is dropped after the grace.
                await asyncio.wait({receiver, sender}, timeout=self.cut_grace)
        finally:
            for task in (receiver, sender, ended):
                task.cancel()
            for task in (receiver, sender, ended):
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError):
                    await task

    async def _send(self, websocket: WebSocket, subscription: Subscription) -> None:
        sent = self.broadcaster.metrics.frames_sent
        try:
            async with contextlib.aclosing(subscription.frames()) as frames:
                async for frame in frames:
                    await websocket.send_bytes(frame)
                    sent.inc()
                    subscription.sent += 1
        except ConsumerTooSlowError:
            await websocket.send_bytes(encode_error("ConsumerTooSlow", "Stream consumer too slow"))
            await websocket.close(CLOSE_POLICY, "ConsumerTooSlow")
            return
        await websocket.close(CLOSE_GOING_AWAY)

    async def _refuse(self, websocket: WebSocket, error: str, message: str) -> None:
        self.broadcaster.metrics.consumer_cut(error)
        await websocket.send_bytes(encode_error(error, message))
        await websocket.close(CLOSE_POLICY, error)


def parse_cursor(raw: str | None) -> int | None:
    """The ``cursor`` parameter's seq, None for live only (absent or empty); an
    :class:`EventStreamError` ``InvalidRequest`` (the error frame to send) when it is not an
    integer from 0 to 2^63-1."""
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise EventStreamError("InvalidRequest", "cursor must be an integer >= 0")
    try:
        return to_int64(raw)
    except DataModelError as err:
        raise EventStreamError("InvalidRequest", f"cursor: {err.reason}") from None


async def _ignore_input(websocket: WebSocket) -> None:
    """Read (and drop) what the client sends, until it disconnects."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _upgrade_required(request: Request) -> Response:
    return JSONResponse(
        {"error": "InvalidRequest", "message": "subscribeRepos is a WebSocket endpoint"},
        status_code=426,
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )
