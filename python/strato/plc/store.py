"""The PLC directory's storage: every DID's audit log in LMDB, and the global export order.

Tables (one environment, service name ``plc``):

- ``ops``: ``<did> NUL u64(i)`` -> the i-th operation the directory accepted for the DID, with
  its CID, ``createdAt``, ``nullified`` flag, sequence number and the log bookkeeping
  (:class:`strato.identity.plc.log.LogEntry`): the whole audit log of a DID is one prefix scan.
- ``seq``: ``u64(seq)`` -> the ``ops`` key; ``seq`` counts accepted operations from 1 (the
  ``/export?after=<seq>`` order).
- ``time``: ``u64(createdAt µs) u64(seq)`` -> empty; the legacy ``/export?after=<timestamp>``
  order.

:meth:`PlcStore.submit` reads the DID's log, checks the operation and writes it in one LMDB
write transaction, so operations on one DID are serialized and a rejected operation writes
nothing. ``createdAt`` is assigned by the directory: the current time in milliseconds, moved
past the DID's latest operation when the clock has not advanced (the log rules require it to
increase).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import msgspec

from strato.identity.plc.log import DidLog, LogEntry, format_datetime
from strato.plc.limits import check_rate
from strato.storage import ReadTxn, Store, WriteTxn, prefix, u64

SCHEMA_VERSION: Final = 1
TABLES: Final = ("ops", "seq", "time")
_MILLISECOND: Final = 1000


class StoredEntry(msgspec.Struct, array_like=True):
    """One row of ``ops``."""

    seq: int
    cid: str
    operation: dict[str, Any]
    created_at: int
    nullified: bool
    allowed: int
    last_child: str | None


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(StoredEntry)


class PlcStore:
    """The directory's LMDB environment. Use :meth:`open`; thread-safe."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    def open(cls, data_dir: str | Path, *, sync: bool = True) -> PlcStore:
        """Open (creating if needed) the directory's data in ``data_dir``."""
        return cls(
            Store.open(
                data_dir, name="plc", schema_version=SCHEMA_VERSION, tables=TABLES, sync=sync
            )
        )

    def close(self) -> None:
        """Close the environment."""
        self._store.close()

    # -- reading ------------------------------------------------------------------------------

    def load(self, did: str) -> DidLog:
        """The audit log of ``did`` (empty when the directory does not know it)."""
        with self._store.read() as txn:
            return _load(txn, did)

    def audit_log(self, did: str) -> list[dict[str, Any]]:
        """The audit log of ``did`` as ``/log/audit`` serves it."""
        with self._store.read() as txn:
            return [_export_legacy(did, stored) for _, stored in _stored_entries(txn, did)]

    def export_by_seq(self, after: int, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` operations with ``seq > after``, in ``seq`` order (the sequenced
        export format)."""
        rows = []
        with self._store.read() as txn:
            for _, key in txn.items("seq", start=u64(after + 1), limit=count):
                stored = _decode(txn, key)
                rows.append(
                    {
                        "seq": stored.seq,
                        "type": "sequenced_op",
                        "did": _did_of(key),
                        "operation": stored.operation,
                        "cid": stored.cid,
                        "createdAt": format_datetime(stored.created_at),
                    }
                )
        return rows

    def export_by_time(self, after: int | None, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` operations created after ``after`` (µs; None: from the start), in
        ``createdAt`` order (the legacy export format, with ``nullified``)."""
        start = None if after is None else u64(after + 1)
        rows = []
        with self._store.read() as txn:
            for key, _ in txn.items("time", start=start, limit=count):
                ops_key = txn.get("seq", key[8:])
                if ops_key is None:  # written in the same transaction: unreachable
                    raise KeyError(key)
                rows.append(_export_legacy(_did_of(ops_key), _decode(txn, ops_key)))
        return rows

    def healthy(self) -> bool:
        """Whether the environment answers a read."""
        self.operation_count()
        return True

    def operation_count(self) -> int:
        """How many operations the log holds (each has a sequence number)."""
        with self._store.read() as txn:
            return txn.count("seq")

    # -- writing ------------------------------------------------------------------------------

    def submit(self, did: str, value: object, now: int, *, rate_limits: bool = False) -> LogEntry:
        """Check the operation ``value`` against ``did``'s log (and, with ``rate_limits``, the
        per-DID rate limits of :func:`strato.plc.limits.check_rate`) and store it, at time
        ``now`` (µs), in one write transaction. Raises
        :class:`strato.errors.PlcValidationError` (nothing written) when it breaks a rule."""
        return self._store.transact(lambda txn: _submit(txn, did, value, now, rate_limits))


def _submit(txn: WriteTxn, did: str, value: object, now: int, rate_limits: bool) -> LogEntry:
    entries = list(_stored_entries(txn, did))
    log = _log_of(did, [stored for _, stored in entries])
    latest = log.latest_created_at()
    created_at = now - now % _MILLISECOND
    if latest is not None and created_at <= latest:
        created_at = latest - latest % _MILLISECOND + _MILLISECOND
    prepared = log.prepare(value, created_at)
    if rate_limits and not prepared.nullified:  # recovery is never rate limited
        check_rate([entry.created_at for entry in log.active()], created_at)
    entry = log.apply(prepared)
    seq = txn.next_u64("seq")
    changed = set(prepared.nullified)
    if prepared.prev is not None:
        changed.add(prepared.prev)
    for (key, stored), current in zip(entries, log.entries, strict=False):
        if current.cid in changed:
            stored.nullified = current.nullified
            stored.allowed = current.allowed
            stored.last_child = current.last_child
            txn.put("ops", key, _encoder.encode(stored))
    key = prefix(did) + u64(len(entries))
    stored = StoredEntry(
        seq=seq,
        cid=entry.cid,
        operation=entry.operation,
        created_at=entry.created_at,
        nullified=False,
        allowed=entry.allowed,
        last_child=None,
    )
    txn.put("ops", key, _encoder.encode(stored))
    txn.append("seq", u64(seq), key)
    txn.put("time", u64(created_at) + u64(seq), b"")
    return entry


def _stored_entries(txn: ReadTxn, did: str) -> Iterator[tuple[bytes, StoredEntry]]:
    for key, value in txn.items("ops", prefix=prefix(did)):
        yield key, _decoder.decode(value)


def _load(txn: ReadTxn, did: str) -> DidLog:
    return _log_of(did, [stored for _, stored in _stored_entries(txn, did)])


def _log_of(did: str, stored: list[StoredEntry]) -> DidLog:
    return DidLog(
        did,
        [
            LogEntry(
                cid=row.cid,
                operation=row.operation,
                created_at=row.created_at,
                nullified=row.nullified,
                allowed=row.allowed,
                last_child=row.last_child,
            )
            for row in stored
        ],
    )


def _decode(txn: ReadTxn, ops_key: bytes) -> StoredEntry:
    value = txn.get("ops", ops_key)
    if value is None:  # the seq index is written with the row: unreachable
        raise KeyError(ops_key)
    return _decoder.decode(value)


def _did_of(ops_key: bytes) -> str:
    return ops_key[:-9].decode()


def _export_legacy(did: str, stored: StoredEntry) -> dict[str, Any]:
    return {
        "did": did,
        "operation": stored.operation,
        "cid": stored.cid,
        "nullified": stored.nullified,
        "createdAt": format_datetime(stored.created_at),
    }


__all__ = ["PlcStore", "StoredEntry"]
