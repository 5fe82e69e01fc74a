"""Outbound HTTP for identity resolution: timeouts, a response size cap and the network policy.

Owns :class:`Fetcher`. Every response body is streamed and refused as soon as it passes the
caller's byte limit (a declared ``Content-Length`` over the limit is refused before reading).
The whole exchange has a deadline, so a server that trickles bytes cannot hold a resolver.

URLs built from untrusted names (handles, did:web hosts, a DID document's PDS) go through the
resolver's :class:`~strato.netpolicy.NetworkPolicy`: https on port 443 to public addresses,
plus loopback, plain http and any port on a local network, plus the networks it allows. The
host is resolved first (through the resolver's own nameservers when it has them, so a
development network's DNS decides where ``alice.test`` lives), every address must pass, and
the connection goes to a checked address (the TLS name and ``Host`` header stay the hostname),
so a second DNS answer cannot swap in another address. Redirects are followed only up to the
caller's count, each hop checked again.

The configured PLC directory URL is the operator's choice, so fetches from it are ``trusted``:
limits and timeouts apply, the policy does not, and redirects are not followed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

import httpx

from strato.errors import (
    IdentityError,
    IdentityUnavailableError,
    NetworkPolicyError,
    UnsafeAddressError,
)
from strato.identity.dnsclient import DnsClient
from strato.netpolicy import Destination, NetworkPolicy, send

DEFAULT_TIMEOUT: Final = 15.0
CONNECT_TIMEOUT: Final = 5.0
USER_AGENT: Final = "strato-identity/0.1"
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Response:
    """A fetched response: final URL, status and (capped) body."""

    url: str
    status: int
    body: bytes


class Fetcher:
    """GET with limits, under ``policy`` (see the module docstring)."""

    def __init__(
        self,
        dns: DnsClient,
        *,
        policy: NetworkPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.dns = dns
        self.policy = policy or NetworkPolicy()
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(
        self,
        url: str,
        *,
        max_bytes: int,
        failure: type[IdentityError],
        missing: type[IdentityError] | None = None,
        trusted: bool = False,
        redirects: int = 0,
        accept: str = "application/json",
    ) -> Response:
        """GET ``url``; follow up to ``redirects`` redirects (each guarded). Raises
        :class:`UnsafeAddressError` for a refused URL, :class:`IdentityUnavailableError` for a
        timeout or connection failure, ``missing`` (default ``failure``) for a host that does
        not resolve, and ``failure`` for a body over ``max_bytes`` or a redirect past the
        limit."""
        try:
            async with asyncio.timeout(self.timeout):
                for _ in range(redirects + 1):
                    response = await self._get_once(
                        url,
                        max_bytes=max_bytes,
                        failure=failure,
                        missing=missing or failure,
                        trusted=trusted,
                        accept=accept,
                    )
                    if response.status not in REDIRECT_STATUSES:
                        return response
                    url = response.url
                raise failure(f"more than {redirects} redirects", url)
        except TimeoutError as err:
            raise IdentityUnavailableError("timed out", url) from err
        except httpx.HTTPError as err:
            raise IdentityUnavailableError(f"HTTP request failed: {err}", url) from err

    async def _get_once(
        self,
        url: str,
        *,
        max_bytes: int,
        failure: type[IdentityError],
        missing: type[IdentityError],
        trusted: bool,
        accept: str,
    ) -> Response:
        """One request; for a redirect, ``Response.url`` is the next URL and the body empty."""
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as err:
            raise failure(f"invalid URL: {err}", url) from err
        headers = {"Accept": accept}
        if target.scheme not in ("http", "https"):
            raise UnsafeAddressError(f"scheme {target.scheme!r} not allowed", url)
        if trusted:
            request = self._client.build_request("GET", target, headers=headers)
            response = await self._client.send(request, stream=True)
        else:
            destination = await self._destination(target, url, missing)
            path = target.raw_path.decode("ascii")
            response = await send(self._client, destination, "GET", path, headers=headers)
        try:
            if response.status_code in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if location is None:
                    raise failure(f"redirect ({response.status_code}) without Location", url)
                try:
                    next_url = str(httpx.URL(url).join(location))
                except httpx.InvalidURL as err:
                    raise failure(f"bad redirect Location: {err}", url) from err
                return Response(next_url, response.status_code, b"")
            body = await _read_capped(response, max_bytes, failure, url)
        finally:
            await response.aclose()
        return Response(url, response.status_code, body)

    async def _destination(
        self, target: httpx.URL, url: str, missing: type[IdentityError]
    ) -> Destination:
        """Where an untrusted URL may be fetched from, under the policy."""
        try:
            found = await self.policy.destination(target.scheme, target.host, target.port, self.dns)
        except NetworkPolicyError as err:
            raise UnsafeAddressError(err.reason, url) from None
        if found is None:
            raise missing(f"host {target.host} does not resolve", url)
        return found


async def _read_capped(
    response: httpx.Response, max_bytes: int, failure: type[IdentityError], url: str
) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise failure(f"response too large ({declared} bytes, limit {max_bytes})", url)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise failure(f"response too large (over {max_bytes} bytes)", url)
    return bytes(body)
