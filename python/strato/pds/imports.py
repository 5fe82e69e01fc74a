"""Repository imports on the PDS (``com.atproto.repo.importRepo``): a CAR replaces an account's
repository, as a new commit this PDS signs, without holding the one writer for long.

The phases of :meth:`Importer.run`:

1. *Verify*, on a worker thread, in one Rust call with the GIL released
   (:func:`strato.repo.verify.read_repo`): block hashes, the commit, the MST rebuilt to the
   commit's root, every record block present and a DAG-CBOR map; one root, the account's DID,
   a rev no more than five minutes ahead of the clock (what relays allow).
2. *Signer*: the commit's signature must verify against a key the account has had
   (:mod:`strato.pds.import_keys`).
3. *Plan*, on a worker thread, from one snapshot of the store: the current head and records;
   the blob references of the new records and which blob rows change; and the announcement.
   When the current tree is not empty and the difference to the new one fits a sync 1.1
   ``#commit`` (at most :data:`strato.sync.MAX_OPS` record ops, and blocks within
   :data:`strato.sync.MAX_COMMIT_BLOCKS` with the proof nodes consumers need to invert it), the
   import is announced as that ``#commit`` (``since`` the old rev, ``prevData`` the old root,
   the deletes of the records the CAR lacks included), so relays and appviews follow it like any
   commit; otherwise (a fresh migration into an empty repository, or a large difference) as a
   ``#sync`` of the new commit, which relays accept because its rev is newer.
4. *Stage*: :meth:`strato.repo.RepoStore.begin_import`, then the pieces of
   :mod:`strato.repo.staging` (128 KiB of blocks each), each its own writer work item, so
   other accounts' writes go on between them. Then the blob rows of the new records at paths
   the current repository does not hold (all of them in a migration), :data:`BLOB_STEP` paths
   per work item: they only add references (a blob listed missing, or kept, a little early).
5. *Finish*, one small writer work item: the new commit (a fresh rev after the current one, even
   if a write landed since the plan) is signed, the head swapped, the other blob rows changed
   (references of records the import removes or replaces) and the event appended. If the head
   moved since the plan, the planned ``#commit`` no longer chains and the event is a
   ``#sync``; the blob rows are then made again from the current ones.
6. *Retire*: the old space is dropped in the background, :data:`DROP_STEP` entries per writer
   work item. An import that fails after its blob rows went in removes those of paths the
   repository does not hold; a restart ends unfinished imports and does the same
   (:meth:`Importer.reclaim`).

The CPU-heavy phases (verifying, planning, cutting pieces) run on threads of the importer's own
whose niceness is :data:`IMPORT_NICENESS`, so the OS runs the server's request threads and its
writer first, and the planning loops over whole repositories pause every few hundred items, so
that those threads get the GIL back at once (:func:`_in_turns`). One import per account at a
time: a second one is refused (ImportInProgressError) while the first runs. A failure at any
phase leaves the repository as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, TypeVar

from strato import car, dagcbor
from strato._core import CID, PrivateKey, RepoCar
from strato.errors import CommitVerificationError, ImportInProgressError
from strato.firehose import EventLog
from strato.firehose.messages import commit_message, sync_message
from strato.identity import IdentityResolver
from strato.identity.plc import PlcClient
from strato.pds.blobs import BlobRef, BlobStore, blob_refs
from strato.pds.import_keys import accepted_signer
from strato.pds.keys import KeyStore
from strato.pds.writer import Writer
from strato.repo import ImportResult, RepoHead, RepoStore, Staging, mst
from strato.repo.blocks import CarBlocks
from strato.repo.staging import record_pages, staging_pieces
from strato.repo.verify import read_repo, require_repository_of
from strato.repo.writes import CommitData
from strato.storage import Store, WriteTxn
from strato.sync import FUTURE_REV_TOLERANCE_MICROS, MAX_COMMIT_BLOCKS, MAX_OPS
from strato.syntax import TID

logger = logging.getLogger("strato.pds.imports")

T = TypeVar("T")

#: Entries of a retired space removed per writer work item.
DROP_STEP: Final = 1000
#: Record paths whose blob rows are set (or checked) per writer work item.
BLOB_STEP: Final = 25
#: The niceness of the threads that verify and plan an import (the server's are 0).
IMPORT_NICENESS: Final = 10
#: Items a planning loop goes through between two pauses (well under a millisecond of work),
#: and the pause (see :func:`_in_turns`).
_TURN: Final = 256
_PAUSE: Final = 0.0001
#: Bytes that every record holding a blob reference contains (the ``mimeType`` key).
_BLOB_MARK: Final = b"mimeType"


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the finish needs, made outside the writer against the head ``previous``."""

    previous: RepoHead | None
    #: The record ops of the ``#commit`` announcing the import, None for a ``#sync``.
    ops: list[mst.RecordOp] | None
    #: The ``#commit``'s blocks other than the commit: proof nodes and new records.
    proof: list[tuple[CID, bytes]]
    #: The blob references of the new records, by path.
    refs: dict[str, list[BlobRef]]
    #: The blob rows of new records at paths ``previous`` does not hold, set before the swap.
    early_blobs: list[tuple[str, list[BlobRef]]]
    #: The other blob rows to set against ``previous``: ``(path, references)``, empty to clear.
    blob_changes: list[tuple[str, list[BlobRef]]]


class Importer:
    """Runs imports and drops the spaces they retire (see the module docstring)."""

    def __init__(
        self,
        *,
        store: Store,
        repos: RepoStore,
        writer: Writer,
        keys: KeyStore,
        blobs: BlobStore,
        sequencer: EventLog,
        identity: IdentityResolver,
        plc: PlcClient,
    ) -> None:
        self.store = store
        self.repos = repos
        self.writer = writer
        self.keys = keys
        self.blobs = blobs
        self.sequencer = sequencer
        self.identity = identity
        self.plc = plc
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # The CPU-heavy phases run on threads the OS schedules after the server's own.
        self._threads = ThreadPoolExecutor(2, "pds-import", initializer=_lower_priority)

    def running(self, did: str) -> bool:
        """Whether an import into ``did``'s repository is under way."""
        return did in self._running

    async def run(self, did: str, data: bytes) -> ImportResult:
        """Import the repository CAR ``data`` into ``did``'s repository. Raises, leaving the
        repository as it was: ImportInProgressError, CommitVerificationError (the CAR, its DID,
        its rev or its signature), the blob store's errors (a reference that contradicts a
        stored blob), PlcDirectoryError or IdentityError (the account's keys could not be
        looked up)."""
        if did in self._running:
            raise ImportInProgressError(
                f"an import into the repository of {did} is in progress; try again when it has "
                "finished"
            )
        self._running.add(did)
        try:
            repo = await self._in_thread(partial(read_repo, data, check_records=True))
            del data  # the CAR's bytes live on in ``repo`` alone
            require_repository_of(repo, did)
            _check_rev(repo.rev)
            await accepted_signer(
                did, repo.commit_block, keys=self.keys, identity=self.identity, plc=self.plc
            )
            key = self.keys.signing_key(did)
            plan = await self._in_thread(partial(self._plan, did, repo))
            return await self._apply(did, repo, plan, key)
        finally:
            self._running.discard(did)

    async def _apply(self, did: str, repo: RepoCar, plan: _Plan, key: PrivateKey) -> ImportResult:
        staging = await self.writer.submit(
            partial(self.repos.begin_import, did=did, after=repo.rev)
        )
        try:
            pieces = staging_pieces(repo)
            while (piece := await self._in_thread(partial(next, pieces, None))) is not None:
                await self.writer.submit(partial(self.repos.stage, staging=staging, piece=piece))
            for start in range(0, len(plan.early_blobs), BLOB_STEP):
                part = plan.early_blobs[start : start + BLOB_STEP]
                await self.writer.submit(partial(self._early_blobs, staging, part))
            result = await self.writer.submit(partial(self._finish, staging, repo, plan, key))
        except BaseException:
            self._background(self._abandon(staging))
            raise
        if result.previous is not None:
            self._background(self._drop(did, result.previous.space))
        return result

    # -- planning (a worker thread) -------------------------------------------------------------

    def _plan(self, did: str, repo: RepoCar) -> _Plan:
        with self.store.read() as txn:
            previous = self.repos.head(txn, did)
            rows = self.repos.record_cids(txn, did) if previous is not None else iter(())
            old = dict(_in_turns(rows))
            old_blob_paths = self.blobs.record_paths(txn, did)
        refs: dict[str, list[BlobRef]] = {}
        for path, cid in _in_turns(repo.records_containing(_BLOB_MARK)):
            found = blob_refs(dagcbor.decode(repo.get(cid) or b""))
            if found:
                refs[path] = found
        early = [
            (path, found)
            for path, found in sorted(refs.items())
            if path not in old and path not in old_blob_paths
        ]
        changes: list[tuple[str, list[BlobRef]]] = [
            (path, []) for path in sorted(old_blob_paths - refs.keys())
        ]
        if not old:  # an empty repository (a migration's): nothing to compare, a #sync
            return _Plan(previous, None, [], refs, early, changes)
        new = dict(_in_turns(record for page in record_pages(repo) for record in page))
        changes += [
            (path, found)
            for path, found in sorted(refs.items())
            if path in old and (path not in old_blob_paths or old[path] != new[path])
        ]
        ops = _record_ops(old, new)
        proof = [] if ops is None else _proof_blocks(repo, ops)
        if sum(len(data) for _, data in proof) > MAX_COMMIT_BLOCKS:
            ops, proof = None, []
        return _Plan(previous, ops, proof, refs, early, changes)

    # -- the writer's work items ----------------------------------------------------------------

    def _early_blobs(
        self, staging: Staging, part: list[tuple[str, list[BlobRef]]], txn: WriteTxn
    ) -> None:
        self.repos.check_staging(txn, staging)
        for path, found in part:
            self.blobs.set_record_blobs(txn, staging.did, path, found, staging.rev,
                                        allow_missing=True)  # fmt: skip

    def _finish(
        self, staging: Staging, repo: RepoCar, plan: _Plan, key: PrivateKey, txn: WriteTxn
    ) -> ImportResult:
        did = staging.did
        result = self.repos.finish_import(txn, staging, repo.data_cid, key)
        head = result.head
        planned = result.previous == plan.previous
        if planned:
            changes = plan.blob_changes
        else:
            stale = self.blobs.record_paths(txn, did) - plan.refs.keys()
            changes = [(path, []) for path in sorted(stale)] + sorted(plan.refs.items())
        for path, found in changes:
            self.blobs.set_record_blobs(txn, did, path, found, head.rev, allow_missing=True)
        commit = (head.commit, result.commit_block)
        if planned and plan.ops is not None and result.previous is not None:
            blocks = car.write_car([head.commit], [commit, *plan.proof])
            if len(blocks) <= MAX_COMMIT_BLOCKS:
                data = CommitData(
                    did=did, commit=head.commit, rev=head.rev, since=result.previous.rev,
                    data=head.data, prev_data=result.previous.data, ops=plan.ops,
                    blocks=blocks, results=[], blobs=[],
                )  # fmt: skip
                self.sequencer.append(txn, [commit_message(data)])
                return result
        blocks = car.write_car([head.commit], [commit])
        self.sequencer.append(txn, [sync_message(did, head.rev, blocks)])
        return result

    # -- retired spaces -------------------------------------------------------------------------

    async def reclaim(self) -> None:
        """At start-up (the writer running): end the imports a crash interrupted, then in the
        background drop every retired space and the blob rows of paths its account's
        repository does not hold."""
        for did, space in await self.writer.submit(self.repos.reclaim):
            self._background(self._clean(did, space))

    async def _abandon(self, staging: Staging) -> None:
        await self.writer.submit(partial(self.repos.abandon_import, staging=staging))
        await self._clean(staging.did, staging.space)

    async def _clean(self, did: str, space: int) -> None:
        await self._prune_blobs(did)
        await self._drop(did, space)

    async def _prune_blobs(self, did: str) -> None:
        """Clear the blob rows of paths the repository does not hold (those an import set
        early, when it did not finish)."""

        def paths() -> list[str]:
            with self.store.read() as txn:
                return sorted(self.blobs.record_paths(txn, did))

        candidates = await self._in_thread(paths)
        for start in range(0, len(candidates), BLOB_STEP):
            part = candidates[start : start + BLOB_STEP]
            await self.writer.submit(partial(self._clear_blobs, did, part))

    def _clear_blobs(self, did: str, paths: list[str], txn: WriteTxn) -> None:
        if self.repos.head(txn, did) is None:
            return  # the account was deleted, its blob rows with it
        for path in paths:
            if not self.repos.has_record(txn, did, path):
                # no reference is added, so no rev is recorded
                self.blobs.set_record_blobs(txn, did, path, [], "")

    async def _drop(self, did: str, space: int) -> None:
        drop = partial(self.repos.drop_space, did=did, space=space, limit=DROP_STEP)
        while not await self.writer.submit(drop):
            pass

    async def _in_thread(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, work)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("cleaning up after an import failed", exc_info=task.exception())

    async def stop(self) -> None:
        """Stop dropping retired spaces (the next start goes on with them)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._threads.shutdown(wait=True)


def _in_turns(items: Iterable[T]) -> Iterator[T]:
    """``items``, with a short sleep every :data:`_TURN` of them. A loop over a whole repository
    holds the GIL for most of a second; while it sleeps the GIL is free, so the event loop and
    the writer, each time they need it back (a dozen times per request), get it within a
    fraction of a millisecond rather than after the interpreter's switch interval (5 ms)."""
    for count, item in enumerate(items, 1):
        yield item
        if count % _TURN == 0:
            time.sleep(_PAUSE)


def _lower_priority() -> None:
    """Make the calling thread the OS's last choice (Linux schedules threads alone: the niceness
    of a thread id is the thread's)."""
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), IMPORT_NICENESS)


def _check_rev(rev: str | None) -> None:
    """An imported commit's rev may be as far ahead of the clock as relays accept (five
    minutes), no further."""
    limit = time.time() * 1_000_000 + FUTURE_REV_TOLERANCE_MICROS
    if rev is not None and TID(rev).micros > limit:
        raise CommitVerificationError(
            "rev_in_future", f"the commit's rev {rev} is more than five minutes ahead of the clock"
        )


def _record_ops(old: dict[str, CID], new: dict[str, CID]) -> list[mst.RecordOp] | None:
    """The record ops from the records ``old`` to ``new`` (``path -> CID``) in path order, or
    None when there are more than a commit may carry."""
    deletes = [path for path in _in_turns(old) if path not in new]
    if len(deletes) > MAX_OPS:
        return None
    ops = [mst.RecordOp("delete", path, None, old[path]) for path in deletes]
    for path, cid in _in_turns(new.items()):
        prev = old.get(path)
        if prev != cid:
            ops.append(mst.RecordOp("create" if prev is None else "update", path, cid, prev))
            if len(ops) > MAX_OPS:
                return None
    return sorted(ops, key=lambda op: op.path)


def _proof_blocks(repo: RepoCar, ops: list[mst.RecordOp]) -> list[tuple[CID, bytes]]:
    """The blocks a ``#commit`` of ``ops`` carries besides its commit: the new tree's nodes a
    consumer needs to invert the ops, and the new records."""
    blocks = CarBlocks(repo)
    wanted = mst.proof_nodes(blocks, repo.data_cid, ops)
    wanted += [op.cid for op in ops if op.cid is not None]
    return [(cid, blocks[cid]) for cid in dict.fromkeys(wanted)]


__all__ = ["BLOB_STEP", "DROP_STEP", "Importer"]
