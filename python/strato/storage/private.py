"""Private paths: everything strato keeps on disk is for its owner's eyes only, whatever the
process's umask.

The data directories hold what must not leak to other local users: emails, password hashes,
sealed keys, the master key, admin tokens, blobs. So every directory strato makes is mode 0700
and every file it writes is mode 0600. A mode given to ``mkdir`` or ``open`` only ever loses
bits to the umask, so each helper sets the mode again once the path exists (``chmod`` or
``fchmod``): with a umask of 0 nothing is added, and with one that took the owner's own bits the
path is still usable.

- :func:`make_dir`: a directory and the parents that are missing, each 0700; directories that
  already exist (the working directory, a parent the user made) are left as they are.
- :func:`create_file` and :func:`create_temp_file`: a new file, 0600, open for writing (the
  second under a random name, for write-then-rename).
- :func:`make_private`: a file a library created with a mode of its own (LMDB's ``data.mdb`` and
  ``lock.mdb``, a Unix socket), set to 0600.
- :func:`tighten`: at a service's start, its whole data directory: directories to 0700 and files
  to 0600 wherever group or others have any access (a tree written by an older strato, copied
  with ``cp -r``, or made by hand). One warning says how many paths changed and names the first
  few; symbolic links are neither followed nor changed. A path that cannot be changed (another
  owner's) stops the start with :class:`~strato.errors.StorageError`.

Not private on purpose: what a command writes to be shared, such as the lexicon documents of
``strato lexicon fetch --out`` (published data, meant for a repository) or the load generator's
synthetic datasets.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from strato.errors import StorageError

#: The mode of every directory strato makes.
DIR_MODE: Final = 0o700
#: The mode of every file strato writes.
FILE_MODE: Final = 0o600
#: How many tightened paths the warning names.
NAMED_IN_WARNING: Final = 5

log = logging.getLogger("strato.storage.private")


def make_dir(path: str | os.PathLike[str]) -> Path:
    """``path`` as a directory, made (with its missing parents) mode 0700 if it is not there;
    FileExistsError when something else than a directory is there."""
    target = Path(path)
    missing = []
    current = target
    while not os.path.lexists(current):
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process: its mode is its maker's business
        os.chmod(directory, DIR_MODE)
    if not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a directory")
    return target


def create_file(path: str | os.PathLike[str]) -> int:
    """A descriptor open for writing on the new file ``path`` (mode 0600); FileExistsError when
    ``path`` exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_temp_file(directory: str | os.PathLike[str], prefix: str) -> tuple[int, Path]:
    """A new file with a random name beginning with ``prefix`` in ``directory`` (mode 0600): a
    descriptor open for writing, and its path."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        Path(name).unlink(missing_ok=True)
        raise
    return fd, Path(name)


def make_private(path: str | os.PathLike[str]) -> None:
    """Set the file ``path`` to mode 0600."""
    os.chmod(path, FILE_MODE)


def tighten(root: str | os.PathLike[str]) -> list[Path]:
    """Make ``root`` and every directory under it 0700, and every other file under it 0600,
    where group or others have any access (owner-only modes are kept as they are); symbolic
    links below ``root`` are skipped. Logs one warning when anything changed; returns what did.
    :class:`StorageError` when a path cannot be read or changed."""
    top = Path(root)
    if not top.is_dir():
        return []
    changed = []
    try:
        for path, is_dir, mode in _walk(top):
            if mode & 0o077 and _chmod(path, DIR_MODE if is_dir else FILE_MODE):
                changed.append(Path(path))
    except OSError as err:
        raise StorageError(f"cannot make {err.filename or top} private: {err.strerror}") from err
    if changed:
        named = ", ".join(str(path) for path in changed[:NAMED_IN_WARNING])
        more = len(changed) - NAMED_IN_WARNING
        log.warning(
            "%d path(s) under %s were open to other users; made them owner-only "
            "(directories 0700, files 0600): %s%s",
            len(changed), top, named, f" and {more} more" if more > 0 else "",
            extra={"tightened": len(changed), "data_dir": str(top)},
        )  # fmt: skip
    return changed


def _walk(top: Path) -> Iterator[tuple[str, bool, int]]:
    """``top`` and everything under it but symbolic links, each with whether it is a directory
    and its permission bits. A path removed during the walk is passed over (a temporary file
    of a command working on the same directory)."""
    yield str(top), True, stat.S_IMODE(top.stat().st_mode)
    pending = [str(top)]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_symlink():
                        continue
                    is_dir = entry.is_dir(follow_symlinks=False)
                    mode = stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
                except FileNotFoundError:
                    continue
                yield entry.path, is_dir, mode
                if is_dir:
                    pending.append(entry.path)


def _chmod(path: str, mode: int) -> bool:
    """Set ``path``'s mode; False when it has gone meanwhile."""
    try:
        os.chmod(path, mode)
    except FileNotFoundError:
        return False
    return True
