"""CORS for XRPC, as the reference PDS answers (the ``cors`` package with ``maxAge`` one day).

Every response allows any origin (``Access-Control-Allow-Origin: *``; XRPC auth travels in the
Authorization header, never in cookies, so no credentials mode). An ``OPTIONS`` request is a
preflight: 204 with the allowed methods, the requested headers reflected, ``Max-Age`` of a day.
Responses expose the headers browser clients read: the rate-limit headers, ``Retry-After``,
``WWW-Authenticate``, ``DPoP-Nonce`` and the atproto response headers.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_METHODS: Final = "GET,HEAD,PUT,PATCH,POST,DELETE"
MAX_AGE: Final = "86400"
EXPOSE_HEADERS: Final = ", ".join(
    (
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "RateLimit-Policy",
        "Retry-After",
        "WWW-Authenticate",
        "DPoP-Nonce",
        "atproto-repo-rev",
        "atproto-content-labelers",
    )
)


class CorsMiddleware:
    """Pure ASGI, so streamed responses pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await self._preflight(scope, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Access-Control-Allow-Origin"] = "*"
                exposed = headers.get("Access-Control-Expose-Headers")
                headers["Access-Control-Expose-Headers"] = (
                    f"{exposed}, {EXPOSE_HEADERS}" if exposed else EXPOSE_HEADERS
                )
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(scope: Scope, send: Send) -> None:
        requested = Headers(scope=scope).get("access-control-request-headers")
        headers = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", ALLOW_METHODS.encode()),
            (b"access-control-max-age", MAX_AGE.encode()),
            (b"vary", b"Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        if requested:
            headers.append((b"access-control-allow-headers", requested.encode("latin-1")))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def cors_middleware() -> Middleware:
    """The CORS middleware for ``Starlette(middleware=[...])``."""
    return Middleware(CorsMiddleware)
