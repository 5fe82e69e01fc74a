"""The outbound network policy: which addresses a service may contact, and over what.

Owns :class:`NetworkPolicy`, one immutable object per service built from its settings
(``--local-network``, ``--allow-network CIDR``), and the pinned requests made under it
(:class:`Destination`, :func:`send`). Every outbound path that goes where others say consults
it: the relay's crawler, its ``requestCrawl`` check and its repairs (``getRepoStatus``,
``getRepo``); identity resolution (did:web documents, handle well-known files); lexicon
resolution (the schema record from the authority's PDS); the PDS's service proxy
(``atproto-proxy`` targets and the appview) and its ``requestCrawl`` notices to relays. The
PLC directory URL is the one exception: the operator names it, and strato's own default for a
PDS is on loopback.

The rules:

- a public unicast address is always allowed, over https (wss) on port 443;
- on a local network (``--local-network``, what ``strato up`` runs) loopback (127.0.0.0/8,
  ::1) is allowed too, and so are plain http (ws) and any port;
- every other address (private, link-local 169.254.0.0/16 and fe80::/10, shared 100.64.0.0/10,
  unique-local fc00::/7, multicast, reserved, unspecified...) is refused unless a network
  named with ``--allow-network`` holds it. That works without ``--local-network`` too (a relay
  on the internet reaching a PDS on its own LAN), where it widens the addresses only: https on
  the standard port stays the rule;
- an IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) or a 6to4 one (``2002:0a00:0001::1``) is
  judged as the IPv4 address it carries (Teredo's 2001::/32 is refused as a whole).

A hostname is resolved first and every address it has must pass; the connection then goes to
one of the checked addresses (the ``Host`` header and the TLS name stay the hostname), so a
second DNS answer cannot swap in another address (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx

from strato.errors import NetworkPolicyError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The standard port of each scheme; outside a local network only these are used.
STANDARD_PORTS: Final = {"https": 443, "wss": 443, "http": 80, "ws": 80}
PLAIN_SCHEMES: Final = frozenset({"http", "ws"})
#: The shared address space of carrier-grade NAT (RFC 6598), neither private nor global.
SHARED_NETWORK: Final = ipaddress.ip_network("100.64.0.0/10")


class AddressLookup(Protocol):
    """Resolves a hostname (:class:`strato.identity.dnsclient.DnsClient` is one)."""

    async def addresses(self, host: str) -> list[str]:
        """The host's IPv4 and IPv6 addresses; empty when the name does not exist."""
        ...


def address_kind(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is (``"private address"``...), None for a
    public unicast address. An IPv6 address that carries an IPv4 address, IPv4-mapped
    (``::ffff:10.0.0.1``) or 6to4 (``2002:0a00:0001::``, which a 6to4 relay routes to that
    IPv4 address), is judged by its IPv4 address."""
    address = _carried(address)
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
    if address in SHARED_NETWORK:
        return "shared address"
    if address.is_private:
        return "private address"
    if not address.is_global:
        return "non-global address"
    return None


def _carried(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped or 6to4 IPv6 address carries; else ``address``."""
    if isinstance(address, ipaddress.IPv6Address):
        return address.ipv4_mapped or address.sixtofour or address
    return address


def parse_network(text: str) -> IPNetwork:
    """A network named in CIDR form (``10.0.0.0/8``, ``fd00::/8``, a bare address for one
    host); ValueError otherwise, or when bits are set past the prefix (``10.0.0.1/8``)."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as err:
        raise ValueError(
            f"{text!r} is not a network in CIDR form (such as 10.0.0.0/8): {err}"
        ) from None


def ip_literal(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one (without brackets), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """Which outbound addresses, schemes and ports a service may use (see the module
    docstring). The default is the strictest: public addresses over https on port 443."""

    local_network: bool = False
    #: Networks whose addresses are allowed whatever their kind (``--allow-network``).
    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_options(cls, *, local_network: bool, allow_network: Iterable[str]) -> NetworkPolicy:
        """The policy of ``--local-network`` and the ``--allow-network`` CIDRs; ValueError for
        a CIDR that is not one."""
        return cls(local_network, tuple(parse_network(text) for text in allow_network))

    def address_problem(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be contacted, None when it may."""
        address = _carried(address)
        if any(address in network for network in self.allowed):
            return None
        kind = address_kind(address)
        if kind == "loopback address" and self.local_network:
            return None
        return kind

    def scheme_problem(self, scheme: str) -> str | None:
        """Why ``scheme`` (``https``, ``http``, ``wss``, ``ws``) may not be used, None when it
        may: plain http and ws only on a local network."""
        if scheme not in STANDARD_PORTS:
            return f"scheme {scheme!r} not allowed"
        if scheme in PLAIN_SCHEMES and not self.local_network:
            return f"scheme {scheme!r} not allowed (https only)"
        return None

    def port_problem(self, scheme: str, port: int | None) -> str | None:
        """Why ``port`` may not be used with ``scheme``, None when it may: outside a local
        network only the scheme's standard port (None: the standard one)."""
        if port is None or self.local_network or port == STANDARD_PORTS.get(scheme):
            return None
        return f"non-standard port {port}"

    async def resolve(self, host: str, dns: AddressLookup) -> list[IPAddress]:
        """Every address of ``host`` (an IP literal is its own), each allowed; empty when the
        name has none. Raises :class:`NetworkPolicyError` for the first refused one, and
        whatever ``dns`` raises when the lookup fails."""
        literal = ip_literal(host)
        if literal is not None:
            found = [literal]
        else:
            texts = await dns.addresses(host)
            found = list(dict.fromkeys(ipaddress.ip_address(t.split("%", 1)[0]) for t in texts))
        for address in found:
            problem = self.address_problem(address)
            if problem is not None:
                via = "" if literal is not None else f" ({host} resolves to {address})"
                raise NetworkPolicyError(f"{problem}{via}", host)
        return found

    async def destination(
        self, scheme: str, host: str, port: int | None, dns: AddressLookup
    ) -> Destination | None:
        """Where a request to ``scheme://host:port`` may go, None when the host does not
        resolve; raises :class:`NetworkPolicyError` for a refused scheme, port or address."""
        problem = self.scheme_problem(scheme) or self.port_problem(scheme, port)
        if problem is not None:
            raise NetworkPolicyError(problem, host)
        addresses = await self.resolve(host, dns)
        if not addresses:
            return None
        return Destination(scheme, host, port or STANDARD_PORTS[scheme], tuple(addresses))


@dataclass(frozen=True, slots=True)
class Destination:
    """A host checked for connecting: its scheme, name and port, and the addresses that passed
    the policy (connect to one of these, never to a fresh lookup)."""

    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]

    @property
    def authority(self) -> str:
        """The ``Host`` header: the name, with the port unless it is the scheme's standard."""
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == STANDARD_PORTS[self.scheme] else f"{name}:{self.port}"

    def url(self, address: IPAddress, path: str) -> str:
        """``path`` (with its query) at ``address``."""
        literal = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{literal}:{self.port}{path}"


async def send(
    http: httpx.AsyncClient,
    destination: Destination,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Any = None,
    content: Any = None,
    timeout: float | None = None,
) -> httpx.Response:
    """Send a request to the first of ``destination``'s checked addresses that takes the
    connection, redirects not followed; the response is streamed (read it, then close it).
    Raises ``httpx.HTTPError`` as the client does."""
    pinned = {**(headers or {}), "Host": destination.authority}
    failure: httpx.ConnectError | None = None
    for address in destination.addresses:
        request = http.build_request(
            method, destination.url(address, path), params=params, headers=pinned,
            content=content, extensions={"sni_hostname": destination.host},
            timeout=http.timeout if timeout is None else timeout,
        )  # fmt: skip
        try:
            return await http.send(request, stream=True, follow_redirects=False)
        except httpx.ConnectError as err:  # the next address may answer
            failure = err
    assert failure is not None, "a destination has at least one address"
    raise failure


__all__ = [
    "AddressLookup",
    "Destination",
    "IPAddress",
    "IPNetwork",
    "NetworkPolicy",
    "address_kind",
    "ip_literal",
    "parse_network",
    "send",
]
