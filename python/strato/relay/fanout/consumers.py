"""The table of connected ``subscribeRepos`` consumers, shared by every fan-out process.

A small LMDB environment of its own (``<data dir>/consumers``), apart from the relay's log: a
consumer connecting must not wait behind ingest's group commit for the one write lock, and the
table is rebuilt from live connections anyway (written without fsync; a crash loses only rows
of processes that are gone). Each row, keyed by ``u32(pid) + u64(serial)``, holds the process
id, remote address, cursor asked for (None: live only) and the connect time, as JSON.

:meth:`ConsumerRegistry.register` also enforces the per-IP connection limit across all
processes: it counts the rows of that address in the same write transaction that adds the row.
Rows of processes that no longer run are dropped by :meth:`ConsumerRegistry.purge_dead`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from strato.storage import Store, WriteTxn, u64

TABLE: Final = "fanout_consumers"
STORE_NAME: Final = "relay-consumers"
SCHEMA_VERSION: Final = 1
#: The directory under the relay's data directory.
DIRECTORY: Final = "consumers"


@dataclass(frozen=True, slots=True)
class Consumer:
    """A connected consumer as the admin API lists it."""

    pid: int
    serial: int
    remote: str
    cursor: int | None
    connected_at: float
    user_agent: str

    def to_json(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "remote": self.remote,
            "cursor": self.cursor,
            "connectedAt": self.connected_at,
            "userAgent": self.user_agent,
        }


def _key(pid: int, serial: int) -> bytes:
    return pid.to_bytes(4, "big") + u64(serial)


class ConsumerRegistry:
    """The consumer table; one per process, each opening the same environment."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pid = os.getpid()
        self._serial = 0

    @classmethod
    def open(cls, data_dir: str | Path) -> ConsumerRegistry:
        path = Path(data_dir) / DIRECTORY
        store = Store.open(
            path, name=STORE_NAME, schema_version=SCHEMA_VERSION, tables=(TABLE,), sync=False
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

        def add(txn: WriteTxn) -> bool:
            same = sum(1 for _, value in txn.items(TABLE) if json.loads(value)["remote"] == remote)
            if same >= max_per_ip:
                return False
            txn.put(TABLE, _key(self.pid, serial), json.dumps(row).encode())
            return True

        return serial if self.store.transact(add) else None

    def unregister(self, serial: int) -> None:
        self.store.transact(lambda txn: txn.delete(TABLE, _key(self.pid, serial)))

    def list(self) -> list[Consumer]:
        """Every registered consumer, by process and then connection order."""
        with self.store.read() as txn:
            rows = [(key, json.loads(value)) for key, value in txn.items(TABLE)]
        return [
            Consumer(
                pid=row["pid"],
                serial=int.from_bytes(key[4:], "big"),
                remote=row["remote"],
                cursor=row["cursor"],
                connected_at=row["connectedAt"],
                user_agent=row["userAgent"],
            )
            for key, row in rows
        ]

    def purge_pid(self, pid: int) -> int:
        """Drop every row of process ``pid``; how many there were."""
        start = pid.to_bytes(4, "big")
        stop = (pid + 1).to_bytes(4, "big")
        return self.store.transact(lambda txn: txn.delete_range(TABLE, start, stop))

    def purge_dead(self) -> int:
        """Drop the rows of processes that no longer run (and of this pid's earlier life)."""
        pids = {consumer.pid for consumer in self.list()}
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
