"""Per-account state of the relay, in the LMDB tables :data:`TABLES`.

- ``relay_accounts``: DID -> the :class:`AccountState` row (msgpack): the host it lives on, its
  head commit, rev and data root as last verified, its upstream status, and the relay's own
  verdicts (taken down here, throttled by its host's account limit, desynchronized);
- ``relay_collections``: collection NSID + DID -> nothing, and ``relay_account_collections``:
  DID + collection -> nothing: which accounts have records in which collections
  (``listReposByCollection``), from the creates the relay has seen and each resync's full list;
- ``relay_account_events``: DID + ``u64(seq)`` -> nothing, and ``relay_event_accounts``:
  ``u64(seq)`` -> DID: which log events are whose, so a takedown can purge an account's events
  from replay and pruning can drop the index with the events.

:meth:`AccountState.status` is the combined status the relay reports (``getRepoStatus``,
``listRepos``, ``#account``): a relay takedown wins, then the host's throttle, then what the
account's PDS says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import msgspec

from strato.storage import ReadTxn, Store, WriteTxn, from_u64, u64

ACCOUNTS: Final = "relay_accounts"
ACCOUNT_EVENTS: Final = "relay_account_events"
EVENT_ACCOUNTS: Final = "relay_event_accounts"
COLLECTIONS: Final = "relay_collections"
ACCOUNT_COLLECTIONS: Final = "relay_account_collections"
TABLES: Final = (ACCOUNTS, ACCOUNT_EVENTS, EVENT_ACCOUNTS, COLLECTIONS, ACCOUNT_COLLECTIONS)

#: Upstream statuses under which an account's commits are not forwarded.
INACTIVE_UPSTREAM: Final = frozenset({"deactivated", "takendown", "suspended", "deleted"})


class AccountState(msgspec.Struct, kw_only=True):
    """What the relay knows of one account. ``head``/``data`` are CID bytes (None before the
    first verified commit); ``upstream_status`` is None while the PDS says it is active."""

    did: str
    host_id: int
    head: bytes | None = None
    rev: str | None = None
    data: bytes | None = None
    upstream_status: str | None = None
    takendown: bool = False
    throttled: bool = False
    desynchronized: bool = False

    @property
    def status(self) -> str | None:
        """The combined status (None: active)."""
        if self.takendown:
            return "takendown"
        if self.throttled:
            return "throttled"
        if self.upstream_status is not None:
            return self.upstream_status
        return "desynchronized" if self.desynchronized else None

    @property
    def active(self) -> bool:
        return self.status is None

    @property
    def forwarding(self) -> bool:
        """Whether the account's commits go out (a desynchronized account's still do, once
        verified: only its chain needs repair)."""
        return not (self.takendown or self.throttled or self.upstream_status in INACTIVE_UPSTREAM)


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(AccountState)


class AccountStore:
    """Reads and writes :class:`AccountState` rows and the event index."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, txn: ReadTxn | None, did: str) -> AccountState | None:
        """The account's state (None: read in a snapshot of its own)."""
        if txn is None:
            with self.store.read() as snapshot:
                return self.get(snapshot, did)
        value = txn.get(ACCOUNTS, did.encode())
        return None if value is None else _decoder.decode(value)

    def put(self, txn: WriteTxn, state: AccountState) -> None:
        txn.put(ACCOUNTS, state.did.encode(), _encoder.encode(state))

    def all(self, txn: ReadTxn, *, after: str | None = None) -> Iterator[AccountState]:
        """Accounts in DID order, from the first after ``after``."""
        start = None if after is None else after.encode() + b"\x00"
        for _, value in txn.items(ACCOUNTS, start):
            yield _decoder.decode(value)

    # -- the event index ----------------------------------------------------------------------

    def index_event(self, txn: WriteTxn, did: str, seq: int) -> None:
        txn.put(ACCOUNT_EVENTS, did.encode() + b"\x00" + u64(seq), b"")
        txn.append(EVENT_ACCOUNTS, u64(seq), did.encode())

    def event_seqs(self, txn: ReadTxn, did: str) -> list[int]:
        """The seqs of the account's events still indexed."""
        start = did.encode() + b"\x00"
        stop = did.encode() + b"\x01"
        return [from_u64(key[len(start) :]) for key, _ in txn.items(ACCOUNT_EVENTS, start, stop)]

    def unindex_event(self, txn: WriteTxn, did: str, seq: int) -> None:
        txn.delete(ACCOUNT_EVENTS, did.encode() + b"\x00" + u64(seq))
        txn.delete(EVENT_ACCOUNTS, u64(seq))

    def unindex_before(self, txn: WriteTxn, seq: int, *, limit: int) -> int:
        """Drop index entries of events below ``seq`` (pruned from the log), at most
        ``limit``; returns how many."""
        doomed = list(txn.items(EVENT_ACCOUNTS, None, u64(seq), limit=limit))
        for key, did in doomed:
            txn.delete(ACCOUNT_EVENTS, did + b"\x00" + key)
            txn.delete(EVENT_ACCOUNTS, key)
        return len(doomed)

    # -- collections ----------------------------------------------------------------------------

    def add_collection(self, txn: WriteTxn, did: str, collection: str) -> None:
        """Note that ``did`` has records in ``collection``."""
        if txn.put(ACCOUNT_COLLECTIONS, _pair(did, collection), b"", overwrite=False):
            txn.put(COLLECTIONS, _pair(collection, did), b"")

    def set_collections(self, txn: WriteTxn, did: str, collections: set[str]) -> None:
        """Replace the collections of ``did`` (after a full resync)."""
        start = did.encode() + b"\x00"
        for key, _ in list(txn.items(ACCOUNT_COLLECTIONS, prefix=start)):
            collection = key[len(start) :].decode()
            if collection not in collections:
                txn.delete(ACCOUNT_COLLECTIONS, key)
                txn.delete(COLLECTIONS, _pair(collection, did))
        for collection in collections:
            self.add_collection(txn, did, collection)

    def collections(self, txn: ReadTxn, did: str) -> list[str]:
        start = did.encode() + b"\x00"
        return [
            key[len(start) :].decode() for key, _ in txn.items(ACCOUNT_COLLECTIONS, prefix=start)
        ]

    def repos_with_collection(
        self, txn: ReadTxn, collection: str, *, after: str | None, limit: int
    ) -> list[str]:
        """DIDs with records in ``collection``, in DID order after ``after``."""
        prefix = collection.encode() + b"\x00"
        start = prefix if after is None else prefix + after.encode() + b"\x00"
        return [
            key[len(prefix) :].decode()
            for key, _ in txn.items(COLLECTIONS, start, prefix=prefix, limit=limit)
        ]


def _pair(first: str, second: str) -> bytes:
    return first.encode() + b"\x00" + second.encode()
