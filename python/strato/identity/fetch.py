"""Outbound HTTP for identity resolution: timeouts, a response size cap and an SSRF guard.

Owns :class:`Fetcher`. Every response body is streamed and refused as soon as it passes the
caller's byte limit (a declared ``Content-Length`` over the limit is refused before reading).
The whole exchange has a deadline, so a server that trickles bytes cannot hold a resolver.

URLs built from untrusted names (handles, did:web hosts) go through the guard unless the fetcher
is configured for a local network:

- only ``https`` on port 443;
- the host is resolved first and every address must be a public unicast address (not private,
  loopback, link-local, multicast, reserved, shared or unspecified; IPv4-mapped IPv6 addresses
  are judged by their IPv4 address);
- the connection then goes to the checked address (the TLS name and ``Host`` header stay the
  hostname), so a second DNS answer cannot swap in another address;
- redirects are followed only up to the caller's count, each hop checked again.

On a local network the guard is off and plain ``http`` and any port are allowed; when the
resolver has its own nameservers, hosts are still resolved through them (and the connection
pinned), so a development network's DNS decides where ``alice.test`` lives.

The configured PLC directory URL is the operator's choice, so fetches from it are ``trusted``:
limits and timeouts apply, the guard does not, and redirects are not followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Final

import httpx

from strato.errors import IdentityError, IdentityUnavailableError, UnsafeAddressError
from strato.identity.dnsclient import DnsClient

DEFAULT_TIMEOUT: Final = 15.0
CONNECT_TIMEOUT: Final = 5.0
USER_AGENT: Final = "strato-identity/0.1"
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Response:
    """A fetched response: final URL, status and (capped) body."""

    url: str
    status: int
    body: bytes


def address_problem(address: IPAddress) -> str | None:
    """Why the guard refuses ``address``, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "loopback address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if address.is_unspecified:
        return "unspecified address"
    if address.is_reserved:
        return "reserved address"
    if address.is_private:
        return "private address"
    if not address.is_global:
        return "non-global address"
    return None


class Fetcher:
    """GET with limits; see the module docstring for what ``local_network`` relaxes."""

    def __init__(
        self,
        dns: DnsClient,
        *,
        local_network: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.dns = dns
        self.local_network = local_network
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
        extensions: dict[str, str] = {}
        if target.scheme not in ("http", "https"):
            raise UnsafeAddressError(f"scheme {target.scheme!r} not allowed", url)
        pinned = None if trusted else await self._pin(target, url, missing)
        if pinned is not None:
            headers["Host"] = target.netloc.decode("ascii")
            extensions["sni_hostname"] = target.host
            target = target.copy_with(host=pinned)
        request = self._client.build_request("GET", target, headers=headers, extensions=extensions)
        response = await self._client.send(request, stream=True)
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

    async def _pin(self, target: httpx.URL, url: str, missing: type[IdentityError]) -> str | None:
        """Check an untrusted URL; the address to connect to, or None to let the HTTP client
        resolve the host (on a local network using the system's DNS)."""
        if not self.local_network:
            if target.scheme != "https":
                raise UnsafeAddressError(f"scheme {target.scheme!r} not allowed (https only)", url)
            if target.port not in (None, 443):
                raise UnsafeAddressError(f"non-standard port {target.port}", url)
        elif not self.dns.custom:
            return None
        host = target.host
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            candidates = [literal]
        else:
            found = await self.dns.addresses(host)
            if not found:
                raise missing(f"host {host} does not resolve", url)
            candidates = [ipaddress.ip_address(address) for address in found]
        if not self.local_network:
            for address in candidates:
                problem = address_problem(address)
                if problem is not None:
                    via = "" if literal is not None else f" ({host} resolves to {address})"
                    raise UnsafeAddressError(f"{problem}{via}", url)
        return str(candidates[0])


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
