"""The host registry: every PDS the relay subscribes to, in the LMDB tables :data:`TABLES`.

- ``relay_hosts``: ``u64(id)`` -> the :class:`Host` row (msgpack);
- ``relay_host_names``: hostname -> ``u64(id)``.

A host's ``last_seq`` is the upstream cursor: the seq of the last upstream event the relay has
committed (or dropped) from it, written in the same transaction as the events, so a restart
resumes exactly after what is durable. ``account_count`` counts the accounts the relay has
seen hosted there; ``account_limit`` caps how many of them are active before the next ones are
throttled; ``throttled_count`` is how many of the counted accounts are throttled
(:mod:`strato.relay.limits` keeps both).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from typing import Final

import msgspec

from strato.storage import ReadTxn, Store, WriteTxn, from_u64, u64

HOSTS: Final = "relay_hosts"
HOST_NAMES: Final = "relay_host_names"
TABLES: Final = (HOSTS, HOST_NAMES)


class HostStatus(enum.StrEnum):
    """A host's status, as ``com.atproto.sync.defs#hostStatus`` names them."""

    ACTIVE = "active"
    IDLE = "idle"
    OFFLINE = "offline"
    THROTTLED = "throttled"
    BANNED = "banned"


class Host(msgspec.Struct, kw_only=True):
    """One upstream host. ``hostname`` is lowercase, with a port only on a local network;
    ``no_ssl`` means it is reached over http/ws."""

    id: int
    hostname: str
    no_ssl: bool = False
    status: HostStatus = HostStatus.ACTIVE
    last_seq: int = -1
    account_count: int = 0
    account_limit: int
    throttled_count: int = 0
    trusted: bool = False
    added_at: float = 0.0

    @property
    def admitted_count(self) -> int:
        """The accounts within the account limit (counted and not throttled)."""
        return self.account_count - self.throttled_count

    @property
    def http_url(self) -> str:
        return ("http://" if self.no_ssl else "https://") + self.hostname

    @property
    def stream_url(self) -> str:
        scheme = "ws://" if self.no_ssl else "wss://"
        return scheme + self.hostname + "/xrpc/com.atproto.sync.subscribeRepos"


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(Host)


class HostStore:
    """Reads and writes :class:`Host` rows. The transaction is every method's first argument;
    None (or nothing, where it is the only one) has the method open its own."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, txn: ReadTxn | None, hostname: str) -> Host | None:
        if txn is None:
            with self.store.read() as snapshot:
                return self.get(snapshot, hostname)
        key = txn.get(HOST_NAMES, hostname.lower().encode())
        return None if key is None else self.get_by_id(txn, from_u64(key))

    def get_by_id(self, txn: ReadTxn | None, host_id: int) -> Host | None:
        if txn is None:
            with self.store.read() as snapshot:
                return self.get_by_id(snapshot, host_id)
        value = txn.get(HOSTS, u64(host_id))
        return None if value is None else _decoder.decode(value)

    def add(
        self,
        txn: WriteTxn,
        hostname: str,
        *,
        no_ssl: bool,
        account_limit: int,
        trusted: bool = False,
    ) -> Host:
        """The host named ``hostname``, created when new (an existing row is returned as is)."""
        existing = self.get(txn, hostname)
        if existing is not None:
            return existing
        host = Host(
            id=txn.next_u64(HOSTS),
            hostname=hostname.lower(),
            no_ssl=no_ssl,
            account_limit=account_limit,
            trusted=trusted,
            added_at=time.time(),
        )
        self.put(txn, host)
        txn.put(HOST_NAMES, host.hostname.encode(), u64(host.id))
        return host

    def put(self, txn: WriteTxn, host: Host) -> None:
        txn.put(HOSTS, u64(host.id), _encoder.encode(host))

    def set_cursor(self, txn: WriteTxn, host_id: int, seq: int) -> None:
        """Record ``seq`` as the last upstream event handled from the host."""
        host = self.get_by_id(txn, host_id)
        if host is not None and seq > host.last_seq:
            host.last_seq = seq
            self.put(txn, host)

    def set_status(self, txn: WriteTxn, host_id: int, status: HostStatus) -> Host | None:
        host = self.get_by_id(txn, host_id)
        if host is not None and host.status != status:
            host.status = status
            self.put(txn, host)
        return host

    def all(self, txn: ReadTxn | None = None, *, after: int = 0) -> Iterator[Host]:
        """Hosts in id order, from the first with an id above ``after``."""
        if txn is None:
            with self.store.read() as snapshot:
                yield from self.all(snapshot, after=after)
            return
        for _, value in txn.items(HOSTS, u64(after + 1)):
            yield _decoder.decode(value)
