"""DNS lookups for identity resolution, through dnspython's async resolver.

Owns :class:`DnsClient`: TXT records (for ``_atproto.<handle>``) and host addresses (for the
SSRF guard). By default it uses the system's resolver configuration (and, for addresses, the
system's ``getaddrinfo``, so ``/etc/hosts`` applies); given ``nameservers`` (``"ip"`` or
``"ip:port"``) it asks only those, over UDP (then TCP when truncated), which is how tests and
local networks point it at their own DNS server (``localhost`` is then loopback, RFC 6761).

A name that does not exist, or has no record of the type, is an empty answer; a server failure
or a timeout raises :class:`~strato.errors.IdentityUnavailableError`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from typing import Final

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.resolver

from strato.errors import IdentityUnavailableError

DEFAULT_DNS_TIMEOUT: Final = 5.0


def parse_nameserver(value: str) -> tuple[str, int]:
    """``"ip"``, ``"ip:port"`` or ``"[ipv6]:port"`` as (address, port); ValueError otherwise."""
    host, port_text = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            port_text = rest.removeprefix(":") if rest.startswith(":") else "bad"
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"bad nameserver {value!r}: not an IP address (IP[:PORT])") from None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad nameserver {value!r}: bad port")
    return host, int(port_text)


class DnsClient:
    """Async TXT and address lookups, optionally against specific nameservers."""

    def __init__(
        self, nameservers: Sequence[str] | None = None, *, timeout: float = DEFAULT_DNS_TIMEOUT
    ) -> None:
        self.custom = bool(nameservers)
        self._resolver = dns.asyncresolver.Resolver(configure=not self.custom)
        if nameservers:
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port)
                for host, port in map(parse_nameserver, nameservers)
            ]
        self._resolver.lifetime = timeout
        self._resolver.timeout = timeout

    async def txt(self, name: str) -> list[str]:
        """The TXT values at ``name`` (each record's strings joined), empty when none exist."""
        answer = await self._query(name, "TXT")
        return [
            b"".join(getattr(rdata, "strings", ())).decode("utf-8", errors="replace")
            for rdata in answer
        ]

    async def addresses(self, host: str) -> list[str]:
        """The IPv4 and IPv6 addresses of ``host``; empty when the name does not exist."""
        if not self.custom:
            return await _system_addresses(host)
        if host == "localhost":  # RFC 6761: never sent to a DNS server
            return ["127.0.0.1", "::1"]
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            found += [rdata.to_text() for rdata in await self._query(host, rdtype)]
        return found

    async def _query(self, name: str, rdtype: str) -> list[dns.rdata.Rdata]:
        try:
            answer = await self._resolver.resolve(
                name, dns.rdatatype.from_text(rdtype), search=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout as err:
            raise IdentityUnavailableError(f"DNS timeout for {rdtype} {name}", name) from err
        except dns.exception.DNSException as err:
            raise IdentityUnavailableError(f"DNS failure for {rdtype} {name}: {err}", name) from err
        return list(answer)


async def _system_addresses(host: str) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        if err.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            return []
        raise IdentityUnavailableError(f"cannot resolve {host}: {err}", host) from err
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
