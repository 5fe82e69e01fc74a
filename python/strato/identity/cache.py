"""The identity cache: answers (and failures) by key, with TTLs, in memory and in LMDB.

Owns :class:`IdentityCache`. Keys are ``did:...`` (value: the DID document JSON) and
``handle:<handle>`` (value: the DID). Each entry records when it was fetched; with the clock
(injectable, seconds) an entry is

- **fresh** for ``ttl`` seconds: served as is;
- **stale** for ``stale_ttl`` seconds more: served, and the resolver refreshes it in the
  background (stale-while-revalidate);
- **expired** after that: dropped, as if absent.

A failure that is an answer (not found, malformed, refused) is cached as a *negative* entry for
``negative_ttl`` seconds, then expires; transient failures are never cached. Memory is bounded
by an LRU of ``max_entries`` entries in front of the (optional) LMDB table, which keeps entries
across restarts so that a restarted service does not ask the PLC directory for everything at
once. :meth:`purge` forgets a key in both; :meth:`prune` deletes expired entries from LMDB.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Final

import msgspec

from strato.errors import (
    DidNotFoundError,
    DidResolutionError,
    HandleNotFoundError,
    HandleResolutionError,
    IdentityError,
    LexiconNotFoundError,
    LexiconResolutionError,
    UnsafeAddressError,
)
from strato.identity.document import DidDocument
from strato.storage import Store

TABLE: Final = "identity"
SCHEMA_VERSION: Final = 1
DEFAULT_TTL: Final = 60 * 60.0
DEFAULT_STALE_TTL: Final = 24 * 60 * 60.0
DEFAULT_NEGATIVE_TTL: Final = 120.0
DEFAULT_MAX_ENTRIES: Final = 100_000

#: The failures a negative entry can hold, by class name.
NEGATIVE_ERRORS: Final[dict[str, type[IdentityError]]] = {
    cls.__name__: cls
    for cls in (
        IdentityError,
        DidNotFoundError,
        DidResolutionError,
        HandleResolutionError,
        HandleNotFoundError,
        LexiconNotFoundError,
        LexiconResolutionError,
        UnsafeAddressError,
    )
}


class Freshness(Enum):
    FRESH = "fresh"
    STALE = "stale"


@dataclass(slots=True)
class CacheEntry:
    """One cached answer: ``value`` (document JSON or DID), or a failure (``error`` class name,
    ``reason``). ``doc`` memoises the parsed document of a DID entry in memory."""

    fetched_at: float
    value: bytes | None = None
    error: str | None = None
    reason: str = ""
    doc: DidDocument | None = None

    @classmethod
    def failure(cls, fetched_at: float, err: IdentityError) -> CacheEntry:
        name = type(err).__name__ if type(err).__name__ in NEGATIVE_ERRORS else "IdentityError"
        return cls(fetched_at, error=name, reason=err.reason)

    def raise_error(self, subject: str) -> None:
        """Raise the cached failure, if this is a negative entry."""
        if self.error is not None:
            raise NEGATIVE_ERRORS[self.error](self.reason, subject)


class _Record(msgspec.Struct, array_like=True):
    """The LMDB form of an entry."""

    fetched_at: float
    value: bytes | None
    error: str | None
    reason: str


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(_Record)


class IdentityCache:
    """A bounded in-memory LRU over an optional LMDB table (see the module docstring)."""

    def __init__(
        self,
        store: Store | None = None,
        *,
        table: str = TABLE,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        ttl: float = DEFAULT_TTL,
        stale_ttl: float = DEFAULT_STALE_TTL,
        negative_ttl: float = DEFAULT_NEGATIVE_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.store = store
        self.table = table
        self.max_entries = max_entries
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.negative_ttl = negative_ttl
        self.clock = clock
        self._memory: OrderedDict[str, CacheEntry] = OrderedDict()
        self._owns_store = False

    @classmethod
    def open(cls, path: str | Path, **options: object) -> IdentityCache:
        """A cache persisted in its own LMDB environment at ``path`` (closed by :meth:`close`);
        ``options`` are the constructor's keywords."""
        store = Store.open(
            path, name="identity", schema_version=SCHEMA_VERSION, tables=(TABLE,), sync=False
        )
        cache = cls(store, **options)  # type: ignore[arg-type]
        cache._owns_store = True
        return cache

    def close(self) -> None:
        self._memory.clear()
        if self._owns_store and self.store is not None:
            self.store.close()

    def __len__(self) -> int:
        """Entries held in memory."""
        return len(self._memory)

    def now(self) -> float:
        return self.clock()

    def get(self, key: str) -> tuple[CacheEntry, Freshness] | None:
        """The entry for ``key`` and whether it is fresh or stale; None when absent or expired
        (an expired entry is deleted)."""
        entry = self._memory.get(key)
        if entry is None:
            entry = self._load(key)
            if entry is None:
                return None
            self._remember(key, entry)
        else:
            self._memory.move_to_end(key)
        age = self.now() - entry.fetched_at
        if entry.error is not None:
            if age < self.negative_ttl:
                return entry, Freshness.FRESH
        elif age < self.ttl:
            return entry, Freshness.FRESH
        elif age < self.ttl + self.stale_ttl:
            return entry, Freshness.STALE
        self.purge(key)
        return None

    def peek(self, key: str) -> CacheEntry | None:
        """The entry for ``key`` whatever its age, without touching the LRU order."""
        return self._memory.get(key) or self._load(key)

    def put(self, key: str, entry: CacheEntry) -> None:
        self._remember(key, entry)
        if self.store is not None:
            record = _Record(entry.fetched_at, entry.value, entry.error, entry.reason)
            with self.store.write() as txn:
                txn.put(self.table, key.encode(), _ENCODER.encode(record))

    def purge(self, key: str) -> None:
        """Forget ``key`` in memory and in LMDB."""
        self._memory.pop(key, None)
        if self.store is not None:
            with self.store.write() as txn:
                txn.delete(self.table, key.encode())

    def prune(self) -> int:
        """Delete every expired entry from LMDB; the number deleted."""
        if self.store is None:
            return 0
        now = self.now()
        with self.store.write() as txn:
            expired = [
                key
                for key, data in txn.items(self.table)
                if self._expired(_DECODER.decode(data), now)
            ]
            for key in expired:
                txn.delete(self.table, key)
        for key in expired:
            self._memory.pop(key.decode(), None)
        return len(expired)

    def _expired(self, record: _Record, now: float) -> bool:
        limit = self.negative_ttl if record.error is not None else self.ttl + self.stale_ttl
        return now - record.fetched_at >= limit

    def _load(self, key: str) -> CacheEntry | None:
        if self.store is None:
            return None
        with self.store.read() as txn:
            data = txn.get(self.table, key.encode())
        if data is None:
            return None
        try:
            record = _DECODER.decode(data)
        except msgspec.DecodeError:
            return None
        return CacheEntry(record.fetched_at, record.value, record.error, record.reason)

    def _remember(self, key: str, entry: CacheEntry) -> None:
        self._memory[key] = entry
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)
