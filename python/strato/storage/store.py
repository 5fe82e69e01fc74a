"""One LMDB environment per service data directory: named tables, schema version, transactions,
map growth and hot backup.

This is the only module in strato that imports ``lmdb``. A service opens its data directory
once::

    store = Store.open(data_dir / "plc", name="plc", schema_version=1, tables=("ops", "dids"))
    with store.write() as txn:          # one durable write transaction
        txn.put("ops", u64(seq), op_bytes)
    with store.read() as txn:           # a consistent snapshot; never blocks writers
        for key, value in txn.items("ops", start=u64(100), limit=10):
            ...

Guarantees:

- A write transaction is all or nothing. When ``with store.write()`` exits normally the commit
  has been flushed to disk (``sync=True``, the default), so an acknowledged write survives a
  crash or ``kill -9`` right after. An exception inside the block aborts it and writes nothing.
- Every environment carries a ``__strato__`` table with the service name and the storage schema
  version; opening a directory written by another schema version raises
  :class:`~strato.errors.SchemaVersionError` (another service: :class:`StorageError`) instead of
  misreading it, unless the service gives the upgrade steps from that version to its own
  (``upgrades``): they run in one write transaction as the store opens, with the new version
  recorded in the same transaction, so a crash leaves the old version or the new one.
- The memory map grows on demand: before a write the map is doubled when it is three quarters
  full; a transaction that still does not fit grows the map and raises
  :class:`~strato.errors.StorageFullError`, and :meth:`Store.transact` runs it again. A map
  grown by another process is adopted transparently.
- Readers see a snapshot and never wait for writers; other processes may open the same
  directory (LMDB is multi-process).
- The environment is private (:mod:`strato.storage.private`): a directory this opens or backs
  up into is made mode 0700 and ``data.mdb`` and ``lock.mdb`` are made 0600, whatever the umask.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import lmdb

from strato.errors import SchemaVersionError, StorageError, StorageFullError
from strato.storage.keys import from_u64, prefix_end, u64
from strato.storage.private import FILE_MODE, create_file, make_dir, make_private

#: What the storage engine raises for a read or write that fails (a full disk, an I/O error)
#: and that this module does not turn into a :class:`~strato.errors.StorageError`: callers
#: catch it by this name, so that no module but :mod:`strato.storage` imports ``lmdb``.
EngineError = lmdb.Error


#: The files of an environment, in its directory.
DATA_FILE = "data.mdb"
LOCK_FILE = "lock.mdb"
META_TABLE = "__strato__"
META_SERVICE = b"service"
META_SCHEMA_VERSION = b"schema_version"

#: The first map size of a new environment. The data file is sparse, so this costs address
#: space, not disk.
DEFAULT_MAP_SIZE = 1 << 30
#: Grow the map before a write once this fraction of it is used.
GROW_AT = 0.75
MAX_READERS = 256
_TABLE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")

T = TypeVar("T")
#: One step of a storage upgrade, from the schema version it is keyed by to the next one: it
#: runs inside the write transaction that opens the environment.
Upgrade = Callable[["WriteTxn"], None]


@dataclass(frozen=True, slots=True)
class StoreStats:
    """The size of an environment: its map, the bytes in use, and entries per table."""

    map_size: int
    used_bytes: int
    entries: dict[str, int]


class ReadTxn:
    """A read-only snapshot of the store. Valid only inside its ``with`` block."""

    def __init__(self, txn: lmdb.Transaction[bytes], dbs: dict[str, lmdb._Database]) -> None:
        self._txn = txn
        self._dbs = dbs

    def _db(self, table: str) -> lmdb._Database:
        try:
            return self._dbs[table]
        except KeyError:
            raise StorageError(f"unknown table {table!r}") from None

    def get(self, table: str, key: bytes) -> bytes | None:
        """The value under ``key``, or None."""
        return self._txn.get(key, db=self._db(table))

    def __contains__(self, item: tuple[str, bytes]) -> bool:
        table, key = item
        return self._txn.get(key, db=self._db(table)) is not None

    def count(self, table: str) -> int:
        """The number of entries in ``table``."""
        return self._txn.stat(self._db(table))["entries"]

    def items(
        self,
        table: str,
        start: bytes | None = None,
        stop: bytes | None = None,
        *,
        prefix: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Entries with ``start <= key < stop`` (either bound may be None), in key order or, with
        ``reverse``, from the largest down; ``prefix`` narrows the range to keys that begin with
        it. At most ``limit`` entries."""
        if prefix is not None:
            start = prefix if start is None or start < prefix else start
            end = prefix_end(prefix)
            if end is not None and (stop is None or end < stop):
                stop = end
        if limit is not None and limit <= 0:
            return
        cursor = self._txn.cursor(db=self._db(table))
        if not reverse:
            positioned = cursor.set_range(start) if start is not None else cursor.first()
        elif stop is not None and cursor.set_range(stop):
            positioned = cursor.prev()  # the last key below stop
        else:
            positioned = cursor.last()  # every key is below stop
        step = cursor.prev if reverse else cursor.next
        count = 0
        while positioned:
            key = cursor.key()
            if (start is not None and key < start) or (stop is not None and key >= stop):
                return
            yield key, cursor.value()
            count += 1
            if limit is not None and count >= limit:
                return
            positioned = step()

    def first(self, table: str) -> tuple[bytes, bytes] | None:
        """The entry with the smallest key, or None for an empty table."""
        return next(self.items(table, limit=1), None)

    def last(self, table: str) -> tuple[bytes, bytes] | None:
        """The entry with the largest key, or None for an empty table."""
        return next(self.items(table, reverse=True, limit=1), None)


class WriteTxn(ReadTxn):
    """A write transaction: reads see its own writes; committed on leaving its ``with`` block."""

    def __init__(
        self,
        txn: lmdb.Transaction[bytes],
        dbs: dict[str, lmdb._Database],
        env: lmdb.Environment,
    ) -> None:
        super().__init__(txn, dbs)
        self._env = env

    @contextmanager
    def nested(self) -> Iterator[WriteTxn]:
        """A child transaction: its writes join this one when the block exits normally and are
        undone when it raises, leaving this transaction as it was. A group commit runs each
        request in one, so a request that fails half-way spoils none of the others. This
        transaction must not be used while the child is open."""
        try:
            child = self._env.begin(write=True, parent=self._txn)
        except lmdb.Error as err:
            raise StorageError(f"cannot begin a nested transaction: {err}") from err
        try:
            yield WriteTxn(child, self._dbs, self._env)
        except lmdb.MapFullError as err:
            child.abort()
            # The whole transaction is spent: it must be aborted and run again after the map
            # grows (:meth:`Store.write` does the growing when this reaches it).
            raise StorageFullError("nested transaction did not fit the storage map") from err
        except BaseException:
            child.abort()
            raise
        child.commit()

    def put(self, table: str, key: bytes, value: bytes, *, overwrite: bool = True) -> bool:
        """Store ``value`` under ``key``. With ``overwrite=False`` an existing entry is kept and
        False is returned."""
        return self._txn.put(key, value, db=self._db(table), overwrite=overwrite)

    def put_many(self, table: str, items: Iterable[tuple[bytes, bytes]]) -> None:
        """Store every ``(key, value)`` of ``items`` (overwriting) in one call into LMDB: a
        bulk load spends its time in LMDB rather than in Python."""
        with self._txn.cursor(db=self._db(table)) as cursor:
            cursor.putmulti(items)

    def append(self, table: str, key: bytes, value: bytes) -> None:
        """Store an entry whose key is greater than every key in ``table`` (an append-only log
        keyed by :func:`~strato.storage.keys.u64`); cheaper than :meth:`put`."""
        if not self._txn.put(key, value, db=self._db(table), append=True):
            raise StorageError(f"append to {table!r}: key is not greater than the last key")

    def delete(self, table: str, key: bytes) -> bool:
        """Remove ``key``; False when it was not there."""
        return self._txn.delete(key, db=self._db(table))

    def delete_range(self, table: str, start: bytes | None, stop: bytes | None) -> int:
        """Remove every entry with ``start <= key < stop``; returns how many were removed."""
        keys = [key for key, _ in self.items(table, start, stop)]
        db = self._db(table)
        for key in keys:
            self._txn.delete(key, db=db)
        return len(keys)

    def next_u64(self, table: str) -> int:
        """One more than the largest :func:`~strato.storage.keys.u64` key in ``table`` (1 when
        it is empty): the next sequence number of an append-only log."""
        last = self.last(table)
        return 1 if last is None else from_u64(last[0]) + 1


class Store:
    """An open LMDB environment with named tables. Use :meth:`open`."""

    def __init__(
        self,
        env: lmdb.Environment,
        path: Path,
        name: str,
        schema_version: int,
        dbs: dict[str, lmdb._Database],
    ) -> None:
        self._env = env
        self.path = path
        self.name = name
        self.schema_version = schema_version
        self._dbs = dbs
        self._active = 0
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        name: str,
        schema_version: int,
        tables: Iterable[str],
        retired: Iterable[str] = (),
        map_size: int = DEFAULT_MAP_SIZE,
        readonly: bool = False,
        sync: bool = True,
        upgrades: Mapping[int, Upgrade] | None = None,
    ) -> Store:
        """Open (creating if needed) the environment in directory ``path`` for service ``name``
        with its ``tables``. A new environment records ``name`` and ``schema_version``; an
        existing one must match them (:class:`~strato.errors.SchemaVersionError` otherwise),
        or have an older version from which ``upgrades`` (version -> the step to the next
        version) lead to ``schema_version``: the steps then run, in order, in one write
        transaction. ``retired`` names tables earlier versions used that must go: opening for
        writing drops them, with their rows. ``sync=False`` trades durability of the last
        transactions for speed (tests, caches)."""
        table_names = tuple(tables)
        retired_names = tuple(retired)
        for table in table_names + retired_names:
            if not table or not set(table) <= _TABLE_NAME_CHARS:
                raise StorageError(f"bad table name {table!r}: use lowercase letters, digits, _")
        if len(set(table_names + retired_names)) != len(table_names + retired_names):
            raise StorageError("table names repeat")
        directory = Path(path)
        if directory.exists() and not directory.is_dir():
            raise StorageError(f"{directory} is not a directory")
        if not readonly:
            make_dir(directory)
        elif not (directory / DATA_FILE).exists():
            raise StorageError(f"{directory} holds no strato data (no {DATA_FILE})")
        new_files = [directory / name for name in (DATA_FILE, LOCK_FILE)]
        new_files = [file for file in new_files if not file.exists()]
        try:
            env = lmdb.open(
                str(directory),
                map_size=map_size,
                max_dbs=len(table_names) + len(retired_names) + 1,
                max_readers=MAX_READERS,
                readonly=readonly,
                sync=sync,
                metasync=sync,
                lock=True,
                mode=FILE_MODE,
            )
        except lmdb.Error as err:
            raise StorageError(f"cannot open LMDB environment in {directory}: {err}") from err
        for file in new_files:  # LMDB made them with FILE_MODE less the umask
            make_private(file)
        try:
            dbs = _open_tables(
                env,
                directory,
                name=name,
                schema_version=schema_version,
                tables=table_names,
                retired=retired_names,
                readonly=readonly,
                upgrades=upgrades or {},
            )
        except BaseException:
            env.close()
            raise
        return cls(env, directory, name, schema_version, dbs)

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[ReadTxn]:
        """A read transaction (a consistent snapshot)."""
        txn = self._begin(write=False)
        try:
            yield ReadTxn(txn, self._dbs)
        except lmdb.Error as err:
            raise StorageError(f"read failed: {err}") from err
        finally:
            txn.abort()
            self._release()

    @contextmanager
    def write(self) -> Iterator[WriteTxn]:
        """A write transaction, committed (and flushed to disk) when the block exits normally
        and aborted when it raises. Writers take turns (one at a time per environment).

        A transaction that fills the map raises :class:`~strato.errors.StorageFullError` after
        the map has been grown, so running it again succeeds (:meth:`transact` does that)."""
        self._grow_if_needed()
        txn = self._begin(write=True)
        try:
            yield WriteTxn(txn, self._dbs, self._env)
            txn.commit()
        except (lmdb.MapFullError, StorageFullError) as err:
            txn.abort()
            self._release()
            size = self._map_size()
            self._grow(force=True)
            raise StorageFullError(
                f"transaction did not fit the {size}-byte storage map; the map has been grown, "
                "run the transaction again"
            ) from err
        except lmdb.Error as err:
            txn.abort()
            self._release()
            raise StorageError(f"write failed: {err}") from err
        except BaseException:
            txn.abort()
            self._release()
            raise
        self._release()

    def transact(self, work: Callable[[WriteTxn], T], *, attempts: int = 8) -> T:
        """Run ``work`` in a write transaction and commit it; when the transaction does not fit
        the map, the map grows and ``work`` runs again (so ``work`` must only touch the store).
        """
        for _ in range(attempts - 1):
            try:
                with self.write() as txn:
                    return work(txn)
            except StorageFullError:
                continue
        with self.write() as txn:
            return work(txn)

    # -- size, stats, backup ------------------------------------------------------------------

    def stats(self) -> StoreStats:
        """Map size, bytes in use and entries per table (for health checks and metrics)."""
        info = self._env.info()
        page_size = self._env.stat()["psize"]
        with self.read() as txn:
            entries = {table: txn.count(table) for table in self._dbs if table != META_TABLE}
        return StoreStats(info["map_size"], (info["last_pgno"] + 1) * page_size, entries)

    def backup(self, out: str | Path) -> Path:
        """Write a compacted, consistent copy of the environment into the new directory ``out``
        while readers and writers carry on (a hot backup)."""
        target = Path(out)
        if os.path.lexists(target):
            raise StorageError(f"{target} already exists; back up into a new directory")
        copy_environment(self._env, make_dir(target))
        return target

    def close(self) -> None:
        """Close the environment; the store must not be used afterwards."""
        self._env.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _begin(self, *, write: bool) -> lmdb.Transaction[bytes]:
        with self._lock:
            self._active += 1
        try:
            try:
                return self._env.begin(write=write)
            except lmdb.MapResizedError:
                # Another process grew the map: adopt its size, then start again.
                self._adopt_map_size()
                return self._env.begin(write=write)
        except lmdb.Error as err:
            self._release()
            raise StorageError(f"cannot begin a transaction: {err}") from err
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        with self._lock:
            self._active -= 1

    def _map_size(self) -> int:
        return self._env.info()["map_size"]

    def _grow_if_needed(self) -> None:
        info = self._env.info()
        used = (info["last_pgno"] + 1) * self._env.stat()["psize"]
        if used >= info["map_size"] * GROW_AT:
            self._grow(force=False)

    def _grow(self, *, force: bool) -> None:
        """Double the map. set_mapsize invalidates this process's open transactions, so it only
        runs when there are none (a forced grow waits for them briefly)."""
        for _ in range(1000 if force else 1):
            with self._lock:
                if self._active == 0:
                    self._env.set_mapsize(self._map_size() * 2)
                    return
            threading.Event().wait(0.001)
        if force:
            raise StorageError("storage map is full and transactions stay open; cannot grow it")

    def _adopt_map_size(self) -> None:
        with self._lock:
            if self._active <= 1:
                self._env.set_mapsize(0)


def copy_environment(env: lmdb.Environment, directory: Path) -> None:
    """Write a compacted copy of ``env`` from one read snapshot as ``data.mdb`` in
    ``directory`` (mode 0600, flushed to disk). LMDB's own copy would create the file with mode
    0666 less the umask, so the file is made here and LMDB writes into it."""
    fd = create_file(directory / DATA_FILE)
    try:
        env.copyfd(fd, compact=True)
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_tables(
    env: lmdb.Environment,
    directory: Path,
    *,
    name: str,
    schema_version: int,
    tables: tuple[str, ...],
    retired: tuple[str, ...],
    readonly: bool,
    upgrades: Mapping[int, Upgrade],
) -> dict[str, lmdb._Database]:
    """Open (or create) the meta table and every named table, checking service and version,
    running the upgrade steps an older version needs, and drop the retired tables (when not
    read-only)."""
    if readonly:
        with env.begin() as txn:
            if txn.get(META_TABLE.encode()) is None:
                raise StorageError(f"{directory} is not a strato data directory")
        meta = env.open_db(META_TABLE.encode(), create=False)
        dbs = {META_TABLE: meta}
        with env.begin() as txn:
            _check_version(_stored_version(txn, meta, directory, name), directory, schema_version)
            for table in tables:
                if txn.get(table.encode()) is None:
                    raise StorageError(f"{directory} has no table {table!r}")
        for table in tables:
            dbs[table] = env.open_db(table.encode(), create=False)
        return dbs
    with env.begin(write=True) as txn:
        fresh = txn.get(META_TABLE.encode()) is None
        if fresh and txn.stat()["entries"] > 0:
            raise StorageError(f"{directory} holds an LMDB environment that strato did not write")
    meta = env.open_db(META_TABLE.encode(), create=True)
    with env.begin(write=True) as txn:
        if fresh:
            txn.put(META_SERVICE, name.encode(), db=meta)
            txn.put(META_SCHEMA_VERSION, u64(schema_version), db=meta)
            found = schema_version
        else:
            found = _stored_version(txn, meta, directory, name)
    steps = range(found, schema_version)
    if found > schema_version or not all(version in upgrades for version in steps):
        _check_version(found, directory, schema_version)
    dbs = {META_TABLE: meta}
    for table in tables:
        dbs[table] = env.open_db(table.encode(), create=True)
    if found != schema_version:
        with env.begin(write=True) as txn:
            upgrading = WriteTxn(txn, dbs, env)
            for version in steps:
                upgrades[version](upgrading)
            txn.put(META_SCHEMA_VERSION, u64(schema_version), db=meta)
    if retired:
        with env.begin(write=True) as txn:
            for table in retired:
                if txn.get(table.encode()) is not None:  # the main table lists the named ones
                    txn.drop(env.open_db(table.encode(), txn=txn, create=False), delete=True)
    return dbs


def _stored_version(
    txn: lmdb.Transaction[bytes], meta: lmdb._Database, directory: Path, name: str
) -> int:
    """The schema version the environment records, once its service is checked."""
    service = txn.get(META_SERVICE, db=meta)
    version = txn.get(META_SCHEMA_VERSION, db=meta)
    if service is None or version is None:
        raise StorageError(f"{directory}: the strato meta table is incomplete")
    if service.decode() != name:
        raise StorageError(f"{directory} belongs to the {service.decode()!r} service, not {name!r}")
    return from_u64(version)


def _check_version(found: int, directory: Path, schema_version: int) -> None:
    if found != schema_version:
        raise SchemaVersionError(
            f"{directory} has storage schema version {found}; this strato uses "
            f"{schema_version} (migrate or point at another data directory)"
        )
