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
  500 becomes 502 ``UpstreamFailure``); an unreachable upstream is 502 ``UpstreamFailure``.

Methods the PDS serves are served here, header or not. Outside a local network only https
endpoints whose host names only public addresses are forwarded to (checked when the request
is forwarded; the connection resolves the name again, so a name that changes its answer in
between is not caught).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit

import httpx
import msgspec
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from strato.errors import IdentifierError, IdentityError
from strato.identity.fetch import address_problem
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
        token = create_service_jwt(
            ctx.keys.signing_key(credentials.did), credentials.did, audience, nsid
        )
        return await _send(ctx.http, request, f"{endpoint}/xrpc/{nsid}", token)

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
    endpoint = endpoint.rstrip("/")
    problem = await _endpoint_problem(endpoint, local_network=settings.local_network)
    if problem is not None:
        raise invalid_request(f"proxy service endpoint {endpoint!r} refused: {problem}")
    return endpoint, audience


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


async def _endpoint_problem(endpoint: str, *, local_network: bool) -> str | None:
    """Why the PDS will not send requests to ``endpoint``, None when it will: outside a local
    network, an https URL whose host is (or resolves only to) public addresses."""
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        port = parts.port or 443
    except ValueError as err:
        return str(err)
    if parts.scheme not in ("https", "http") or not host:
        return "not an http(s) URL"
    if local_network:
        return None
    if parts.scheme != "https":
        return "only https services are reached"
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port)
        except OSError as err:
            return f"cannot resolve {host}: {err}"
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            return problem
    return None


async def _send(http: httpx.AsyncClient, request: Request, url: str, token: str) -> Response:
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
    outgoing = http.build_request(
        request.method, url, params=request.url.query or None, headers=headers, content=body
    )
    try:
        upstream = await http.send(outgoing, stream=True)
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
    try:
        data = await upstream.aread()
    except httpx.HTTPError:
        data = b""
    finally:
        await upstream.aclose()
    try:
        body = msgspec.json.decode(data, type=_ErrorBody)
    except (
        msgspec.DecodeError,
        msgspec.ValidationError,
        UnicodeDecodeError,
    ):  # msgspec's error for invalid UTF-8
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
