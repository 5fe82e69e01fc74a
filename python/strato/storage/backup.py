"""Hot backup of a data directory: every LMDB environment in it copied consistently while the
services keep running, and every other file copied byte for byte.

A data directory is either one service's directory (it holds ``data.mdb``) or a directory of
them (``strato up`` keeps ``plc/``, ``pds/``, ... under one root); the backup mirrors the layout.
Each environment is copied from one read snapshot (``mdb_env_copyfd2`` with compaction), so the
copy is a state the service really had, without stopping writers. The copy is private as the
original should be, whatever the umask: directories 0700, files 0600 (every file is created by
:mod:`strato.storage.private` and then written, LMDB's copy included).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lmdb

from strato.errors import StorageError
from strato.storage.keys import from_u64
from strato.storage.private import create_file, make_dir
from strato.storage.store import (
    DATA_FILE,
    LOCK_FILE,
    META_SCHEMA_VERSION,
    META_SERVICE,
    META_TABLE,
    copy_environment,
)

# Named databases a backup may need to open to read the meta table: any number works, since
# opening the environment read-only creates nothing.
_MAX_DBS = 128


@dataclass(frozen=True, slots=True)
class BackedUp:
    """One copied environment: where it came from and went, its service, schema and size."""

    source: Path
    target: Path
    service: str
    schema_version: int
    size: int


def backup_data_dir(
    data_dir: str | Path,
    out: str | Path,
    progress: Callable[[BackedUp], None] | None = None,
) -> list[BackedUp]:
    """Copy every strato environment under ``data_dir`` (and the files beside them) into the
    new directory ``out``. Raises :class:`~strato.errors.StorageError` when ``data_dir`` holds no
    strato environment or ``out`` already exists."""
    source = Path(data_dir)
    target = Path(out)
    if not source.is_dir():
        raise StorageError(f"{source} is not a directory")
    if target.exists():
        raise StorageError(f"{target} already exists; back up into a new directory")
    if target.resolve().is_relative_to(source.resolve()):
        raise StorageError(f"{target} is inside {source}; back up somewhere else")
    environments = sorted(path.parent for path in source.rglob(DATA_FILE))
    if not environments:
        raise StorageError(f"{source} holds no strato data (no {DATA_FILE} in it)")
    make_dir(target)
    done = []
    for env_dir in environments:
        copied = _copy_environment(env_dir, target / env_dir.relative_to(source))
        done.append(copied)
        if progress is not None:
            progress(copied)
    for path in sorted(source.rglob("*")):
        if path.is_file() and path.name not in (DATA_FILE, LOCK_FILE):
            _copy_file(path, target / path.relative_to(source))
    return done


def _copy_file(source: Path, destination: Path) -> None:
    """Copy ``source``'s bytes and times (not its mode: the copy is 0600, as every file strato
    writes)."""
    make_dir(destination.parent)
    fd = create_file(destination)
    with os.fdopen(fd, "wb") as out, source.open("rb") as data:
        shutil.copyfileobj(data, out)
        out.flush()
        os.fsync(out.fileno())
    times = source.stat()
    os.utime(destination, ns=(times.st_atime_ns, times.st_mtime_ns))


def _copy_environment(source: Path, target: Path) -> BackedUp:
    try:
        env = lmdb.open(str(source), readonly=True, lock=True, max_dbs=_MAX_DBS)
    except lmdb.Error as err:
        raise StorageError(f"cannot open {source}: {err}") from err
    try:
        with env.begin() as txn:
            if txn.get(META_TABLE.encode()) is None:
                raise StorageError(f"{source} is not a strato data directory")
        meta = env.open_db(META_TABLE.encode(), create=False)
        with env.begin() as txn:
            service = txn.get(META_SERVICE, db=meta)
            version = txn.get(META_SCHEMA_VERSION, db=meta)
        if service is None or version is None:
            raise StorageError(f"{source}: the strato meta table is incomplete")
        copy_environment(env, make_dir(target))
    finally:
        env.close()
    size = (target / DATA_FILE).stat().st_size
    return BackedUp(source, target, service.decode(), from_u64(version), size)
