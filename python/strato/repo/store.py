"""Repositories on LMDB: create, apply write batches as signed commits, read records, export,
diff since a rev, prove a record, import a CAR.

:class:`RepoStore` does the work inside a transaction the caller owns, so a PDS puts a commit's
blocks, record index and root together with its own rows (the firehose event log) in one LMDB
write transaction, and may put several commits in one (group commit). Every check of a write
batch runs before its first put: a refused batch raises and leaves the transaction as it was,
so the other commits of a group go on. :class:`strato.repo.Repo` (``repo/local.py``) wraps it
with one transaction per call for simple users and tests.

Tables (named with a prefix, ``repo_`` by default; :data:`REPO_TABLES` lists them):

=============  ==========================================  ===================================
table          key                                         value
=============  ==========================================  ===================================
``roots``      did                                         ``[commit CID, rev, data CID, space,
                                                           base]``
``blocks``     owner NUL cid                               block bytes
``blockmeta``  owner NUL cid                               u64 references, then the rev that
                                                           stored the block
``blockrevs``  owner NUL rev NUL cid                       empty (blocks by rev, for ``since``)
``records``    owner NUL collection NUL rkey               record CID
``spaces``     did NUL u64 space                           ``staging`` or ``retired``
=============  ==========================================  ===================================

A repository lives in a *space*: the keys of its blocks and records start with the space's
owner, the DID for space 0 and ``did#n`` for space n (:func:`strato.repo.blocks.space_owner`);
the root names the current space. Readers find the space in the root, so they only ever see
the current one. A repository's current space holds exactly its current commit, the nodes of
its current tree and its current records' values. A block's reference count is the number of
record paths whose value it is, plus one if it is a node of the current tree, plus one if it is
the current commit; at zero the block goes. So an export is one range scan, and the diff since a
rev is the blocks stored by later revs that are still there, as the reference PDS serves it
(``blockrevs`` indexes them; the blocks an import stages need no entry, see below).

Imports replace a repository without one large transaction (a 50 MB repository would hold the
store's writer for seconds): :meth:`RepoStore.begin_import` opens a new space marked
``staging`` in ``spaces``; :meth:`RepoStore.stage` writes pieces of the new repository into it
(:mod:`strato.repo.staging`), in as many short transactions as the caller likes, unseen by any
reader; :meth:`RepoStore.finish_import` then, in one small transaction, signs a new commit of the
staged tree with a fresh rev after the current one, points the root at the new space and marks
the old space ``retired``; :meth:`RepoStore.drop_space` removes a retired space a bounded number
of entries at a time. A crash at any point leaves the old repository or the new one whole;
:meth:`RepoStore.reclaim` (at the next start) retires what an unfinished import staged, and the
retired spaces are then dropped. Every block of a space staged by an import was stored by the
import's commit, so ``since`` a rev before the root's ``base`` (that commit's rev) is the whole
repository, and since a later rev none of them: they have no ``blockrevs`` entry. Storage schema
version 1 had no spaces: its roots were ``[commit, rev, data]``, its keys those of space 0
(:meth:`RepoStore.add_spaces` upgrades it).

Tricky bits:

- Every ``RepoStore`` read and write takes the DID explicitly; nothing is cached between calls,
  so any number of stores, threads and processes may share the environment.
- ``ops`` come from the MST: a write that leaves a record unchanged makes no op, but the commit
  is still made (a new rev), as an empty batch is.
- Record paths may appear once per batch: a consumer inverting the commit needs one op per
  path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from strato import car, dagcbor
from strato._core import CID, PrivateKey, tid_next
from strato.errors import (
    BlockNotFoundError,
    ImportInProgressError,
    InvalidSwapError,
    InvalidWriteError,
    RecordExistsError,
    RecordNotFoundError,
    RepoExistsError,
    RepoNotFoundError,
)
from strato.repo import mst
from strato.repo.blocks import Overlay, TxnBlocks, block_key, repo_prefix, space_owner
from strato.repo.commit import next_rev, sign_commit
from strato.repo.staging import StagingPiece
from strato.repo.writes import (
    MAX_WRITES,
    UNCHECKED,
    CommitData,
    Create,
    Delete,
    SwapRecord,
    Update,
    Write,
    WriteResult,
    blob_refs,
)
from strato.storage import ReadTxn, WriteTxn, from_u64, prefix_end, split_key, text_key, u64
from strato.sync import MAX_COMMIT_BLOCKS, MAX_RECORD_SIZE
from strato.syntax import DID, NSID, TID, RecordKey

#: Bytes per chunk of a streamed CAR export.
EXPORT_CHUNK = 1 << 16

_EMPTY_ROOT, _EMPTY_NODES = mst.build([])
#: The states of a space in ``spaces`` (the current space has no row).
STAGING: Final = b"staging"
RETIRED: Final = b"retired"


@dataclass(frozen=True, slots=True)
class RepoHead:
    """A repository's current commit: its CID, rev and MST root, the space holding its blocks
    and records, and the rev of the import that filled that space (None for space 0)."""

    commit: CID
    rev: str
    data: CID
    space: int = 0
    base: str | None = None

    def owner(self, did: str) -> str:
        """The owner of the keys of the repository's space."""
        return space_owner(did, self.space)


@dataclass(frozen=True, slots=True)
class RecordData:
    """A stored record: its CID and its DAG-CBOR bytes."""

    collection: str
    rkey: str
    cid: CID
    value: bytes


@dataclass(frozen=True, slots=True)
class RecordPage:
    """A page of :meth:`RepoStore.list_records`; ``cursor`` is None on the last page."""

    records: list[RecordData]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class ImportResult:
    """An import that took effect: the repository's head before it (None when there was no
    repository) and after it, and the new commit's signed bytes."""

    previous: RepoHead | None
    head: RepoHead
    commit_block: bytes


@dataclass(frozen=True, slots=True)
class Staging:
    """An import's staging space (:meth:`RepoStore.begin_import`): the repository's DID, the
    space's number, and the rev its blocks are stored under (after the repository's rev when
    the import began and after the imported commit's)."""

    did: str
    space: int
    rev: str


@dataclass(slots=True)
class _Prepared:
    """A write batch checked and computed, nothing stored yet."""

    old_data: CID
    results: list[WriteResult]
    record_blocks: dict[CID, bytes]
    applied: mst.Applied
    view: Overlay


class RepoStore:
    """Repositories in the tables named ``<prefix>roots``, ``<prefix>blocks``, ... of a
    :class:`strato.storage.Store` (see the module docstring)."""

    def __init__(self, prefix: str = "repo_") -> None:
        self.roots = f"{prefix}roots"
        self.blocks = f"{prefix}blocks"
        self.blockmeta = f"{prefix}blockmeta"
        self.blockrevs = f"{prefix}blockrevs"
        self.records = f"{prefix}records"
        self.spaces = f"{prefix}spaces"
        #: The tables to open the store with.
        self.tables: tuple[str, ...] = (
            self.roots,
            self.blocks,
            self.blockmeta,
            self.blockrevs,
            self.records,
            self.spaces,
        )
        #: The tables keyed by a space's owner.
        self._space_tables = (self.blocks, self.blockmeta, self.blockrevs, self.records)

    # -- heads ----------------------------------------------------------------------------------

    def head(self, txn: ReadTxn, did: str) -> RepoHead | None:
        """The current commit of ``did``'s repository, or None when there is none."""
        raw = txn.get(self.roots, did.encode())
        return None if raw is None else _decode_head(raw)

    def latest(self, txn: ReadTxn, did: str) -> RepoHead:
        """The current commit (``com.atproto.sync.getLatestCommit``); RepoNotFoundError."""
        head = self.head(txn, did)
        if head is None:
            raise RepoNotFoundError(f"no repository for {did}")
        return head

    def list_repos(
        self, txn: ReadTxn, *, cursor: str | None = None, limit: int = 500
    ) -> list[tuple[str, RepoHead]]:
        """Repositories in DID order after ``cursor`` (``com.atproto.sync.listRepos``)."""
        start = None if cursor is None else cursor.encode() + b"\x00"
        found = []
        for key, raw in txn.items(self.roots, start, limit=limit):
            found.append((key.decode(), _decode_head(raw)))
        return found

    # -- writes ---------------------------------------------------------------------------------

    def create(
        self, txn: WriteTxn, did: str, signing_key: PrivateKey, writes: Sequence[Create] = ()
    ) -> CommitData:
        """Creates ``did``'s repository with a first commit (empty, or holding ``writes``);
        RepoExistsError if it has one."""
        DID(did)
        if self.head(txn, did) is not None:
            raise RepoExistsError(f"a repository for {did} already exists")
        return self._commit(txn, did, None, writes, signing_key)

    def apply_writes(
        self,
        txn: WriteTxn,
        did: str,
        writes: Sequence[Write],
        signing_key: PrivateKey,
        *,
        swap_commit: CID | None = None,
    ) -> CommitData:
        """Applies a batch of writes as one signed commit. Raises, writing nothing:
        RepoNotFoundError, InvalidSwapError (``swap_commit`` is not the current commit, or a
        write's ``swap_record`` does not match), RecordExistsError / RecordNotFoundError,
        IdentifierError (a bad collection NSID or record key), EncodeError (a value with no
        DAG-CBOR form), InvalidWriteError (too many writes, a path twice, a record that is not a
        map with ``$type`` or is over :data:`strato.sync.MAX_RECORD_SIZE`, a commit slice over
        the event limit)."""
        head = self.latest(txn, did)
        if swap_commit is not None and swap_commit != head.commit:
            raise InvalidSwapError(
                f"commit was at {head.commit.encode()}, not {swap_commit.encode()}", head.commit
            )
        return self._commit(txn, did, head, writes, signing_key)

    def _commit(
        self,
        txn: WriteTxn,
        did: str,
        head: RepoHead | None,
        writes: Sequence[Write],
        signing_key: PrivateKey,
    ) -> CommitData:
        prepared = self._prepare(txn, did, head, writes)
        applied = prepared.applied
        owner = did if head is None else head.owner(did)
        rev = next_rev(None if head is None else head.rev)
        commit_cid, commit_bytes = sign_commit(did, rev, applied.root, signing_key)
        proof = mst.proof_nodes(prepared.view, applied.root, applied.ops)
        slice_blocks = [(commit_cid, commit_bytes)]
        slice_blocks += [(cid, prepared.view[cid]) for cid in proof]
        slice_blocks += [
            (op.cid, prepared.record_blocks[op.cid]) for op in applied.ops if op.cid is not None
        ]
        blocks = car.write_car([commit_cid], slice_blocks)
        if len(blocks) > MAX_COMMIT_BLOCKS:
            raise InvalidWriteError(
                f"the commit's blocks are {len(blocks)} bytes, over the event limit of "
                f"{MAX_COMMIT_BLOCKS}"
            )
        # Everything is checked: store it.
        diff = mst.diff(prepared.view, prepared.old_data if head else None, applied.root)
        deltas: dict[CID, int] = {commit_cid: 1}
        if head is not None:
            _count(deltas, head.commit, -1)
        for cid in diff.new_nodes:
            _count(deltas, cid, 1)
        for cid in diff.removed_nodes:
            _count(deltas, cid, -1)
        for op in applied.ops:
            if op.cid is not None:
                _count(deltas, op.cid, 1)
            if op.prev is not None:
                _count(deltas, op.prev, -1)
        fresh = Overlay({commit_cid: commit_bytes, **prepared.record_blocks}, prepared.view)
        self._apply_references(txn, owner, deltas, fresh, rev)
        for op in applied.ops:
            collection, rkey = op.path.split("/", 1)
            key = text_key(owner, collection, rkey)
            if op.cid is None:
                txn.delete(self.records, key)
            else:
                txn.put(self.records, key, bytes(op.cid))
        space, base = (0, None) if head is None else (head.space, head.base)
        self._set_head(txn, did, RepoHead(commit_cid, rev, applied.root, space, base))
        blobs: dict[CID, None] = {}
        for result in prepared.results:
            blobs.update(dict.fromkeys(result.blobs))
        return CommitData(
            did=did,
            commit=commit_cid,
            rev=rev,
            since=None if head is None else head.rev,
            data=applied.root,
            prev_data=None if head is None else head.data,
            ops=applied.ops,
            blocks=blocks,
            results=prepared.results,
            blobs=list(blobs),
        )

    def _prepare(
        self, txn: WriteTxn, did: str, head: RepoHead | None, writes: Sequence[Write]
    ) -> _Prepared:
        """Checks every write and computes the new tree, storing nothing."""
        if len(writes) > MAX_WRITES:
            raise InvalidWriteError(f"{len(writes)} writes in one batch; the most is {MAX_WRITES}")
        results: list[WriteResult] = []
        record_blocks: dict[CID, bytes] = {}
        changes: list[tuple[str, CID | None]] = []
        seen: set[str] = set()
        owner = did if head is None else head.owner(did)
        for write in writes:
            collection = NSID(write.collection)
            rkey = RecordKey(tid_next() if write.rkey is None else write.rkey)
            path = f"{collection}/{rkey}"
            if path in seen:
                raise InvalidWriteError(f"{path} is written twice in one batch")
            seen.add(path)
            current = self._record_cid(txn, owner, collection, rkey)
            _check_swap(write, path, current)
            if isinstance(write, Delete):
                if current is None:
                    raise RecordNotFoundError(f"no record at {path} to delete", path)
                results.append(WriteResult("delete", collection, rkey, None))
                changes.append((path, None))
                continue
            if isinstance(write, Create) and current is not None:
                raise RecordExistsError(f"a record already exists at {path}", path)
            if isinstance(write, Update) and current is None:
                raise RecordNotFoundError(f"no record at {path} to update", path)
            cid, data = _encode_record(write.value, path)
            record_blocks[cid] = data
            action: Literal["create", "update"] = (
                "create" if isinstance(write, Create) else "update"
            )
            results.append(
                WriteResult(action, collection, rkey, cid, tuple(blob_refs(write.value)))
            )
            changes.append((path, cid))
        stored = TxnBlocks(txn, self.blocks, owner)
        base: Mapping[CID, bytes] = stored if head is not None else Overlay(_EMPTY_NODES, stored)
        old_data = _EMPTY_ROOT if head is None else head.data
        applied = mst.apply(base, old_data, changes)
        view = Overlay(applied.blocks, base)
        return _Prepared(old_data, results, record_blocks, applied, view)

    def _apply_references(
        self,
        txn: WriteTxn,
        owner: str,
        deltas: dict[CID, int],
        blocks: Mapping[CID, bytes],
        rev: str,
    ) -> None:
        """Changes the reference counts of a space's blocks; stores blocks that gain their
        first, drops those that lose their last."""
        base = repo_prefix(owner)
        for cid, delta in deltas.items():
            if delta == 0:
                continue
            raw = bytes(cid)
            key = base + raw
            meta = txn.get(self.blockmeta, key)
            count = 0 if meta is None else from_u64(meta[:8])
            now = count + delta
            if now < 0:
                raise AssertionError(f"block {cid} of {owner} has a negative reference count")
            if now == 0:
                assert meta is not None
                txn.delete(self.blocks, key)
                txn.delete(self.blockmeta, key)
                txn.delete(self.blockrevs, base + meta[8:] + b"\x00" + raw)
            elif meta is None:
                txn.put(self.blocks, key, blocks[cid])
                txn.put(self.blockmeta, key, u64(now) + rev.encode())
                txn.put(self.blockrevs, base + rev.encode() + b"\x00" + raw, b"")
            else:
                txn.put(self.blockmeta, key, u64(now) + meta[8:])

    def _set_head(self, txn: WriteTxn, did: str, head: RepoHead) -> None:
        row = [head.commit, head.rev, head.data, head.space, head.base]
        txn.put(self.roots, did.encode(), dagcbor.encode(row))

    def destroy(self, txn: WriteTxn, did: str) -> bool:
        """Deletes ``did``'s repository and every block, index entry and record of it, in every
        space (an unfinished import's too); False when there was none."""
        head = self.head(txn, did)
        spaces = list(self._spaces(txn, did))
        if head is None and not spaces:
            return False
        for space in spaces if head is None else [head.space, *spaces]:
            start = repo_prefix(space_owner(did, space))
            for table in self._space_tables:
                txn.delete_range(table, start, prefix_end(start))
        txn.delete_range(self.spaces, repo_prefix(did), prefix_end(repo_prefix(did)))
        txn.delete(self.roots, did.encode())
        return head is not None

    # -- records --------------------------------------------------------------------------------

    def _owner(self, txn: ReadTxn, did: str) -> str:
        """The owner of the keys of ``did``'s current space; RepoNotFoundError."""
        return self.latest(txn, did).owner(did)

    def _record_cid(self, txn: ReadTxn, owner: str, collection: str, rkey: str) -> CID | None:
        raw = txn.get(self.records, text_key(owner, collection, rkey))
        return None if raw is None else CID.decode(raw)

    def get_record(self, txn: ReadTxn, did: str, collection: str, rkey: str) -> RecordData | None:
        """The record at ``collection/rkey``, or None (RepoNotFoundError: no repository)."""
        owner = self._owner(txn, did)
        cid = self._record_cid(txn, owner, NSID(collection), RecordKey(rkey))
        if cid is None:
            return None
        return RecordData(collection, rkey, cid, self._block(txn, owner, cid))

    def list_records(
        self,
        txn: ReadTxn,
        did: str,
        collection: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        reverse: bool = False,
    ) -> RecordPage:
        """Records of one collection by record key, from the highest down (the reference PDS's
        order) or, with ``reverse``, from the lowest up; ``cursor`` is the last record key of
        the previous page (exclusive)."""
        owner = self._owner(txn, did)
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        base = text_key(owner, NSID(collection)) + b"\x00"
        if cursor is None:
            start, stop = None, None
        elif reverse:
            start, stop = base + cursor.encode() + b"\x00", None
        else:
            start, stop = None, base + cursor.encode()
        records = []
        rows = txn.items(
            self.records, start, stop, prefix=base, reverse=not reverse, limit=limit + 1
        )
        for key, raw in rows:
            rkey = key[len(base) :].decode()
            cid = CID.decode(raw)
            records.append(RecordData(collection, rkey, cid, self._block(txn, owner, cid)))
        if len(records) > limit:
            records.pop()
            return RecordPage(records, records[-1].rkey)
        return RecordPage(records, None)

    def has_record(self, txn: ReadTxn, did: str, path: str) -> bool:
        """Whether the repository holds a record at ``path`` (``collection/rkey``)."""
        collection, _, rkey = path.partition("/")
        return self._record_cid(txn, self._owner(txn, did), collection, rkey) is not None

    def record_cids(self, txn: ReadTxn, did: str) -> Iterator[tuple[str, CID]]:
        """Every record of the repository as ``(path, CID)``, in the index's order (collection,
        then record key)."""
        base = repo_prefix(self._owner(txn, did))
        for key, raw in txn.items(self.records, prefix=base):
            collection, rkey = key[len(base) :].decode().split("\x00")
            yield f"{collection}/{rkey}", CID.decode(raw)

    def collections(self, txn: ReadTxn, did: str) -> list[str]:
        """The collections holding at least one record, sorted (``describeRepo``)."""
        owner = self._owner(txn, did)
        base = repo_prefix(owner)
        found: list[str] = []
        start: bytes | None = None
        while True:
            first = next(txn.items(self.records, start, prefix=base, limit=1), None)
            if first is None:
                return found
            collection = split_key(first[0])[1]
            found.append(collection)
            start = text_key(owner, collection) + b"\x01"

    def counts(self, txn: ReadTxn, did: str) -> tuple[int, int]:
        """How many blocks the repository holds and how many records are indexed."""
        base = repo_prefix(self._owner(txn, did))
        blocks = sum(1 for _ in txn.items(self.blocks, prefix=base))
        return blocks, sum(1 for _ in txn.items(self.records, prefix=base))

    def _block(self, txn: ReadTxn, owner: str, cid: CID) -> bytes:
        data = txn.get(self.blocks, block_key(owner, cid))
        if data is None:
            raise AssertionError(f"block {cid} of {owner} is indexed but not stored")
        return data

    # -- sync -----------------------------------------------------------------------------------

    def get_blocks(self, txn: ReadTxn, did: str, cids: Iterable[CID]) -> list[tuple[CID, bytes]]:
        """The blocks with these CIDs (``com.atproto.sync.getBlocks``); BlockNotFoundError
        listing those the repository does not hold."""
        owner = self._owner(txn, did)
        found: list[tuple[CID, bytes]] = []
        missing: list[CID] = []
        for cid in cids:
            data = txn.get(self.blocks, block_key(owner, cid))
            if data is None:
                missing.append(cid)
            else:
                found.append((cid, data))
        if missing:
            names = ", ".join(cid.encode() for cid in missing)
            raise BlockNotFoundError(f"blocks not found: {names}", list(missing))
        return found

    def commit_car(self, txn: ReadTxn, did: str) -> bytes:
        """A CAR holding only the current commit (a ``#sync`` event's ``blocks``)."""
        head = self.latest(txn, did)
        commit = self._block(txn, head.owner(did), head.commit)
        return car.write_car([head.commit], [(head.commit, commit)])

    def record_proof(self, txn: ReadTxn, did: str, collection: str, rkey: str) -> bytes:
        """``com.atproto.sync.getRecord``: a CAR of the commit, the MST nodes on the path to
        ``collection/rkey`` and the record, or, when it is absent, the nodes proving that."""
        head = self.latest(txn, did)
        path = f"{NSID(collection)}/{RecordKey(rkey)}"
        stored = TxnBlocks(txn, self.blocks, head.owner(did))
        value, nodes = mst.record_proof(stored, head.data, path)
        wanted = [head.commit, *nodes] + ([] if value is None else [value])
        return car.write_car([head.commit], [(cid, stored[cid]) for cid in wanted])

    def export(
        self, txn: ReadTxn, did: str, *, since: str | None = None, chunk_size: int = EXPORT_CHUNK
    ) -> Iterator[bytes]:
        """The repository as a CAR (``com.atproto.sync.getRepo``), in chunks of about
        ``chunk_size`` bytes: the commit first (the root), then every block, or with ``since``
        (a TID) only the blocks stored by later commits that are still in the repository (all
        of them when ``since`` is before the import that filled the repository's space). The
        transaction must stay open while the chunks are read."""
        head = self.latest(txn, did)
        owner = head.owner(did)
        commit_key = block_key(owner, head.commit)
        base = repo_prefix(owner)
        parts = [
            car.write_car([head.commit], []),
            _frame(bytes(head.commit), txn.get(self.blocks, commit_key) or b""),
        ]
        size = sum(map(len, parts))
        since = None if since is None else TID(since)
        if since is None or (head.base is not None and since < head.base):
            cut = len(base)
            rows: Iterator[tuple[bytes, bytes]] = (
                (key[cut:], value)
                for key, value in txn.items(self.blocks, prefix=base)
                if key != commit_key
            )
        else:
            rows = self._blocks_since(txn, owner, since, commit_key)
        for cid_bytes, data in rows:
            frame = _frame(cid_bytes, data)
            parts.append(frame)
            size += len(frame)
            if size >= chunk_size:
                yield b"".join(parts)
                parts, size = [], 0
        if parts:
            yield b"".join(parts)

    def _blocks_since(
        self, txn: ReadTxn, owner: str, since: str, commit_key: bytes
    ) -> Iterator[tuple[bytes, bytes]]:
        base = repo_prefix(owner)
        start = base + since.encode() + b"\x01"
        for key, _ in txn.items(self.blockrevs, start, prefix=base):
            cid_bytes = key[key.index(b"\x00", len(base)) + 1 :]
            data_key = base + cid_bytes
            if data_key == commit_key:
                continue
            data = txn.get(self.blocks, data_key)
            if data is None:
                raise AssertionError(f"block of {owner} is indexed by rev but not stored")
            yield cid_bytes, data

    # -- imports --------------------------------------------------------------------------------

    def _spaces(self, txn: ReadTxn, did: str) -> dict[int, bytes]:
        """The spaces of ``did`` other than the current one, with their states."""
        base = repo_prefix(did)
        return {
            from_u64(key[len(base) :]): state for key, state in txn.items(self.spaces, prefix=base)
        }

    def _space_key(self, did: str, space: int) -> bytes:
        return repo_prefix(did) + u64(space)

    def begin_import(self, txn: WriteTxn, did: str, *, after: str | None = None) -> Staging:
        """Opens a new space, marked ``staging``, for an import into ``did``'s repository of a
        commit whose rev is ``after``; ImportInProgressError when an import into it is staging
        already."""
        DID(did)
        spaces = self._spaces(txn, did)
        if STAGING in spaces.values():
            raise ImportInProgressError(f"an import into the repository of {did} is in progress")
        head = self.head(txn, did)
        space = 1 + max([0 if head is None else head.space, *spaces])
        txn.put(self.spaces, self._space_key(did, space), STAGING)
        return Staging(did, space, _rev_after(after, head))

    def check_staging(self, txn: ReadTxn, staging: Staging) -> None:
        """RepoNotFoundError unless the import is still staging (its repository was not deleted,
        no restart ended it)."""
        if txn.get(self.spaces, self._space_key(staging.did, staging.space)) != STAGING:
            raise RepoNotFoundError(
                f"the import into the repository of {staging.did} was cancelled (the repository "
                "was deleted, or a restart ended the import)"
            )

    def stage(self, txn: WriteTxn, staging: Staging, piece: StagingPiece) -> None:
        """Writes a piece of an import (:mod:`strato.repo.staging`) into its staging space.
        RepoNotFoundError when the import was cancelled."""
        self.check_staging(txn, staging)
        owner = space_owner(staging.did, staging.space)
        base = repo_prefix(owner)
        stored_at = staging.rev.encode()
        txn.put_many(self.blocks, [(base + cid, data) for cid, data, _ in piece.blocks])
        txn.put_many(
            self.blockmeta,
            [(base + cid, u64(references) + stored_at) for cid, _, references in piece.blocks],
        )
        records = []
        for path, cid in piece.records:
            collection, rkey = path.split("/", 1)
            records.append((text_key(owner, collection, rkey), bytes(cid)))
        txn.put_many(self.records, records)

    def finish_import(
        self, txn: WriteTxn, staging: Staging, data: CID, signing_key: PrivateKey
    ) -> ImportResult:
        """Makes the staged space the repository: a new commit of the staged tree ``data``,
        signed with ``signing_key``, whose rev is a fresh TID after the current rev (a write
        may have landed since the import began) and after the staging rev; the previous space
        is retired. RepoNotFoundError when the import was cancelled."""
        self.check_staging(txn, staging)
        did, space = staging.did, staging.space
        previous = self.head(txn, did)
        rev = _rev_after(staging.rev, previous)
        commit_cid, commit_bytes = sign_commit(did, rev, data, signing_key)
        owner = space_owner(did, space)
        self._apply_references(txn, owner, {commit_cid: 1}, {commit_cid: commit_bytes}, rev)
        head = RepoHead(commit_cid, rev, data, space, rev)
        self._set_head(txn, did, head)
        txn.delete(self.spaces, self._space_key(did, space))
        if previous is not None:
            txn.put(self.spaces, self._space_key(did, previous.space), RETIRED)
        return ImportResult(previous, head, commit_bytes)

    def abandon_import(self, txn: WriteTxn, staging: Staging) -> None:
        """Retires the staging space of an import that will not finish (:meth:`drop_space`
        then removes it)."""
        key = self._space_key(staging.did, staging.space)
        if txn.get(self.spaces, key) == STAGING:
            txn.put(self.spaces, key, RETIRED)

    def drop_space(self, txn: WriteTxn, did: str, space: int, *, limit: int) -> bool:
        """Removes up to ``limit`` entries of a retired space of ``did``; True once it is gone
        (its row in ``spaces`` too), or was already (the repository was deleted meanwhile)."""
        state = txn.get(self.spaces, self._space_key(did, space))
        if state is None:
            return True
        if state != RETIRED:
            raise AssertionError(f"space {space} of {did} is not retired")
        start = repo_prefix(space_owner(did, space))
        left = limit
        for table in self._space_tables:
            keys = [key for key, _ in txn.items(table, prefix=start, limit=left)]
            for key in keys:
                txn.delete(table, key)
            left -= len(keys)
            if left <= 0:
                return False
        txn.delete(self.spaces, self._space_key(did, space))
        return True

    def reclaim(self, txn: WriteTxn) -> list[tuple[str, int]]:
        """After a restart: retires every space an unfinished import was staging, and returns
        every retired space as ``(did, space)`` (for :meth:`drop_space`)."""
        retired = []
        for key, state in list(txn.items(self.spaces)):
            if state == STAGING:
                txn.put(self.spaces, key, RETIRED)
            did = key[:-9].decode()
            retired.append((did, from_u64(key[-8:])))
        return retired

    def add_spaces(self, txn: WriteTxn) -> None:
        """The storage upgrade from schema version 1, which had no spaces: each root
        ``[commit, rev, data]`` becomes ``[commit, rev, data, 0, None]`` (its keys are space
        0's already)."""
        for key, raw in list(txn.items(self.roots)):
            commit, rev, data = dagcbor.decode(raw)
            txn.put(self.roots, key, dagcbor.encode([commit, rev, data, 0, None]))


def _rev_after(rev: str | None, head: RepoHead | None) -> str:
    """A fresh rev after ``rev`` (when given) and after ``head``'s (when there is one)."""
    known = [found for found in (rev, None if head is None else head.rev) if found is not None]
    return next_rev(max(known) if known else None)


def _decode_head(raw: bytes) -> RepoHead:
    commit, rev, data, space, base = dagcbor.decode(raw)
    return RepoHead(commit, rev, data, space, base)


def _count(deltas: dict[CID, int], cid: CID, delta: int) -> None:
    deltas[cid] = deltas.get(cid, 0) + delta


def _check_swap(write: Write, path: str, current: CID | None) -> None:
    """The reference PDS's ``swapRecord`` rules (see :mod:`strato.repo.writes`)."""
    swap: SwapRecord = write.swap_record
    if swap is UNCHECKED:
        return
    if isinstance(write, Create) and swap is not None:
        raise InvalidSwapError(f"a create swaps only with no record (at {path})", current)
    if not isinstance(write, Create) and swap is None:
        raise InvalidSwapError(
            f"an update or delete needs a record CID to swap (at {path})", current
        )
    if current != swap:
        where = "no record" if current is None else current.encode()
        raise InvalidSwapError(f"the record at {path} is {where}", current)


def _encode_record(value: Mapping[str, Any], path: str) -> tuple[CID, bytes]:
    if not isinstance(value, Mapping):
        raise InvalidWriteError(f"the record at {path} is not a map")
    kind = value.get("$type")
    if not isinstance(kind, str) or not kind:
        raise InvalidWriteError(f"the record at {path} has no $type")
    data = dagcbor.encode(dict(value))
    if len(data) > MAX_RECORD_SIZE:
        raise InvalidWriteError(
            f"the record at {path} is {len(data)} bytes, over the limit of {MAX_RECORD_SIZE}"
        )
    return CID.compute(data), data


def _frame(cid: bytes, data: bytes) -> bytes:
    """One CAR section: a varint length, the CID, the block."""
    length = len(cid) + len(data)
    head = bytearray()
    while length >= 0x80:
        head.append((length & 0x7F) | 0x80)
        length >>= 7
    head.append(length)
    return bytes(head) + cid + data


#: The tables of the default :class:`RepoStore` (prefix ``repo_``).
REPO_TABLES = RepoStore().tables

__all__ = [
    "EXPORT_CHUNK",
    "REPO_TABLES",
    "RETIRED",
    "STAGING",
    "ImportResult",
    "RecordData",
    "RecordPage",
    "RepoHead",
    "RepoStore",
    "Staging",
]
