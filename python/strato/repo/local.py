"""One account's repository in its own LMDB store, one durable transaction per call: the simple
face of :class:`strato.repo.store.RepoStore` for tools, scripts and tests. A PDS uses
``RepoStore`` directly, inside its own transactions.

::

    repo = Repo.open(path, "did:plc:...", signing_key)
    repo.create()
    commit = repo.apply_writes([Create("app.bsky.feed.post", {"$type": ..., ...})])
    for chunk in repo.export():
        ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from strato._core import CID, PrivateKey
from strato.repo.commit import verify_commit_signature
from strato.repo.staging import staging_pieces
from strato.repo.store import ImportResult, RecordData, RecordPage, RepoHead, RepoStore
from strato.repo.verify import read_repo, require_repository_of
from strato.repo.writes import CommitData, Create, Write
from strato.storage import Store, WriteTxn

#: The service name and schema version of a store :meth:`Repo.open` creates (version 1 had no
#: repository spaces; it is upgraded on open).
STORE_NAME = "repo"
STORE_SCHEMA_VERSION = 2


class Repo:
    """The repository of ``did`` in ``store``; writes need ``signing_key``."""

    def __init__(
        self,
        store: Store,
        did: str,
        signing_key: PrivateKey | None = None,
        *,
        repos: RepoStore | None = None,
    ) -> None:
        self.store = store
        self.did = did
        self.signing_key = signing_key
        self.repos = repos if repos is not None else RepoStore()

    @classmethod
    def open(
        cls,
        path: str | Path,
        did: str,
        signing_key: PrivateKey | None = None,
        *,
        sync: bool = True,
    ) -> Repo:
        """Opens (creating if needed) a store of repositories in directory ``path``; ``sync=False``
        trades the durability of the last writes for speed."""
        repos = RepoStore()
        store = Store.open(
            path,
            name=STORE_NAME,
            schema_version=STORE_SCHEMA_VERSION,
            tables=repos.tables,
            sync=sync,
            upgrades={1: repos.add_spaces},
        )
        return cls(store, did, signing_key, repos=repos)

    def close(self) -> None:
        """Closes the store."""
        self.store.close()

    def __enter__(self) -> Repo:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _key(self) -> PrivateKey:
        if self.signing_key is None:
            raise ValueError("this Repo was opened without a signing key; it cannot write")
        return self.signing_key

    # -- writes ---------------------------------------------------------------------------------

    def create(self, writes: Sequence[Create] = ()) -> CommitData:
        """Creates the repository (see :meth:`RepoStore.create`)."""
        key = self._key()
        return self.store.transact(lambda txn: self.repos.create(txn, self.did, key, writes))

    def apply_writes(
        self, writes: Sequence[Write], *, swap_commit: CID | None = None
    ) -> CommitData:
        """Applies a batch as one commit (see :meth:`RepoStore.apply_writes`)."""
        key = self._key()
        return self.store.transact(
            lambda txn: self.repos.apply_writes(txn, self.did, writes, key, swap_commit=swap_commit)
        )

    def import_car(self, data: bytes, *, did_key: str, strict: bool = True) -> ImportResult:
        """Replaces the repository (if any) with the one in a CAR, in one transaction: the CAR
        is verified in full (:func:`strato.repo.verify.read_repo`, every record a map), its
        commit must be this repository's DID's and signed by ``did_key`` (lenient,
        ``strict=False``, accepts a high-S signature), and the imported tree is committed anew
        with this repository's key and a rev after both the current and the imported one
        (see :meth:`RepoStore.finish_import`). Raises CommitVerificationError, writing
        nothing."""
        key = self._key()
        repo = read_repo(data, check_records=True)
        require_repository_of(repo, self.did)
        verify_commit_signature(repo.commit_block, did_key, allow_high_s=not strict)

        def work(txn: WriteTxn) -> ImportResult:
            staging = self.repos.begin_import(txn, self.did, after=repo.rev)
            for piece in staging_pieces(repo):
                self.repos.stage(txn, staging, piece)
            result = self.repos.finish_import(txn, staging, repo.data_cid, key)
            if result.previous is not None:
                previous = result.previous.space
                while not self.repos.drop_space(txn, self.did, previous, limit=1 << 62):
                    pass
            return result

        return self.store.transact(work)

    def destroy(self) -> bool:
        """Deletes the repository; False when there was none."""
        return self.store.transact(lambda txn: self.repos.destroy(txn, self.did))

    # -- reads ----------------------------------------------------------------------------------

    def head(self) -> RepoHead | None:
        """The current commit, or None before :meth:`create`."""
        with self.store.read() as txn:
            return self.repos.head(txn, self.did)

    def latest(self) -> RepoHead:
        """The current commit; RepoNotFoundError before :meth:`create`."""
        with self.store.read() as txn:
            return self.repos.latest(txn, self.did)

    def get_record(self, collection: str, rkey: str) -> RecordData | None:
        """The record at ``collection/rkey``, or None."""
        with self.store.read() as txn:
            return self.repos.get_record(txn, self.did, collection, rkey)

    def list_records(
        self, collection: str, *, limit: int = 50, cursor: str | None = None, reverse: bool = False
    ) -> RecordPage:
        """A page of one collection's records (see :meth:`RepoStore.list_records`)."""
        with self.store.read() as txn:
            return self.repos.list_records(
                txn, self.did, collection, limit=limit, cursor=cursor, reverse=reverse
            )

    def collections(self) -> list[str]:
        """The collections holding records."""
        with self.store.read() as txn:
            return self.repos.collections(txn, self.did)

    def get_blocks(self, cids: Iterable[CID]) -> list[tuple[CID, bytes]]:
        """Blocks by CID; BlockNotFoundError for any the repository lacks."""
        with self.store.read() as txn:
            return self.repos.get_blocks(txn, self.did, cids)

    def record_proof(self, collection: str, rkey: str) -> bytes:
        """The ``com.atproto.sync.getRecord`` CAR of one record."""
        with self.store.read() as txn:
            return self.repos.record_proof(txn, self.did, collection, rkey)

    def commit_car(self) -> bytes:
        """A CAR of the current commit alone."""
        with self.store.read() as txn:
            return self.repos.commit_car(txn, self.did)

    def export(self, *, since: str | None = None) -> Iterator[bytes]:
        """The repository (or its diff since a rev) as a CAR, streamed in chunks from one
        consistent snapshot."""
        with self.store.read() as txn:
            yield from self.repos.export(txn, self.did, since=since)

    def export_bytes(self, *, since: str | None = None) -> bytes:
        """:meth:`export` joined into one byte string."""
        return b"".join(self.export(since=since))


__all__ = ["STORE_NAME", "STORE_SCHEMA_VERSION", "Repo"]
