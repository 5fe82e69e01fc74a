"""Repository blocks in LMDB, seen as the ``Mapping[CID, bytes]`` that :mod:`strato.repo.mst`
reads trees from.

Blocks are kept per repository *space*: the key is ``owner NUL cid-bytes``, so a block is
stored once per space however many records or tree nodes use it, a space's blocks are one
contiguous key range (export is a range scan, dropping a space a range delete), and no count is
shared between accounts. The owner of space 0, where every repository starts, is the DID
itself; a later space (a repository replaced by an import, see :mod:`strato.repo.store`) is
owned by ``did#n``, which no DID can equal (``#`` is not a DID character), so the spaces of one
account never overlap. :class:`TxnBlocks` reads them inside a caller's transaction;
:class:`Overlay` puts blocks not yet written (a commit being prepared) in front of it;
:class:`CarBlocks` reads the blocks of a verified repository CAR.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from strato._core import CID, RepoCar
from strato.storage import ReadTxn, prefix


def space_owner(did: str, space: int) -> str:
    """The first part of the keys of space ``space`` of ``did``'s repository."""
    return did if space == 0 else f"{did}#{space}"


def repo_prefix(owner: str) -> bytes:
    """The key prefix of every entry of a space (its owner, :func:`space_owner`)."""
    return prefix(owner)


def block_key(owner: str, cid: CID) -> bytes:
    """The key of a block of a space."""
    return prefix(owner) + bytes(cid)


class TxnBlocks(Mapping[CID, bytes]):
    """The blocks of one repository space inside a read or write transaction. Blocks read are kept
    (a block's bytes never change, its CID is their hash), so the tree walks of one commit
    read each node from LMDB once; use one instance per operation."""

    def __init__(self, txn: ReadTxn, table: str, owner: str) -> None:
        self._txn = txn
        self._table = table
        self._prefix = repo_prefix(owner)
        self._seen: dict[CID, bytes] = {}

    def get(self, key: CID, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        found = self._seen.get(key)
        if found is None:
            found = self._txn.get(self._table, self._prefix + bytes(key))
            if found is None:
                return default
            self._seen[key] = found
        return found

    def __getitem__(self, key: CID) -> bytes:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, CID):
            return False
        return self.get(key) is not None

    def __iter__(self) -> Iterator[CID]:
        cut = len(self._prefix)
        for key, _ in self._txn.items(self._table, prefix=self._prefix):
            yield CID.decode(key[cut:])

    def __len__(self) -> int:
        return sum(1 for _ in self._txn.items(self._table, prefix=self._prefix))


class Overlay(Mapping[CID, bytes]):
    """``front`` (blocks being written) over ``back`` (blocks already stored)."""

    def __init__(self, front: Mapping[CID, bytes], back: Mapping[CID, bytes]) -> None:
        self._front = front
        self._back = back

    def get(self, key: CID, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        found = self._front.get(key)
        if found is None:
            found = self._back.get(key)
        return default if found is None else found

    def __getitem__(self, key: CID) -> bytes:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return key in self._front or key in self._back

    def __iter__(self) -> Iterator[CID]:
        yield from self._front
        for cid in self._back:
            if cid not in self._front:
                yield cid

    def __len__(self) -> int:
        return sum(1 for _ in self)


class CarBlocks(Mapping[CID, bytes]):
    """The blocks of a verified repository CAR (:func:`strato.repo.verify.read_repo`), each
    read when asked for; iteration gives those of the tree (its nodes, then its records)."""

    def __init__(self, repo: RepoCar) -> None:
        self._repo = repo

    def get(self, key: CID, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        found = self._repo.get(key)
        return default if found is None else found

    def __getitem__(self, key: CID) -> bytes:
        found = self._repo.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, CID) and self._repo.get(key) is not None

    def __iter__(self) -> Iterator[CID]:
        for raw, _, _ in self._repo.blocks(0, self._repo.block_count):
            yield CID.decode(raw)

    def __len__(self) -> int:
        return self._repo.block_count


__all__ = ["CarBlocks", "Overlay", "TxnBlocks", "block_key", "repo_prefix", "space_owner"]
