"""Service proxying: the PDS forwards XRPC calls it does not serve itself to another service,
on behalf of the signed-in account (spec: XRPC, "Service Proxying").

:func:`proxy_handler` is the router's fallback for an NSID no route serves. As the reference
PDS (``pipethrough.ts``):

- only GET, HEAD and POST are forwarded; an access token is required; the account-management
  methods of :data:`PROTECTED_METHODS` are never forwarded (400 ``InvalidToken``, "Bad token
  method"), nor, without a privileged session, those of :data:`PRIVILEGED_METHODS`;
- the target is the ``atproto-proxy: <did>#<service id>`` header's service (the DID document is
  resolved and the service entry with that id gives the endpoint), else, for ``app.bsky.*``,
  the configured appview; with no target the answer is 501 ``MethodNotImplemented`` (the
  reference says 400 "No service configured"; clients read 501 as "not served here");
- the request goes to ``<endpoint>/xrpc/<nsid>?<query>`` with its body (streamed) and a few
  headers, and a fresh service token signed with the account's repo key (``iss`` the account,
  ``aud`` ``<did>#<service id>``, ``lxm`` the NSID) in place of the user's;
- the answer is streamed back with its status, content headers and
  :data:`FORWARDED_RESPONSE_HEADERS`; an upstream error answer becomes the same XRPC error (a
  500 becomes 502 ``UpstreamFailure``; its name and message read from at most
  :data:`MAX_ERROR_BYTES` of it); an unreachable upstream is 502 ``UpstreamFailure``.

Methods the PDS serves are served here, header or not. The endpoint must pass the PDS's
network policy (:mod:`strato.netpolicy`): outside a local network an https URL on port 443
whose host has only public addresses (or addresses in an ``--allow-network`` range); on one,
loopback and plain http on any port too. A refused endpoint is 400 ``InvalidRequest`` saying
why, before anything is sent; the request then goes to one of the checked addresses, so a
name that changes its answer in between cannot send it elsewhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit

import httpx
import msgspec
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from strato.datamodel import check_json
from strato.errors import (
    DataModelError,
    IdentifierError,
    IdentityError,
    IdentityUnavailableError,
    NetworkPolicyError,
)
from strato.netpolicy import Destination, send
from strato.pds.context import PdsContext
from strato.pds.method_lists import PRIVILEGED_METHODS, PROTECTED_METHODS
from strato.xrpc.auth import AccessCredentials, AuthScope, create_service_jwt
from strato.xrpc.errors import XrpcError, invalid_request, method_not_implemented
from strato.xrpc.proxy import HEADER, ProxyTarget, parse_proxy_header

#: Namespaces of this PDS's own business: a method of theirs it does not serve is not served
#: anywhere on its behalf.
LOCAL_NAMESPACES: Final = ("com.atproto.server.", "com.atproto.identity.", "com.atproto.admin.")
#: The service id of the configured appview (the one Bluesky's appview document names).
APPVIEW_SERVICE_ID: Final = "bsky_appview"
FORWARDED_REQUEST_HEADERS: Final = ("accept-language", "atproto-accept-labelers", "x-bsky-topics")
BODY_HEADERS: Final = ("content-type", "content-encoding", "content-length")
CONTENT_HEADERS: Final = ("content-type", "content-encoding", "content-length", "content-language")
FORWARDED_RESPONSE_HEADERS: Final = ("atproto-repo-rev", "atproto-content-labelers", "retry-after")
#: The most of an upstream's error answer read for its name and message: an XRPC error is a
#: small JSON object, and a longer answer is not held in memory.
MAX_ERROR_BYTES: Final = 64 * 1024

Fallback = Callable[[Request, str], Awaitable[Response]]


def proxy_handler(ctx: PdsContext) -> Fallback:
    """The router fallback that forwards ``nsid`` calls for the signed-in account."""
    access = ctx.auth.access()

    async def forward(request: Request, nsid: str) -> Response:
        if request.method not in ("GET", "HEAD", "POST"):
            raise invalid_request("XRPC requests only supports GET and POST")
        if nsid in PROTECTED_METHODS:
            raise invalid_request("Bad token method", "InvalidToken")
        if nsid.startswith(LOCAL_NAMESPACES):
            raise method_not_implemented()
        credentials = await access(request, nsid)
        assert isinstance(credentials, AccessCredentials)
        privileged = credentials.scope in (AuthScope.ACCESS, AuthScope.APP_PASS_PRIVILEGED)
        if nsid in PRIVILEGED_METHODS and not privileged:
            raise invalid_request("Bad token method", "InvalidToken")
        endpoint, audience = await _target(ctx, request, nsid)
        destination, path = await _destination(ctx, endpoint)
        token = create_service_jwt(
            ctx.keys.signing_key(credentials.did), credentials.did, audience, nsid
        )
        return await _send(ctx.http, request, destination, f"{path}/xrpc/{nsid}", token)

    return forward


async def _target(ctx: PdsContext, request: Request, nsid: str) -> tuple[str, str]:
    """``(endpoint URL, service token audience)`` of the call."""
    header = request.headers.get(HEADER)
    settings = ctx.settings
    if header is not None:
        target = parse_proxy_header(header)
        endpoint = await _service_endpoint(ctx, target)
        audience = target.audience
    elif nsid.startswith("app.bsky.") and settings.appview_url and settings.appview_did:
        endpoint = settings.appview_url
        audience = f"{settings.appview_did}#{APPVIEW_SERVICE_ID}"
    else:
        raise method_not_implemented()
    return endpoint.rstrip("/"), audience


async def _service_endpoint(ctx: PdsContext, target: ProxyTarget) -> str:
    try:
        doc = await ctx.identity.resolve_did(target.did)
    except (IdentityError, IdentifierError):
        raise invalid_request("could not resolve proxy did") from None
    wanted = (f"#{target.service_id}", f"{target.did}#{target.service_id}")
    for service in doc.service:
        if service.id in wanted and isinstance(service.serviceEndpoint, str):
            return service.serviceEndpoint
    raise invalid_request("could not resolve proxy did service url")


async def _destination(ctx: PdsContext, endpoint: str) -> tuple[Destination, str]:
    """Where calls to ``endpoint`` go under the PDS's network policy, and the endpoint's path
    (the XRPC paths go under it); 400 ``InvalidRequest`` when it is refused."""

    def refused(problem: str) -> XrpcError:
        return invalid_request(f"proxy service endpoint {endpoint!r} refused: {problem}")

    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname, parts.port
    except ValueError as err:
        raise refused(str(err)) from None
    if parts.scheme not in ("https", "http") or not host or parts.query or parts.fragment:
        raise refused("not an http(s) URL")
    policy = ctx.settings.network_policy
    try:
        destination = await policy.destination(parts.scheme, host, port, ctx.identity.network.dns)
    except NetworkPolicyError as err:
        raise refused(err.reason) from None
    except IdentityUnavailableError as err:
        raise XrpcError(502, "UpstreamFailure", f"cannot resolve {host}: {err.reason}") from None
    if destination is None:
        raise refused(f"host {host} does not resolve")
    return destination, parts.path


async def _send(
    http: httpx.AsyncClient, request: Request, destination: Destination, path: str, token: str
) -> Response:
    headers = {"authorization": f"Bearer {token}"}
    headers["accept-encoding"] = request.headers.get("accept-encoding", "identity")
    for name in FORWARDED_REQUEST_HEADERS:
        value = request.headers.get(name)
        if value is not None:
            headers[name] = value
    body = None
    if request.method == "POST":
        for name in BODY_HEADERS:
            value = request.headers.get(name)
            if value is not None:
                headers[name] = value
        body = request.stream()
    try:
        upstream = await send(
            http, destination, request.method, path, params=request.url.query or None,
            headers=headers, content=body,
        )  # fmt: skip
    except httpx.HTTPError:
        raise XrpcError(502, "UpstreamFailure", "Upstream service unreachable") from None
    if upstream.status_code >= 400:
        raise await _upstream_error(upstream)
    forwarded = {
        name: upstream.headers[name]
        for name in (*CONTENT_HEADERS, *FORWARDED_RESPONSE_HEADERS)
        if name in upstream.headers
    }
    return StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        headers=forwarded,
        background=BackgroundTask(upstream.aclose),
    )


class _ErrorBody(msgspec.Struct):
    error: str | None = None
    message: str | None = None


async def _upstream_error(upstream: httpx.Response) -> XrpcError:
    """The XRPC error of an upstream error answer (its name and message when it has them)."""
    data = bytearray()
    try:
        async for chunk in upstream.aiter_bytes():
            data += chunk
            if len(data) > MAX_ERROR_BYTES:
                data.clear()  # no XRPC error: the status alone says what happened
                break
    except httpx.HTTPError:
        data.clear()
    finally:
        await upstream.aclose()
    try:
        check_json(bytes(data))  # an answer nested deep would exhaust the decoder's stack
        body = msgspec.json.decode(data, type=_ErrorBody)
    except (DataModelError, msgspec.DecodeError):
        body = _ErrorBody()
    headers = {
        name: upstream.headers[name]
        for name in FORWARDED_RESPONSE_HEADERS
        if name in upstream.headers
    }
    status = 502 if upstream.status_code == 500 else upstream.status_code
    if status >= 600:
        status = 502
    error = body.error or ("UpstreamFailure" if status == 502 else None)
    return XrpcError(status, error, body.message, headers)
