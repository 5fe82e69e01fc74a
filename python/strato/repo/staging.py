"""A verified repository CAR cut into pieces for an import's staging transactions.

An import writes the new repository into a space of its own (:meth:`RepoStore.begin_import`
and :meth:`RepoStore.stage`, see :mod:`strato.repo.store`) in as many transactions as the caller
likes, so that a large repository never holds the store's one writer for long.
:func:`staging_pieces` gives the pieces: first every distinct block of the tree (its nodes and
its records' values, byte for byte as the CAR has them) with its reference count, the number of
record paths whose value it is plus one if it is a node of the tree (the CAR counted them,
:meth:`strato._core.RepoCar.blocks`), in CID order, so that each piece's puts land next to the
last piece's in the store's B-tree (random CIDs would touch a page per block, and a short
transaction would copy and write back hundreds of pages); then the record paths, in key order.
Each piece holds about ``max_bytes`` of block data, or ``max_records`` paths.

The pieces are made on the caller's thread, reading the CAR a page at a time, so that the
writer's transactions only store them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from strato._core import CID, RepoCar

#: Block bytes per piece: a few milliseconds of puts.
DEFAULT_PIECE_BYTES: Final = 128 << 10
#: Record paths per piece.
DEFAULT_PIECE_RECORDS: Final = 1000
#: Records or blocks read from the CAR per call (each call holds the GIL briefly).
_PAGE: Final = 1000


@dataclass(slots=True)
class StagingPiece:
    """Blocks ``(CID bytes, block bytes, references)`` and record paths ``(path, CID)`` to
    stage."""

    blocks: list[tuple[bytes, bytes, int]] = field(default_factory=list)
    records: list[tuple[str, CID]] = field(default_factory=list)


def record_pages(repo: RepoCar) -> Iterator[list[tuple[str, CID]]]:
    """The CAR's ``(path, record CID)`` pairs a page at a time, in key order."""
    for start in range(0, repo.record_count, _PAGE):
        yield repo.records(start, start + _PAGE)


def block_pages(repo: RepoCar) -> Iterator[list[tuple[bytes, bytes, int]]]:
    """The tree's distinct blocks with their reference counts, a page at a time."""
    for start in range(0, repo.block_count, _PAGE):
        yield repo.blocks(start, start + _PAGE)


def staging_pieces(
    repo: RepoCar,
    *,
    max_bytes: int = DEFAULT_PIECE_BYTES,
    max_records: int = DEFAULT_PIECE_RECORDS,
) -> Iterator[StagingPiece]:
    """The pieces that stage ``repo`` (see the module docstring), blocks first."""
    piece = StagingPiece()
    size = 0
    for blocks in block_pages(repo):
        for block in blocks:
            piece.blocks.append(block)
            size += len(block[1])
            if size >= max_bytes:
                yield piece
                piece, size = StagingPiece(), 0
    for records in record_pages(repo):
        for record in records:
            piece.records.append(record)
            if len(piece.records) >= max_records:
                yield piece
                piece = StagingPiece()
    if piece.blocks or piece.records:
        yield piece


__all__ = [
    "DEFAULT_PIECE_BYTES",
    "DEFAULT_PIECE_RECORDS",
    "StagingPiece",
    "block_pages",
    "record_pages",
    "staging_pieces",
]
