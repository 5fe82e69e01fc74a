"""The XRPC layer strato's services are built on.

- :mod:`strato.xrpc.router`: :class:`XrpcRouter`, methods by NSID served at ``/xrpc/<nsid>``
  with typed params, input and output, auth, rate limits and the XRPC error answers.
- :mod:`strato.xrpc.types`: the hand-written msgspec types of the methods served.
- :mod:`strato.xrpc.auth`: session tokens, service-auth tokens, admin auth;
  :mod:`strato.xrpc.jws`: the JWS encoding under them.
- :mod:`strato.xrpc.cors`, :mod:`strato.xrpc.ratelimit`: CORS and rate limits.
- :mod:`strato.xrpc.proxy`: the ``atproto-proxy`` header.
- :mod:`strato.xrpc.client`: :class:`XrpcClient` for calling other services.
"""

from __future__ import annotations

from strato.xrpc.client import XrpcClient
from strato.xrpc.cors import CorsMiddleware, cors_middleware
from strato.xrpc.errors import XrpcError
from strato.xrpc.method import MethodTypes, RawInput
from strato.xrpc.proxy import ProxyTarget, parse_proxy_header
from strato.xrpc.ratelimit import RateLimit
from strato.xrpc.router import (
    BodyStream,
    ErrorMap,
    ErrorTable,
    RateLimitSettings,
    RouteLimit,
    XrpcRequest,
    XrpcRouter,
    by_account,
    by_ip,
)

__all__ = [
    "BodyStream",
    "CorsMiddleware",
    "ErrorMap",
    "ErrorTable",
    "MethodTypes",
    "ProxyTarget",
    "RateLimit",
    "RateLimitSettings",
    "RawInput",
    "RouteLimit",
    "XrpcClient",
    "XrpcError",
    "XrpcRequest",
    "XrpcRouter",
    "by_account",
    "by_ip",
    "cors_middleware",
    "parse_proxy_header",
]
