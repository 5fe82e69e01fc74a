"""A verified repository CAR cut into pieces for an import's staging transactions.

An import writes the new repository into a space of its own (:meth:`RepoStore.begin_import`
and :meth:`RepoStore.stage`, see :mod:`strato.repo.store`) in as many transactions as the caller
likes, so that a large repository never holds the store's one writer for long.
:func:`staging_pieces` gives the pieces: first every distinct block of the tree (its nodes and
its records' values, byte for byte as the CAR has them) with its reference count, the number of
record paths whose value it is plus one if it is a node of the tree; then the record paths.
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
DEFAULT_PIECE_BYTES: Final = 1 << 20
#: Record paths per piece.
DEFAULT_PIECE_RECORDS: Final = 5000
#: Records or nodes read from the CAR per call (each call holds the GIL briefly).
_PAGE: Final = 2000


@dataclass(slots=True)
class StagingPiece:
    """Blocks ``(cid, bytes, references)`` and record paths ``(path, cid)`` to stage."""

    blocks: list[tuple[CID, bytes, int]] = field(default_factory=list)
    records: list[tuple[str, CID]] = field(default_factory=list)


def record_pages(repo: RepoCar) -> Iterator[list[tuple[str, CID]]]:
    """The CAR's ``(path, record CID)`` pairs a page at a time, in key order."""
    for start in range(0, repo.record_count, _PAGE):
        yield repo.records(start, start + _PAGE)


def reference_counts(repo: RepoCar) -> dict[CID, int]:
    """Every block of the tree and its reference count (see the module docstring)."""
    counts: dict[CID, int] = {}
    for page in record_pages(repo):
        for _, cid in page:
            counts[cid] = counts.get(cid, 0) + 1
    for start in range(0, repo.node_count, _PAGE):
        for cid, _ in repo.nodes(start, start + _PAGE):
            counts[cid] = counts.get(cid, 0) + 1
    return counts


def staging_pieces(
    repo: RepoCar,
    *,
    max_bytes: int = DEFAULT_PIECE_BYTES,
    max_records: int = DEFAULT_PIECE_RECORDS,
) -> Iterator[StagingPiece]:
    """The pieces that stage ``repo`` (see the module docstring), blocks first."""
    piece = StagingPiece()
    size = 0
    for cid, references in reference_counts(repo).items():
        data = repo.get(cid)
        assert data is not None  # the CAR was verified to hold every block of its tree
        piece.blocks.append((cid, data, references))
        size += len(data)
        if size >= max_bytes:
            yield piece
            piece, size = StagingPiece(), 0
    for page in record_pages(repo):
        for record in page:
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
    "record_pages",
    "reference_counts",
    "staging_pieces",
]
