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
label (a container name) or an IP literal, and a bare name whose addresses are all loopback or
private is reached over plain http and ws (:attr:`Target.no_ssl`).

Addresses: the name is resolved (``loop.getaddrinfo``) and every address must be public
unicast (not private, loopback, link-local, multicast, reserved, shared or unspecified; an
IPv4-mapped IPv6 address is judged by its IPv4 address), and the port 80 or 443; the
connection then goes to a checked address, so a second DNS answer cannot swap in another one.
On a local network only the resolution is required.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Final

from strato.identity.fetch import IPAddress, address_problem
from strato.syntax import is_handle

SCHEMES: Final = {"https": False, "wss": False, "http": True, "ws": True}
STANDARD_PORTS: Final = frozenset({80, 443})
_LABEL_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


class HostnameError(ValueError):
    """A hostname the relay does not accept (syntax, a port, an IP literal, no SSL)."""


class AddressError(ValueError):
    """A host whose address the relay will not connect to (private, loopback, ..., a port
    other than 80 and 443) or that does not resolve."""


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
    if _ip_literal(host) is not None:
        if not local_network:
            raise HostnameError("an IP address is not a hostname")
    elif not is_handle(host) and not (local_network and _is_label(host)):
        raise HostnameError(f"{host!r} is not a valid DNS hostname")
    hostname = host if port is None else f"{_bracketed(host)}:{port}"
    return ParsedHostname(hostname, host, port, no_ssl)


def _split_port(text: str, value: str) -> tuple[str, int | None]:
    if text.startswith("["):  # [v6]:port
        host, sep, tail = text[1:].partition("]")
        if not sep or _ip_literal(host) is None:
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


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_label(host: str) -> bool:
    return 0 < len(host) <= 63 and set(host) <= _LABEL_CHARS and host[0] != "-" != host[-1]


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def resolve_addresses(host: str, port: int, *, local_network: bool) -> list[IPAddress]:
    """The addresses of ``host`` the relay may connect to on ``port``; raises
    :class:`AddressError` when the port is not 80/443, the name does not resolve, or any
    address is not public (all of this only the resolution on a local network)."""
    if not local_network and port not in STANDARD_PORTS:
        raise AddressError(f"port {port} not allowed (80 or 443 only)")
    literal = _ip_literal(host)
    if literal is not None:
        found = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as err:
            raise AddressError(f"cannot resolve {host}: {err}") from None
        found = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
        if not found:
            raise AddressError(f"{host} has no address")
    if not local_network:
        for address in found:
            problem = address_problem(address)
            if problem is not None:
                via = "" if literal is not None else f" ({host} resolves to {address})"
                raise AddressError(f"{problem}{via} not allowed")
    return found


async def check_target(hostname: str, *, no_ssl: bool | None, local_network: bool) -> Target:
    """The host ``hostname`` (as :func:`parse_hostname` stores it) checked for connecting.
    ``no_ssl`` None (a bare name) picks plain http/ws on a local network when every address is
    loopback or private, https/wss otherwise."""
    parsed = parse_hostname(hostname, local_network=local_network, admin=True)
    default_port = 80 if no_ssl else 443
    addresses = await resolve_addresses(
        parsed.host, parsed.port or default_port, local_network=local_network
    )
    if no_ssl is None:
        no_ssl = local_network and all(address_problem(a) is not None for a in addresses)
        default_port = 80 if no_ssl else 443
    return Target(
        parsed.hostname, parsed.host, no_ssl, parsed.port or default_port, tuple(addresses)
    )


__all__ = [
    "AddressError",
    "HostnameError",
    "ParsedHostname",
    "Target",
    "check_target",
    "parse_hostname",
    "resolve_addresses",
]
