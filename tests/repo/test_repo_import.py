"""Importing a repository CAR (account migration): real exports from indigo's test data with
their DID documents, full verification, refusals that write nothing, the imported tree committed
anew with this repository's key and a later rev, and a repository that carries on with new
commits after the import."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_shared
from repo_helpers import DID, POST, event, post, reachable
from strato import CID, car, dagcbor
from strato.crypto import PrivateKey
from strato.errors import CommitVerificationError, RepoNotFoundError
from strato.repo import Create, Delete, Repo, mst
from strato.repo.commit import decode_commit, next_rev, sign_commit
from strato.repo.verify import load_did_doc, read_repo, verify_repo
from strato.sync import verify_commit_event

EXPORTS = ("testdata", "indigo", "testing", "testdata")


def export(name: str) -> Path:
    return require_shared(*EXPORTS) / name


def test_real_repository_imports_and_carries_on(tmp_path: Path) -> None:
    did, did_key = load_did_doc(export("paul_staging.didDoc.json"))
    data = export("paul_staging.repo.car").read_bytes()
    original = verify_repo(data, did_key=did_key, did=did)
    key = PrivateKey.generate("k256")
    new_key = key.public_key.did_key()
    with Repo.open(tmp_path / "r", did, key, sync=False) as repo:
        result = repo.import_car(data, did_key=did_key)
        assert len(original.records) == 185
        assert result.previous is None
        assert result.head.commit != original.commit_cid
        assert result.head.data == original.data_cid
        assert (original.version, original.rev) == (2, None)  # the new commit is a v3 one
        assert decode_commit(result.commit_block).rev == result.head.rev
        assert repo.latest() == result.head
        # Every record is indexed and readable.
        for path, cid in original.records:
            collection, rkey = path.split("/")
            record = repo.get_record(collection, rkey)
            assert record is not None
            assert record.cid == cid
            assert CID.compute(record.value) == cid
        counted = sum(
            len(repo.list_records(collection, limit=1000).records)
            for collection in repo.collections()
        )
        assert counted == 185
        # The export is the imported tree under a commit signed by this repository's key,
        # nothing more.
        exported = repo.export_bytes()
        again = verify_repo(exported, did_key=new_key, did=did)
        assert again.records == original.records
        assert again.commit_block == result.commit_block
        stored, wanted = reachable(exported)
        assert stored == wanted
        # New commits (signed with the new key) chain on from the imported state.
        collection, rkey = original.records[0][0].split("/")
        commit = repo.apply_writes([Delete(collection, rkey), Create(POST, post("hi"), rkey="x")])
        assert commit.since == result.head.rev
        assert commit.prev_data == original.data_cid
        verified = verify_commit_event(
            event(commit), new_key, prev_rev=result.head.rev, prev_data=original.data_cid
        )
        assert verified.inversion_checked
        assert verified.prev_data_checked
        assert len(verify_repo(repo.export_bytes(), did_key=new_key).records) == 185


def test_import_replaces_what_was_there_and_moves_the_head_forward(tmp_path: Path) -> None:
    key = PrivateKey.generate("k256")
    with Repo.open(tmp_path / "a", DID, key, sync=False) as source:
        source.create([Create(POST, post("kept"), rkey="kept")])
        data = source.export_bytes()
    with Repo.open(tmp_path / "b", DID, key, sync=False) as target:
        target.create([Create(POST, post(str(n)), rkey=f"old{n}") for n in range(20)])
        before = target.latest()
        result = target.import_car(data, did_key=key.public_key.did_key())
        assert result.previous == before
        assert result.head.rev > before.rev
        assert (result.head.space, result.head.base) == (1, result.head.rev)
        assert [r.rkey for r in target.list_records(POST).records] == ["kept"]
        stored, wanted = reachable(target.export_bytes())
        assert stored == wanted
        # the old space is gone: the store holds the new repository's blocks and nothing else
        with target.store.read() as txn:
            assert txn.count(target.repos.blocks) == len(stored)
            assert txn.count(target.repos.records) == 1
            assert txn.count(target.repos.spaces) == 0
        # since a rev before the import: the whole repository; since the import: nothing more
        assert target.export_bytes(since=before.rev) == target.export_bytes()
        assert set(car.read_car(target.export_bytes(since=result.head.rev))[1]) == {
            result.head.commit
        }


@pytest.mark.parametrize(
    ("car_name", "doc_name", "code"),
    [
        ("greenground.repo.car", "greenground.didDoc.json", "field_mismatch"),
        ("fakermaker.repo.car", "fakermaker.didDoc.json", "high_s"),
        (
            "bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car",
            "did_plc_z5vnbioquyhivxirw3bbljmu.didDoc.json",
            "bad_signature",
        ),
    ],
)
def test_refused_imports_write_nothing(
    tmp_path: Path, car_name: str, doc_name: str, code: str
) -> None:
    did, did_key = load_did_doc(export(doc_name))
    data = export(car_name).read_bytes()
    with Repo.open(tmp_path / "r", did, PrivateKey.generate("k256"), sync=False) as repo:
        with pytest.raises(CommitVerificationError) as info:
            repo.import_car(data, did_key=did_key)
        assert info.value.code == code
        assert repo.head() is None


def test_lenient_import_accepts_high_s(tmp_path: Path) -> None:
    did, did_key = load_did_doc(export("fakermaker.didDoc.json"))
    data = export("fakermaker.repo.car").read_bytes()
    with Repo.open(tmp_path / "r", did, PrivateKey.generate("k256"), sync=False) as repo:
        repo.import_car(data, did_key=did_key, strict=False)
        assert repo.latest().data == verify_repo(data, strict=False).data_cid


def test_broken_cars_are_refused(tmp_path: Path) -> None:
    key = PrivateKey.generate("k256")
    did_key = key.public_key.did_key()
    with Repo.open(tmp_path / "a", DID, key, sync=False) as source:
        source.create([Create(POST, post(str(n)), rkey=f"k{n}") for n in range(10)])
        data = source.export_bytes()
        record = source.get_record(POST, "k3")
        assert record is not None
    roots, blocks = car.read_car(data)
    without_record = car.write_car(roots, [(c, b) for c, b in blocks.items() if c != record.cid])
    with Repo.open(tmp_path / "b", DID, key, sync=False) as target:
        with pytest.raises(CommitVerificationError) as info:
            target.import_car(without_record, did_key=did_key)
        assert info.value.code == "missing_block"
        with pytest.raises(CommitVerificationError) as info:
            target.import_car(data[:-5], did_key=did_key)
        assert info.value.code == "bad_car"
        with pytest.raises(CommitVerificationError) as info:
            target.import_car(car.write_car([*roots, *roots], blocks.items()), did_key=did_key)
        assert (info.value.code, info.value.reason) == ("bad_car", "the CAR has 2 roots, not 1")
        with pytest.raises(CommitVerificationError) as info:
            target.import_car(data, did_key=PrivateKey.generate("k256").public_key.did_key())
        assert info.value.code == "bad_signature"
        with pytest.raises(RepoNotFoundError):
            target.latest()


def test_records_that_are_not_maps_are_refused(tmp_path: Path) -> None:
    key = PrivateKey.generate("k256")
    value = dagcbor.encode(["a", "list"])
    cid = CID.compute(value)
    root, nodes = mst.build([(f"{POST}/a", cid)])
    commit_cid, commit = sign_commit(DID, next_rev(), root, key)
    data = car.write_car([commit_cid], [(commit_cid, commit), *nodes.items(), (cid, value)])
    with Repo.open(tmp_path / "r", DID, key, sync=False) as repo:
        with pytest.raises(CommitVerificationError) as info:
            repo.import_car(data, did_key=key.public_key.did_key())
        assert (info.value.code, info.value.reason) == (
            "malformed",
            f"the record at {POST}/a is not a map",
        )
        assert repo.head() is None


def test_read_repo_hands_out_records_and_blocks_in_pieces(tmp_path: Path) -> None:
    key = PrivateKey.generate("k256")
    with Repo.open(tmp_path / "a", DID, key, sync=False) as source:
        writes = [Create(POST, post(str(n)), rkey=f"k{n:03}") for n in range(148)]
        twins = [Create(POST, post("twin"), rkey=rkey) for rkey in ("t1", "t2")]
        source.create([*writes, *twins])
        data = source.export_bytes()
    roots, blocks = car.read_car(data)
    repo = read_repo(data, check_records=True)
    assert (repo.did, repo.roots, repo.commit_cid) == (DID, roots, roots[0])
    assert repo.commit_block == blocks[roots[0]]
    pages = [repo.records(start, start + 40) for start in range(0, 160, 40)]
    assert [pair for page in pages for pair in page] == mst.items(blocks, repo.data_cid)
    assert repo.records(140, 1000) == repo.records(140, 150)
    assert repo.records(500, 600) == []
    # the tree's distinct blocks: every node, then every record value, with its references
    nodes = set(mst.diff(blocks, None, repo.data_cid).new_nodes)
    tree = {CID.decode(raw): (data, refs) for raw, data, refs in repo.blocks(0, 1000)}
    assert repo.block_count == len(tree) == len(nodes) + 149 == repo.node_count + 149
    assert all(blocks[cid] == data for cid, (data, _) in tree.items())
    twin = repo.records(148, 149)[0][1]
    assert {cid: refs for cid, (_, refs) in tree.items() if refs != 1} == {twin: 2}
    assert repo.records_containing(b"\x6242") == [(f"{POST}/k042", repo.records(42, 43)[0][1])]
    assert repo.records_containing(b"createdAt") == repo.records(0, 150)
    _, first = repo.records(0, 1)[0]
    assert repo.get(first) == blocks[first]
    assert repo.get(CID.compute(b"absent")) is None
