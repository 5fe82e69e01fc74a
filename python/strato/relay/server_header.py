"""The relay names itself a relay on every answer: :class:`ServerHeader`, a pure ASGI
middleware adding ``Server: strato-relay/<version> (atproto-relay)`` to HTTP responses and to
the websocket handshake answer, so another relay (indigo's, or ours: see
:mod:`strato.relay.crawler`) refuses to subscribe to it and no relay loop forms.

Reference relays read only the first ``Server`` header, so the server must not add its own
(uvicorn's ``server_header=False``); this middleware replaces any ``Server`` header an app sets.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strato.relay.crawler import USER_AGENT

SERVER: Final = USER_AGENT.encode()


class ServerHeader:
    """Wraps ``app``; ``value`` is the ``Server`` header (the relay's by default)."""

    def __init__(self, app: ASGIApp, value: bytes = SERVER) -> None:
        self.app = app
        self.value = value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_named(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"server"
                ]
                headers.append((b"server", self.value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_named)


__all__ = ["SERVER", "ServerHeader"]
