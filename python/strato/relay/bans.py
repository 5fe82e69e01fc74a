"""Domain bans: the banned domain patterns, in the LMDB table :data:`TABLES`
(``relay_domain_bans``: domain -> the unix time it was banned, as text).

A pattern ``example.com`` bans ``example.com`` and every name under it
(``pds.example.com``); matching ignores case and a hostname's port. ``requestCrawl`` and the
admin add refuse a banned host, and the crawler does not subscribe to one.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Final

from strato.relay.ssrf import HostnameError, host_part, parse_hostname
from strato.storage import ReadTxn, Store, WriteTxn

DOMAIN_BANS: Final = "relay_domain_bans"
TABLES: Final = (DOMAIN_BANS,)


def normalize_domain(value: str) -> str:
    """A ban pattern in its stored form: lowercase, no leading ``*.`` or ``.``; raises
    :class:`~strato.relay.ssrf.HostnameError` for anything that is not a domain name."""
    text = value.strip().lower().removeprefix("*.").removeprefix(".")
    parsed = parse_hostname(text, local_network=True)
    if parsed.port is not None or parsed.no_ssl is not None:
        raise HostnameError(f"{value!r} is not a domain name")
    return parsed.host


def candidates(hostname: str) -> list[str]:
    """The patterns that would ban ``hostname``: itself and each parent domain."""
    host = host_part(hostname.lower())
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # an IP literal: only itself
        return [host]
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


class DomainBans:
    """Reads and writes the ban patterns. The transaction is every method's first argument;
    None (or nothing, where it is the only one) has the method open its own."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def ban(self, txn: WriteTxn | None, domain: str) -> str:
        """Ban ``domain`` and its subdomains; returns the stored pattern."""
        pattern = normalize_domain(domain)
        if txn is None:
            with self.store.write() as writer:
                return self.ban(writer, pattern)
        txn.put(DOMAIN_BANS, pattern.encode(), repr(time.time()).encode(), overwrite=False)
        return pattern

    def unban(self, txn: WriteTxn | None, domain: str) -> bool:
        """Lift the ban on the pattern ``domain``; False when it was not banned."""
        pattern = normalize_domain(domain)
        if txn is None:
            with self.store.write() as writer:
                return self.unban(writer, pattern)
        return txn.delete(DOMAIN_BANS, pattern.encode())

    def banned_by(self, txn: ReadTxn | None, hostname: str) -> str | None:
        """The pattern that bans ``hostname`` (a stored hostname, port allowed), or None."""
        if txn is None:
            with self.store.read() as snapshot:
                return self.banned_by(snapshot, hostname)
        for pattern in candidates(hostname):
            if (DOMAIN_BANS, pattern.encode()) in txn:
                return pattern
        return None

    def is_banned(self, txn: ReadTxn | None, hostname: str) -> bool:
        return self.banned_by(txn, hostname) is not None

    def patterns(self, txn: ReadTxn | None = None) -> list[str]:
        """Every ban pattern, in order (in a snapshot of its own without ``txn``)."""
        if txn is None:
            with self.store.read() as snapshot:
                return self.patterns(snapshot)
        return [key.decode() for key, _ in txn.items(DOMAIN_BANS)]


__all__ = ["DOMAIN_BANS", "TABLES", "DomainBans", "candidates", "normalize_domain"]
