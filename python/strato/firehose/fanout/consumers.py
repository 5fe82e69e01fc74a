"""The table of connected ``subscribeRepos`` consumers, shared by every fan-out process.

A small LMDB environment of its own (``<data dir>/consumers``, named ``<service>-consumers``),
apart from the service's log: a consumer connecting must not wait behind the writer's group
commit for the one write lock, and the table is rebuilt from live connections anyway (written
without fsync; a crash loses only rows of processes that are gone). Each row, keyed by
``u32(pid) + u64(serial)``, holds the process id, remote address, cursor asked for (None: live
only) and the connect time, as JSON. An index (``remote + NUL + the row's key``, empty values)
finds the rows of one address. The frames sent so far are kept apart, one row per process
(``u32(pid)`` -> msgpack ``{serial: count}``): a fan-out worker publishes its consumers' counts
every second or so with :meth:`ConsumerRegistry.record_sent`, one small put however many
consumers it serves, and :meth:`ConsumerRegistry.list` merges them into the rows, so that any
process can list them.

:meth:`ConsumerRegistry.register` also enforces the per-IP connection limit across all
processes: it counts the address's index entries (at most the limit of them are read, so a
connect costs the same with ten thousand subscribers as with ten) in the same write
transaction that adds the row. Rows of processes that no longer run (and their counts) are
dropped by :meth:`ConsumerRegistry.purge_dead`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from strato.storage import Store, WriteTxn, u64

TABLE: Final = "fanout_consumers"
#: The rows of each address: ``remote + NUL + row key`` -> empty.
BY_REMOTE: Final = "fanout_consumers_by_remote"
#: The frames sent to each process's consumers: ``u32(pid)`` -> msgpack ``{serial: count}``.
SENT: Final = "fanout_consumers_sent"
SCHEMA_VERSION: Final = 2
#: The directory under the service's data directory.
DIRECTORY: Final = "consumers"


@dataclass(frozen=True, slots=True)
class Consumer:
    """A connected consumer as the admin API lists it: the process serving it and its serial
    there, its address, the cursor it asked for, unix connect time, User-Agent, and the frames
    sent to it (live in the process serving it; elsewhere as last published, None before the
    first publication)."""

    pid: int
    serial: int
    remote: str
    cursor: int | None
    connected_at: float
    user_agent: str
    events_sent: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "remote": self.remote,
            "cursor": self.cursor,
            "connectedAt": self.connected_at,
            "userAgent": self.user_agent,
        }


_encode_sent = msgspec.msgpack.Encoder().encode
_decode_sent = msgspec.msgpack.Decoder(dict[int, int]).decode


def _pid_key(pid: int) -> bytes:
    return pid.to_bytes(4, "big")


def _key(pid: int, serial: int) -> bytes:
    return _pid_key(pid) + u64(serial)


def _by_remote(remote: str) -> bytes:
    # A remote address holds no NUL: the prefix of one address is no other's.
    return remote.encode() + b"\0"


def _index(txn: WriteTxn) -> None:
    """Version 1 -> 2: index the rows there are by address."""
    rows = list(txn.items(TABLE))
    for key, value in rows:
        txn.put(BY_REMOTE, _by_remote(json.loads(value)["remote"]) + key, b"")


class ConsumerRegistry:
    """The consumer table; one per process, each opening the same environment."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pid = os.getpid()
        self._serial = 0
        #: This process's rows: serial -> remote.
        self._remotes: dict[int, str] = {}

    @classmethod
    def open(cls, data_dir: str | Path, service: str) -> ConsumerRegistry:
        """The table under the data directory of ``service`` (its store's name: ``relay``)."""
        path = Path(data_dir) / DIRECTORY
        store = Store.open(
            path,
            name=f"{service}-consumers",
            schema_version=SCHEMA_VERSION,
            tables=(TABLE, BY_REMOTE, SENT),
            sync=False,
            upgrades={1: _index},
        )
        return cls(store)

    def close(self) -> None:
        self.store.close()

    def register(
        self, remote: str, cursor: int | None, *, max_per_ip: int, user_agent: str = ""
    ) -> int | None:
        """Add a consumer of this process; its serial, or None when ``remote`` already has
        ``max_per_ip`` connections (in any process)."""
        self._serial += 1
        serial = self._serial
        row = {
            "pid": self.pid,
            "remote": remote,
            "cursor": cursor,
            "connectedAt": time.time(),
            "userAgent": user_agent,
        }

        key = _key(self.pid, serial)
        by_remote = _by_remote(remote)

        def add(txn: WriteTxn) -> bool:
            same = sum(1 for _ in txn.items(BY_REMOTE, prefix=by_remote, limit=max_per_ip))
            if same >= max_per_ip:
                return False
            txn.put(TABLE, key, json.dumps(row).encode())
            txn.put(BY_REMOTE, by_remote + key, b"")
            return True

        if not self.store.transact(add):
            return None
        self._remotes[serial] = remote
        return serial

    def unregister(self, serial: int) -> None:
        remote = self._remotes.pop(serial, None)
        if remote is None:
            return
        key = _key(self.pid, serial)

        def remove(txn: WriteTxn) -> None:
            txn.delete(TABLE, key)
            txn.delete(BY_REMOTE, _by_remote(remote) + key)

        self.store.transact(remove)

    def record_sent(self, sent: Mapping[int, int]) -> None:
        """Publish the frames sent to this process's consumers (serial -> count), replacing
        what it published before; counts of serials no longer registered are not listed.
        Touches nothing else of the registry: safe from a thread of its own."""
        key = _pid_key(self.pid)
        value = _encode_sent(dict(sent))

        def put(txn: WriteTxn) -> None:
            txn.put(SENT, key, value)

        self.store.transact(put)

    def list(self) -> list[Consumer]:
        """Every registered consumer, by process and then connection order."""
        with self.store.read() as txn:
            rows = [(key, json.loads(value)) for key, value in txn.items(TABLE)]
            sent = {key: _decode_sent(value) for key, value in txn.items(SENT)}
        consumers: list[Consumer] = []
        for key, row in rows:
            serial = int.from_bytes(key[4:], "big")
            consumers.append(
                Consumer(
                    pid=row["pid"],
                    serial=serial,
                    remote=row["remote"],
                    cursor=row["cursor"],
                    connected_at=row["connectedAt"],
                    user_agent=row["userAgent"],
                    events_sent=sent.get(key[:4], {}).get(serial),
                )
            )
        return consumers

    def purge_pid(self, pid: int) -> int:
        """Drop every row of process ``pid``, and its counts; how many rows there were."""
        start = _pid_key(pid)
        stop = _pid_key(pid + 1)

        def purge(txn: WriteTxn) -> int:
            rows = list(txn.items(TABLE, start, stop))
            for key, value in rows:
                txn.delete(BY_REMOTE, _by_remote(json.loads(value)["remote"]) + key)
            txn.delete(SENT, start)
            return txn.delete_range(TABLE, start, stop)

        return self.store.transact(purge)

    def purge_dead(self) -> int:
        """Drop the rows of processes that no longer run (and of this pid's earlier life)."""
        with self.store.read() as txn:
            keys = [key for key, _ in txn.items(TABLE)] + [key for key, _ in txn.items(SENT)]
        pids = {int.from_bytes(key[:4], "big") for key in keys}
        doomed = {pid for pid in pids if pid == self.pid or not _alive(pid)}
        return sum(self.purge_pid(pid) for pid in doomed)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
