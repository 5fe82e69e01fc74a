"""CAR v1 files: the container for repositories and firehose diffs.

- :func:`read_car` reads a file held in memory into ``(roots, {cid: bytes})``, checking every
  block's hash (``verify=True``) with the GIL released.
- :class:`CarReader` streams a file larger than memory, yielding ``(cid, bytes)`` blocks.
- :func:`write_car` writes roots and ``(cid, bytes)`` blocks, in the order given.

Errors are :class:`strato.errors.CARError` with ``.reason`` and the file ``.offset``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO

from strato._core import CID, DEFAULT_MAX_BLOCK_SIZE, CarStreamReader, read_car, write_car

#: Bytes read from the file per native call.
CHUNK_SIZE = 1 << 20


class CarReader:
    """Streams the blocks of a CAR file without holding it in memory.

    ``source`` is a path or a binary file object. The header is read on construction, so
    ``roots`` is available at once; iterating yields every block as ``(CID, bytes)`` in file
    order, duplicates included. Use it as a context manager to close a file it opened.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        verify: bool = True,
        max_block_size: int = DEFAULT_MAX_BLOCK_SIZE,
    ) -> None:
        if isinstance(source, str | os.PathLike):
            self._file: BinaryIO = open(source, "rb")  # noqa: SIM115 (closed by close())
            self._owns_file = True
        else:
            self._file = source
            self._owns_file = False
        self._parser = CarStreamReader(verify=verify, max_block_size=max_block_size)
        self._pending: list[tuple[CID, bytes]] = []
        self._eof = False
        try:
            while self._parser.roots is None and not self._eof:
                self._fill()
            roots = self._parser.roots
            if roots is None:
                self._parser.finish()  # raises: the file ended inside the header
                raise AssertionError("unreachable: finish() accepted a file with no header")
        except BaseException:
            self.close()
            raise
        self.roots: list[CID] = roots

    def _fill(self) -> None:
        chunk = self._file.read(CHUNK_SIZE)
        if not chunk:
            self._eof = True
            return
        self._pending.extend(self._parser.feed(chunk))

    def __iter__(self) -> Iterator[tuple[CID, bytes]]:
        while True:
            if self._pending:
                pending, self._pending = self._pending, []
                yield from pending
            elif self._eof:
                self._parser.finish()
                return
            else:
                self._fill()

    def close(self) -> None:
        """Closes the file if this reader opened it."""
        if self._owns_file:
            self._file.close()

    def __enter__(self) -> CarReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["DEFAULT_MAX_BLOCK_SIZE", "CarReader", "read_car", "write_car"]
