"""Which upstream hosts the relay may reach: hostname rules for ``requestCrawl`` and the admin
add (:func:`parse_hostname`), and the address check run before every connection
(:func:`resolve_addresses`).

Hostnames (the reference relay's rules, ``--local-network`` relaxing them):

- a bare name is reached over https/wss; ``https://``, ``wss://``, ``http://`` and ``ws://``
  prefixes are accepted and a trailing ``/`` dropped; anything else after the host (a path, a
  query, credentials) is refused;
- the name is lowercased and must be a handle-syntax DNS name: no IP literal, no single label;
- no port;
- plain http/ws is refused (the relay requires SSL) unless the caller is an admin.

On a local network (``strato up``) a hostname may carry a port, may be ``localhost``, a single
label (a container name) or an IP literal, and a bare name whose addresses are all non-public
(loopback, or in a network the policy allows) is reached over plain http and ws
(:attr:`Target.no_ssl`).

Addresses: the name is resolved and every address must pass the relay's
:class:`~strato.netpolicy.NetworkPolicy` (public unicast; loopback too on a local network; any
address in an ``--allow-network`` range), and the port must be 80 or 443 outside a local
network; the connection then goes to a checked address, so a second DNS answer cannot swap in
another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from strato.errors import IdentityUnavailableError, NetworkPolicyError
from strato.netpolicy import (
    AddressLookup,
    Destination,
    IPAddress,
    NetworkPolicy,
    address_kind,
    ip_literal,
)
from strato.syntax import is_handle

SCHEMES: Final = {"https": False, "wss": False, "http": True, "ws": True}
STANDARD_PORTS: Final = frozenset({80, 443})
_LABEL_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


class HostnameError(ValueError):
    """A hostname the relay does not accept (syntax, a port, an IP literal, no SSL)."""


class AddressError(ValueError):
    """A host the relay will not connect to: the network policy refuses one of its addresses,
    or its port (other than 80 and 443 outside a local network); or it does not resolve
    (:class:`UnresolvedHostError`)."""


class UnresolvedHostError(AddressError):
    """A host whose name has no address, or whose lookup failed."""


@dataclass(frozen=True, slots=True)
class ParsedHostname:
    """A hostname as the relay stores it: ``hostname`` lowercase with its port (local network
    only); ``host`` and ``port`` apart; ``no_ssl`` True/False when the scheme was given, None
    when the name was bare."""

    hostname: str
    host: str
    port: int | None
    no_ssl: bool | None


@dataclass(frozen=True, slots=True)
class Target:
    """A host checked for connecting: its stored ``hostname`` (``host`` without the port),
    the transport, the port, and the addresses that passed the check (connect to one of these,
    not to a fresh lookup)."""

    hostname: str
    host: str
    no_ssl: bool
    port: int
    addresses: tuple[IPAddress, ...]

    @property
    def destination(self) -> Destination:
        """The host's HTTP side (``describeServer``, ``getRepo``...) at the checked addresses."""
        return Destination("http" if self.no_ssl else "https", self.host, self.port, self.addresses)


def parse_hostname(value: str, *, local_network: bool, admin: bool = False) -> ParsedHostname:
    """``value`` (a bare hostname or a URL of one) as the relay stores it; raises
    :class:`HostnameError`. Plain http/ws needs ``admin`` or ``local_network``."""
    text = value.strip()
    if not text:
        raise HostnameError("hostname is empty")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    scheme = scheme.lower()
    if scheme and scheme not in SCHEMES:
        raise HostnameError(f"scheme {scheme!r} not allowed (https, wss, http or ws)")
    rest = rest.removesuffix("/")
    if not rest or any(char in rest for char in "/?#@\\ \t"):
        raise HostnameError(f"{value!r} is not a hostname")
    no_ssl = SCHEMES[scheme] if scheme else None
    if no_ssl and not (admin or local_network):
        raise HostnameError("this relay requires SSL: plain http/ws hosts are not accepted")
    host, port = _split_port(rest.lower(), value)
    if port is not None and not local_network:
        raise HostnameError("a port number is only allowed on a local network")
    if ip_literal(host) is not None:
        if not local_network:
            raise HostnameError("an IP address is not a hostname")
    elif not is_handle(host) and not (local_network and _is_label(host)):
        raise HostnameError(f"{host!r} is not a valid DNS hostname")
    hostname = host if port is None else f"{_bracketed(host)}:{port}"
    return ParsedHostname(hostname, host, port, no_ssl)


def host_part(hostname: str) -> str:
    """The host of a stored hostname: without its port and brackets."""
    if hostname.startswith("["):
        return hostname[1:].partition("]")[0]
    if hostname.count(":") == 1:
        return hostname.partition(":")[0]
    return hostname


def _split_port(text: str, value: str) -> tuple[str, int | None]:
    if text.startswith("["):  # [v6]:port
        host, sep, tail = text[1:].partition("]")
        if not sep or ip_literal(host) is None:
            raise HostnameError(f"{value!r} is not a hostname")
        if not tail:
            return host, None
        if not tail.startswith(":"):
            raise HostnameError(f"{value!r} is not a hostname")
        return host, _port(tail[1:], value)
    if text.count(":") > 1:  # a bare IPv6 literal
        return text, None
    host, sep, port = text.partition(":")
    return host, _port(port, value) if sep else None


def _port(text: str, value: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 5 or not 0 < int(text) < 65536:
        raise HostnameError(f"bad port in {value!r}")
    return int(text)


def _is_label(host: str) -> bool:
    return 0 < len(host) <= 63 and set(host) <= _LABEL_CHARS and host[0] != "-" != host[-1]


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def resolve_addresses(
    host: str, port: int, *, policy: NetworkPolicy, dns: AddressLookup
) -> list[IPAddress]:
    """The addresses of ``host`` the relay may connect to on ``port``; raises
    :class:`AddressError` when the port is not 80/443 outside a local network or the policy
    refuses one of its addresses, :class:`UnresolvedHostError` when the name does not
    resolve."""
    if not policy.local_network and port not in STANDARD_PORTS:
        raise AddressError(f"port {port} not allowed (80 or 443 only)")
    try:
        found = await policy.resolve(host, dns)
    except NetworkPolicyError as err:
        raise AddressError(err.reason) from None
    except IdentityUnavailableError as err:
        raise UnresolvedHostError(f"cannot resolve {host}: {err.reason}") from None
    if not found:
        raise UnresolvedHostError(f"cannot resolve {host}: no address")
    return found


async def check_target(
    hostname: str, *, no_ssl: bool | None, policy: NetworkPolicy, dns: AddressLookup
) -> Target:
    """The host ``hostname`` (as :func:`parse_hostname` stores it) checked for connecting.
    ``no_ssl`` None (a bare name) picks plain http/ws on a local network when every address is
    non-public (loopback or allowed), https/wss otherwise."""
    local = policy.local_network
    parsed = parse_hostname(hostname, local_network=local, admin=True)
    default_port = 80 if no_ssl else 443
    addresses = await resolve_addresses(
        parsed.host, parsed.port or default_port, policy=policy, dns=dns
    )
    if no_ssl is None:
        no_ssl = local and all(address_kind(address) is not None for address in addresses)
        default_port = 80 if no_ssl else 443
    return Target(
        parsed.hostname, parsed.host, no_ssl, parsed.port or default_port, tuple(addresses)
    )


__all__ = [
    "AddressError",
    "HostnameError",
    "ParsedHostname",
    "Target",
    "UnresolvedHostError",
    "check_target",
    "host_part",
    "parse_hostname",
    "resolve_addresses",
]
