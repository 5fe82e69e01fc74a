"""Imports staged in a space of their own (`RepoStore.begin_import`, `stage`, `finish_import`,
`drop_space`, `reclaim`): readers see the old repository until the one small transaction that
swaps the head, a crash between any two transactions leaves the old repository or the new one
whole and its leftovers reclaimable, one import at a time, and the storage upgrade from schema
version 1 (no spaces)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import DID, OTHER, POST, post, reachable
from strato import car, dagcbor
from strato.crypto import PrivateKey
from strato.errors import ImportInProgressError, RepoNotFoundError
from strato.repo import Create, Repo, Staging
from strato.repo.local import STORE_NAME
from strato.repo.staging import StagingPiece, staging_pieces
from strato.repo.store import RETIRED
from strato.repo.verify import read_repo, verify_repo
from strato.storage import Store, WriteTxn, u64

KEY = PrivateKey.generate("k256")


def exported(tmp_path: Path, count: int) -> bytes:
    with Repo.open(tmp_path / "source", DID, KEY, sync=False) as source:
        source.create([Create(POST, post(f"new {n}"), rkey=f"new{n:03}") for n in range(count)])
        return source.export_bytes()


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    with Repo.open(tmp_path / "target", DID, KEY, sync=False) as opened:
        opened.create([Create(POST, post(f"old {n}"), rkey=f"old{n:03}") for n in range(30)])
        yield opened


def stage_all(repo: Repo, data: bytes, pieces: int) -> Staging:
    """Begins an import and stages it in one transaction per piece."""
    car_repo = read_repo(data, check_records=True)
    staging = repo.store.transact(lambda txn: repo.repos.begin_import(txn, DID, after=None))
    made = list(staging_pieces(car_repo, max_bytes=2000, max_records=40))
    assert len(made) >= pieces
    for piece in made:

        def work(txn: WriteTxn, piece: StagingPiece = piece) -> None:
            repo.repos.stage(txn, staging, piece)

        repo.store.transact(work)
    return staging


def test_staged_blocks_are_unseen_until_the_head_swaps(repo: Repo) -> None:
    data = exported(repo.store.path.parent, 120)
    before = repo.latest()
    old_export = repo.export_bytes()
    staging = stage_all(repo, data, pieces=5)
    assert staging.space == 1
    assert staging.rev > before.rev
    # staged: readers still see the old repository, whole and alone
    assert repo.latest() == before
    assert repo.export_bytes() == old_export
    assert [r.rkey for r in repo.list_records(POST, limit=100).records][-1] == "old000"
    with pytest.raises(ImportInProgressError):
        repo.store.transact(lambda txn: repo.repos.begin_import(txn, DID))
    target = read_repo(data).data_cid
    result = repo.store.transact(lambda txn: repo.repos.finish_import(txn, staging, target, KEY))
    assert result.previous == before
    assert (result.head.space, result.head.data) == (1, target)
    assert result.head.rev > staging.rev
    assert len(repo.list_records(POST, limit=100).records) == 100
    assert repo.get_record(POST, "old000") is None
    report = verify_repo(repo.export_bytes(), did_key=KEY.public_key.did_key(), did=DID)
    assert len(report.records) == 120
    stored, wanted = reachable(repo.export_bytes())
    assert stored == wanted
    # the old space is retired, then dropped a few entries at a time
    with repo.store.read() as txn:
        assert list(txn.items(repo.repos.spaces)) == [(DID.encode() + b"\x00" + u64(0), RETIRED)]
    rounds = 0
    while not repo.store.transact(lambda txn: repo.repos.drop_space(txn, DID, 0, limit=25)):
        rounds += 1
    assert rounds > 3
    with repo.store.read() as txn:
        assert txn.count(repo.repos.blocks) == len(wanted)
        assert txn.count(repo.repos.records) == 120
        assert txn.count(repo.repos.spaces) == 0
    # and the repository carries on, in space 1
    commit = repo.apply_writes([Create(POST, post("after"), rkey="after")])
    assert commit.since == result.head.rev
    assert repo.latest().space == 1


def test_a_crash_before_the_swap_leaves_the_old_repository_and_reclaimable_leftovers(
    repo: Repo,
) -> None:
    data = exported(repo.store.path.parent, 80)
    before = repo.latest()
    old_export = repo.export_bytes()
    with repo.store.read() as txn:
        entries = {table: txn.count(table) for table in repo.repos.tables}
    staging = stage_all(repo, data, pieces=3)
    path = repo.store.path
    repo.store.close()  # the process ends here: every staged piece was committed
    with Store.open(path, name=STORE_NAME, schema_version=2, tables=repo.repos.tables) as store:
        reopened = Repo(store, DID, KEY)
        assert reopened.latest() == before
        assert reopened.export_bytes() == old_export
        # the next start: the unfinished import's space is retired, then dropped
        leftovers = store.transact(reopened.repos.reclaim)
        assert leftovers == [(DID, staging.space)]
        with pytest.raises(RepoNotFoundError, match="was cancelled"):
            store.transact(lambda txn: reopened.repos.finish_import(txn, staging, before.data, KEY))
        while not store.transact(
            lambda txn: reopened.repos.drop_space(txn, DID, staging.space, limit=50)
        ):
            pass
        with store.read() as txn:
            assert {table: txn.count(table) for table in reopened.repos.tables} == entries
        assert reopened.export_bytes() == old_export
        # a new import can begin; it takes the next space
        assert store.transact(lambda txn: reopened.repos.begin_import(txn, DID)).space == 1


def test_a_crash_after_the_swap_leaves_the_new_repository(repo: Repo) -> None:
    data = exported(repo.store.path.parent, 40)
    staging = stage_all(repo, data, pieces=2)
    target = read_repo(data).data_cid
    repo.store.transact(lambda txn: repo.repos.finish_import(txn, staging, target, KEY))
    new_export = repo.export_bytes()
    # the process ends before the old space is dropped; the next start reclaims it
    assert repo.store.transact(repo.repos.reclaim) == [(DID, 0)]
    while not repo.store.transact(lambda txn: repo.repos.drop_space(txn, DID, 0, limit=10)):
        pass
    assert repo.export_bytes() == new_export
    # the current space has no row: dropping it removes nothing; a staging one is refused
    assert repo.store.transact(lambda txn: repo.repos.drop_space(txn, DID, 1, limit=10))
    assert repo.export_bytes() == new_export
    staging = repo.store.transact(lambda txn: repo.repos.begin_import(txn, DID))
    with pytest.raises(AssertionError, match="not retired"):
        repo.store.transact(lambda txn: repo.repos.drop_space(txn, DID, staging.space, limit=9))


def test_deleting_the_repository_cancels_its_import(repo: Repo) -> None:
    data = exported(repo.store.path.parent, 30)
    staging = stage_all(repo, data, pieces=1)
    other = Repo(repo.store, OTHER, KEY)
    other.create([Create(POST, post("other"), rkey="o")])
    assert repo.destroy()
    with repo.store.read() as txn:
        assert txn.count(repo.repos.spaces) == 0
        base = DID.encode()
        assert not [key for key, _ in txn.items(repo.repos.blocks) if key.startswith(base)]
    piece = next(staging_pieces(read_repo(data)))
    with pytest.raises(RepoNotFoundError, match="was cancelled"):
        repo.store.transact(lambda txn: repo.repos.stage(txn, staging, piece))
    assert other.get_record(POST, "o") is not None


def test_a_version_1_store_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "v1"
    with Repo.open(path, DID, KEY, sync=False) as repo:
        repo.create([Create(POST, post("kept"), rkey="kept")])
        head = repo.latest()
        old_export = repo.export_bytes()
        # what strato wrote before spaces: three-element roots, schema version 1
        row = dagcbor.encode([head.commit, head.rev, head.data])
        repo.store.transact(lambda txn: txn.put(repo.repos.roots, DID.encode(), row))
        repo.store.transact(lambda txn: txn.put("__strato__", b"schema_version", u64(1)))
    with Repo.open(path, DID, KEY, sync=False) as repo:
        assert repo.latest() == head
        assert repo.export_bytes() == old_export
        repo.import_car(old_export, did_key=KEY.public_key.did_key())
        assert repo.get_record(POST, "kept") is not None
        assert repo.latest().space == 1
    roots, _ = car.read_car(old_export)
    assert roots == [head.commit]
