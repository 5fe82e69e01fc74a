"""Repositories on LMDB (`strato.repo.RepoStore` and `Repo`): writes as signed commits whose
`#commit` events verify strictly, every refusal with its class and reason (and nothing written),
record reads, export, diff since a rev, proofs, group commit and account deletion."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import DID, LIKE, OTHER, POST, event, post, reachable
from strato import CID, car, dagcbor
from strato.crypto import PrivateKey
from strato.errors import (
    BlockNotFoundError,
    EncodeError,
    IdentifierError,
    InvalidSwapError,
    InvalidWriteError,
    RecordExistsError,
    RecordNotFoundError,
    RepoExistsError,
    RepoNotFoundError,
)
from strato.repo import (
    REPO_TABLES,
    CommitData,
    Create,
    Delete,
    Repo,
    RepoStore,
    Update,
    Write,
    mst,
)
from strato.repo.blocks import Overlay, TxnBlocks
from strato.repo.verify import verify_record_car, verify_repo
from strato.storage import Store, u64
from strato.sync import MAX_RECORD_SIZE, verify_commit_event, verify_sync_event

KEY = PrivateKey.generate("k256")
DID_KEY = KEY.public_key.did_key()


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    with Repo.open(tmp_path / "repo", DID, KEY, sync=False) as opened:
        opened.create()
        yield opened


def check_event(commit: CommitData, previous: CommitData | None) -> None:
    """The commit's event verifies in strict mode against the previous commit."""
    verified = verify_commit_event(
        event(commit),
        DID_KEY,
        prev_rev=None if previous is None else previous.rev,
        prev_data=None if previous is None else previous.data,
    )
    assert verified.signature_checked
    assert verified.rev == commit.rev
    if previous is not None:
        assert verified.inversion_checked
        assert verified.prev_data_checked


def snapshot(repo: Repo) -> bytes:
    return repo.export_bytes()


# --- create ---------------------------------------------------------------------------------


def test_create_makes_an_empty_signed_commit(tmp_path: Path) -> None:
    with Repo.open(tmp_path / "r", DID, KEY, sync=False) as repo:
        assert repo.head() is None
        first = repo.create()
        assert (first.since, first.prev_data, first.ops, first.results) == (None, None, [], [])
        assert first.data == mst.EMPTY_ROOT
        check_event(first, None)
        head = repo.latest()
        assert (head.commit, head.rev, head.data) == (first.commit, first.rev, first.data)
        report = verify_repo(repo.export_bytes(), did_key=DID_KEY, did=DID)
        assert report.records == []
        assert report.version == 3
        sync = verify_sync_event(
            {"seq": 1, "did": DID, "blocks": repo.commit_car(), "rev": head.rev, "time": "x"},
            DID_KEY,
        )
        assert sync.commit_cid == head.commit
        with pytest.raises(RepoExistsError) as info:
            repo.create()
        assert info.value.reason == f"a repository for {DID} already exists"


def test_create_with_first_records(tmp_path: Path) -> None:
    with Repo.open(tmp_path / "r", DID, KEY, sync=False) as repo:
        first = repo.create([Create(POST, post("one"), rkey="a"), Create(POST, post("two"))])
        assert [op.action for op in first.ops] == ["create", "create"]
        check_event(first, None)
        assert len(verify_repo(repo.export_bytes(), did_key=DID_KEY).records) == 2


def test_create_refuses_a_bad_did(tmp_path: Path) -> None:
    with Repo.open(tmp_path / "r", "not-a-did", KEY, sync=False) as repo:
        with pytest.raises(IdentifierError):
            repo.create()
        assert repo.head() is None


def test_writes_need_a_key_and_a_repo(tmp_path: Path) -> None:
    with (
        Repo.open(tmp_path / "r", DID, None, sync=False) as repo,
        pytest.raises(ValueError, match="without a signing key"),
    ):
        repo.create()
    with Repo.open(tmp_path / "r", OTHER, KEY, sync=False) as repo:
        with pytest.raises(RepoNotFoundError) as info:
            repo.apply_writes([Create(POST, post("x"))])
        assert info.value.reason == f"no repository for {OTHER}"
        for read in (
            repo.latest,
            repo.collections,
            repo.export_bytes,
            repo.commit_car,
            lambda: repo.get_record(POST, "a"),
            lambda: repo.list_records(POST),
            lambda: repo.record_proof(POST, "a"),
            lambda: repo.get_blocks([]),
        ):
            with pytest.raises(RepoNotFoundError):
                read()


# --- writes and their events ------------------------------------------------------------------


def test_commit_events_verify_strictly(repo: Repo) -> None:
    previous = repo.apply_writes([])
    assert previous.ops == []
    batches: list[list[Write]] = [
        [Create(POST, post(f"p{n}"), rkey=f"k{n:03d}") for n in range(40)],
        [Create(LIKE, {"$type": LIKE, "n": 1}, rkey="l1")],
        [Update(POST, "k005", post("changed")), Delete(POST, "k006")],
        [Delete(POST, f"k{n:03d}") for n in range(10, 30)],
        [Create(POST, post("again"), rkey="k006"), Delete(LIKE, "l1")],
    ]
    for writes in batches:
        commit = repo.apply_writes(writes)
        assert commit.since == previous.rev
        assert commit.prev_data == previous.data
        assert commit.rev > previous.rev
        check_event(commit, previous)
        previous = commit
    report = verify_repo(repo.export_bytes(), did_key=DID_KEY, did=DID)
    assert len(report.records) == 40 - 1 - 20 + 1
    assert report.commit_cid == previous.commit


def test_results_follow_the_batch_and_ops_the_tree(repo: Repo) -> None:
    value = post("hello")
    commit = repo.apply_writes([Create(POST, value, rkey="b"), Create(POST, post("a"), rkey="a")])
    data = dagcbor.encode(value)
    assert [r.rkey for r in commit.results] == ["b", "a"]
    assert commit.results[0].cid == CID.compute(data)
    assert commit.results[0].path == f"{POST}/b"
    assert [op.path for op in commit.ops] == [f"{POST}/b", f"{POST}/a"]
    stored = repo.get_record(POST, "b")
    assert stored is not None
    assert (stored.cid, stored.value) == (CID.compute(data), data)
    unchanged = repo.apply_writes([Update(POST, "b", value)])
    assert unchanged.ops == []
    assert unchanged.data == commit.data
    assert unchanged.results[0].action == "update"


def test_create_without_rkey_picks_a_tid(repo: Repo) -> None:
    first = repo.apply_writes([Create(POST, post("x"))]).results[0].rkey
    second = repo.apply_writes([Create(POST, post("y"))]).results[0].rkey
    assert len(first) == 13
    assert second > first


def test_blob_references_are_reported(repo: Repo) -> None:
    image = CID.compute(b"an image", "raw")
    legacy = CID.compute(b"old", "raw")
    value = post(
        "pic",
        embed={
            "$type": "app.bsky.embed.images",
            "images": [
                {"image": {"$type": "blob", "ref": image, "mimeType": "image/png", "size": 8}},
                {"image": {"cid": legacy.encode(), "mimeType": "image/png"}},
                {"image": {"$type": "blob", "ref": image, "mimeType": "image/png", "size": 8}},
            ],
        },
    )
    commit = repo.apply_writes([Create(POST, value, rkey="a"), Create(POST, post("no"), rkey="b")])
    assert commit.results[0].blobs == (image, legacy)
    assert commit.results[1].blobs == ()
    assert commit.blobs == [image, legacy]


# --- swaps ------------------------------------------------------------------------------------


def test_swap_commit(repo: Repo) -> None:
    head = repo.latest()
    stale = repo.apply_writes([Create(POST, post("x"), rkey="a")], swap_commit=head.commit)
    before = snapshot(repo)
    with pytest.raises(InvalidSwapError) as info:
        repo.apply_writes([Create(POST, post("y"), rkey="b")], swap_commit=head.commit)
    assert info.value.current == stale.commit
    assert info.value.reason == (
        f"commit was at {stale.commit.encode()}, not {head.commit.encode()}"
    )
    assert snapshot(repo) == before


def test_swap_record_rules(repo: Repo) -> None:
    created = repo.apply_writes([Create(POST, post("x"), rkey="a", swap_record=None)])
    cid = created.results[0].cid
    assert cid is not None
    other = CID.compute(b"other")
    before = snapshot(repo)
    refusals: list[tuple[Write, str, CID | None]] = [
        (
            Create(POST, post("y"), rkey="a", swap_record=None),
            f"the record at {POST}/a is {cid.encode()}",
            cid,
        ),
        (
            Create(POST, post("y"), rkey="new", swap_record=cid),
            f"a create swaps only with no record (at {POST}/new)",
            None,
        ),
        (
            Update(POST, "a", post("y"), swap_record=None),
            f"an update or delete needs a record CID to swap (at {POST}/a)",
            cid,
        ),
        (
            Update(POST, "a", post("y"), swap_record=other),
            f"the record at {POST}/a is {cid.encode()}",
            cid,
        ),
        (Delete(POST, "a", swap_record=other), f"the record at {POST}/a is {cid.encode()}", cid),
        (Delete(POST, "gone", swap_record=other), f"the record at {POST}/gone is no record", None),
    ]
    for write, reason, current in refusals:
        with pytest.raises(InvalidSwapError) as info:
            repo.apply_writes([Create(POST, post("first"), rkey="first"), write])
        assert (info.value.reason, info.value.current) == (reason, current)
    assert snapshot(repo) == before
    updated = repo.apply_writes([Update(POST, "a", post("y"), swap_record=cid)])
    new_cid = updated.results[0].cid
    repo.apply_writes([Delete(POST, "a", swap_record=new_cid)])
    assert repo.get_record(POST, "a") is None


def test_record_exists_and_not_found(repo: Repo) -> None:
    repo.apply_writes([Create(POST, post("x"), rkey="a")])
    before = snapshot(repo)
    with pytest.raises(RecordExistsError) as exists:
        repo.apply_writes([Create(POST, post("y"), rkey="a")])
    assert (exists.value.path, exists.value.reason) == (
        f"{POST}/a",
        f"a record already exists at {POST}/a",
    )
    with pytest.raises(RecordNotFoundError) as update:
        repo.apply_writes([Update(POST, "b", post("y"))])
    assert (update.value.path, update.value.reason) == (
        f"{POST}/b",
        f"no record at {POST}/b to update",
    )
    with pytest.raises(RecordNotFoundError) as delete:
        repo.apply_writes([Create(POST, post("z"), rkey="c"), Delete(LIKE, "b")])
    assert delete.value.reason == f"no record at {LIKE}/b to delete"
    assert snapshot(repo) == before


# --- refused batches ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (
            Create("notannsid", post("x")),
            "NSID must have at least three segments (a domain authority and a name)",
        ),
        (Create("app.bsky.feed.", post("x")), None),
        (Create(POST, post("x"), rkey=".."), "record key must not be '.' or '..'"),
        (Create(POST, post("x"), rkey="a/b"), None),
        (Update(POST, "", post("x")), None),
        (Delete(POST, "a b"), None),
    ],
)
def test_bad_collection_or_rkey(repo: Repo, write: Write, reason: str | None) -> None:
    before = snapshot(repo)
    with pytest.raises(IdentifierError) as info:
        repo.apply_writes([Create(POST, post("ok"), rkey="ok"), write])
    if reason is not None:
        assert info.value.reason == reason
    assert snapshot(repo) == before


def test_refused_batches(repo: Repo) -> None:
    before = snapshot(repo)
    cases: list[tuple[list[Write], str]] = [
        (
            [Create(POST, post(str(n))) for n in range(201)],
            "201 writes in one batch; the most is 200",
        ),
        (
            [Create(POST, post("a"), rkey="a"), Delete(POST, "a")],
            f"{POST}/a is written twice in one batch",
        ),
        ([Create(POST, ["not", "a", "map"], rkey="a")], f"the record at {POST}/a is not a map"),  # type: ignore[arg-type]
        ([Create(POST, {"text": "x"}, rkey="a")], f"the record at {POST}/a has no $type"),
        ([Create(POST, {"$type": 5}, rkey="a")], f"the record at {POST}/a has no $type"),
        (
            [Create(POST, post("big", blob=b"x" * MAX_RECORD_SIZE), rkey="a")],
            f"the record at {POST}/a is 1000081 bytes, over the limit of 1000000",
        ),
    ]
    for writes, reason in cases:
        with pytest.raises(InvalidWriteError) as info:
            repo.apply_writes(writes)
        assert info.value.reason == reason
    with pytest.raises(EncodeError):
        repo.apply_writes([Create(POST, post("float", score=1.5), rkey="a")])
    assert snapshot(repo) == before


def test_commit_over_the_event_limit_is_refused(repo: Repo) -> None:
    before = snapshot(repo)
    writes: list[Write] = [
        Create(POST, post("big", blob=bytes([n]) * 700_000), rkey=f"b{n}") for n in range(3)
    ]
    with pytest.raises(InvalidWriteError) as info:
        repo.apply_writes(writes)
    assert info.value.reason.startswith("the commit's blocks are ")
    assert info.value.reason.endswith(" bytes, over the event limit of 2000000")
    assert snapshot(repo) == before
    repo.apply_writes(writes[:2])


# --- transactions: nothing written on error, group commit ---------------------------------------


def test_group_commit_carries_on_after_a_refused_batch(tmp_path: Path) -> None:
    repos = RepoStore()
    with Store.open(
        tmp_path / "s", name="pds", schema_version=1, tables=("events", *REPO_TABLES)
    ) as store:
        with store.write() as txn:
            first = {did: repos.create(txn, did, KEY) for did in (DID, OTHER)}
        commits: list[CommitData] = []
        with store.write() as txn:
            commits.append(repos.apply_writes(txn, DID, [Create(POST, post("a"), rkey="a")], KEY))
            with pytest.raises(RecordExistsError):
                repos.apply_writes(
                    txn,
                    DID,
                    [Create(POST, post("b"), rkey="b"), Create(POST, post("again"), rkey="a")],
                    KEY,
                )
            commits.append(
                repos.apply_writes(txn, OTHER, [Create(LIKE, {"$type": LIKE}, rkey="x")], KEY)
            )
            commits.append(repos.apply_writes(txn, DID, [Create(POST, post("c"), rkey="c")], KEY))
            for commit in commits:
                txn.append("events", u64(txn.next_u64("events")), bytes(commit.commit))
        check_event(commits[0], first[DID])
        check_event(commits[1], first[OTHER])
        check_event(commits[2], commits[0])
        with store.read() as txn:
            assert txn.count("events") == 3
            assert repos.latest(txn, DID).commit == commits[2].commit
            assert [r.rkey for r in repos.list_records(txn, DID, POST).records] == ["c", "a"]
            export = b"".join(repos.export(txn, DID))
        assert len(verify_repo(export, did_key=DID_KEY, did=DID).records) == 2


def test_an_aborted_transaction_leaves_no_commit(tmp_path: Path) -> None:
    repos = RepoStore()
    with Store.open(tmp_path / "s", name="pds", schema_version=1, tables=REPO_TABLES) as store:
        with store.write() as txn:
            repos.create(txn, DID, KEY)
        with store.read() as reader:
            before = repos.latest(reader, DID)

        def fail_after_commit() -> None:
            with store.write() as txn:
                repos.apply_writes(txn, DID, [Create(POST, post("a"), rkey="a")], KEY)
                raise RuntimeError("the event log failed")

        with pytest.raises(RuntimeError):
            fail_after_commit()
        with store.read() as reader:
            assert repos.latest(reader, DID) == before
            assert repos.get_record(reader, DID, POST, "a") is None


# --- reads ------------------------------------------------------------------------------------


def test_list_records_orders_and_pages(repo: Repo) -> None:
    rkeys = [f"k{n:02d}" for n in range(23)]
    repo.apply_writes(
        [Create(POST, post(r), rkey=r) for r in rkeys] + [Create(LIKE, {"$type": LIKE}, rkey="k00")]
    )
    page = repo.list_records(POST, limit=5)
    assert [r.rkey for r in page.records] == rkeys[::-1][:5]
    assert page.cursor == rkeys[-5]
    for reverse, expected in ((False, rkeys[::-1]), (True, rkeys)):
        seen: list[str] = []
        cursor = None
        while True:
            page = repo.list_records(POST, limit=7, cursor=cursor, reverse=reverse)
            seen += [r.rkey for r in page.records]
            if page.cursor is None:
                break
            cursor = page.cursor
        assert seen == expected
    exact = repo.list_records(POST, limit=23)
    assert exact.cursor is None
    assert len(exact.records) == 23
    assert repo.list_records("com.example.none").records == []
    assert [r.value for r in repo.list_records(LIKE).records] == [dagcbor.encode({"$type": LIKE})]
    with pytest.raises(ValueError, match="limit must be at least 1"):
        repo.list_records(POST, limit=0)
    with pytest.raises(IdentifierError):
        repo.list_records("bad")


def test_collections(repo: Repo) -> None:
    assert repo.collections() == []
    repo.apply_writes(
        [
            Create(c, {"$type": c}, rkey="r")
            for c in (POST, LIKE, "app.bsky.feed.repost", "app.bsky.feed")
        ]
    )
    assert repo.collections() == ["app.bsky.feed", LIKE, POST, "app.bsky.feed.repost"]
    repo.apply_writes([Delete(LIKE, "r")])
    assert repo.collections() == ["app.bsky.feed", POST, "app.bsky.feed.repost"]


def test_get_blocks(repo: Repo) -> None:
    commit = repo.apply_writes([Create(POST, post("x"), rkey="a")])
    record = commit.results[0].cid
    assert record is not None
    found = repo.get_blocks([commit.commit, record])
    assert [cid for cid, _ in found] == [commit.commit, record]
    assert all(CID.compute(data) == cid for cid, data in found)
    missing = CID.compute(b"nothing")
    with pytest.raises(BlockNotFoundError) as info:
        repo.get_blocks([record, missing])
    assert info.value.missing == [missing]
    assert info.value.reason == f"blocks not found: {missing.encode()}"


def test_record_proof(repo: Repo) -> None:
    repo.apply_writes([Create(POST, post(str(n)), rkey=f"k{n:03d}") for n in range(150)])
    proof = repo.record_proof(POST, "k042")
    verified = verify_record_car(proof, did=DID, collection=POST, rkey="k042", did_key=DID_KEY)
    assert verified is not None
    assert verified.data == dagcbor.encode(post("42"))
    absent = repo.record_proof(POST, "k999")
    assert verify_record_car(absent, did=DID, collection=POST, rkey="k999", did_key=DID_KEY) is None


# --- export and diff since ---------------------------------------------------------------------


def test_export_streams_exactly_the_reachable_blocks(repo: Repo) -> None:
    repo.apply_writes([Create(POST, post(str(n)), rkey=f"k{n:03d}") for n in range(200)])
    repo.apply_writes([Delete(POST, f"k{n:03d}") for n in range(0, 200, 3)])
    repo.apply_writes([Update(POST, f"k{n:03d}", post("u")) for n in range(1, 200, 3)])
    head = repo.latest()
    with repo.store.read() as txn:
        chunks = list(repo.repos.export(txn, DID, chunk_size=4096))
    assert len(chunks) >= 4
    data = b"".join(chunks)
    assert data == repo.export_bytes()
    stored, wanted = reachable(data)
    assert stored == wanted
    report = verify_repo(data, did_key=DID_KEY, did=DID)
    assert report.commit_cid == head.commit
    first = next(iter(car.CarReader(io.BytesIO(data))))
    assert first[0] == head.commit


def test_same_value_at_two_paths_is_stored_once(repo: Repo) -> None:
    value = post("same")
    repo.apply_writes([Create(POST, value, rkey="a"), Create(POST, value, rkey="b")])
    repo.apply_writes([Delete(POST, "a")])
    record = repo.get_record(POST, "b")
    assert record is not None
    assert record.value == dagcbor.encode(value)
    stored, wanted = reachable(repo.export_bytes())
    assert stored == wanted
    repo.apply_writes([Update(POST, "b", post("other"))])
    stored, wanted = reachable(repo.export_bytes())
    assert stored == wanted
    assert CID.compute(dagcbor.encode(value)) not in stored


def test_diff_since_completes_an_older_copy(repo: Repo) -> None:
    repo.apply_writes([Create(POST, post(str(n)), rkey=f"k{n:03d}") for n in range(100)])
    old = repo.export_bytes()
    old_rev = repo.latest().rev
    repo.apply_writes([Delete(POST, "k010"), Update(POST, "k020", post("new"))])
    repo.apply_writes([Create(LIKE, {"$type": LIKE}, rkey="l")])
    head = repo.latest()
    diff = repo.export_bytes(since=old_rev)
    roots, diff_blocks = car.read_car(diff)
    assert roots == [head.commit]
    assert len(diff) < len(old) / 4
    _, old_blocks = car.read_car(old)
    merged = car.write_car([head.commit], {**old_blocks, **diff_blocks}.items())
    report = verify_repo(merged, did_key=DID_KEY, did=DID)
    assert len(report.records) == 100
    latest_only = car.read_car(repo.export_bytes(since=head.rev))
    assert latest_only == ([head.commit], {head.commit: diff_blocks[head.commit]})
    everything = car.read_car(repo.export_bytes(since="2222222222222"))[1]
    assert everything == car.read_car(repo.export_bytes())[1]
    with pytest.raises(IdentifierError):
        repo.export_bytes(since="not-a-tid")


# --- deletion -----------------------------------------------------------------------------------


def test_destroy_removes_one_repository(tmp_path: Path) -> None:
    repos = RepoStore()
    with Store.open(tmp_path / "s", name="pds", schema_version=1, tables=REPO_TABLES) as store:
        with store.write() as txn:
            for did in (DID, OTHER):
                repos.create(txn, did, KEY)
                repos.apply_writes(txn, did, [Create(POST, post(did), rkey="a")], KEY)
        with store.write() as txn:
            assert repos.destroy(txn, DID)
            assert not repos.destroy(txn, DID)
        with store.read() as txn:
            assert repos.head(txn, DID) is None
            for table in REPO_TABLES:
                assert all(not key.startswith(DID.encode()) for key, _ in txn.items(table))
            export = b"".join(repos.export(txn, OTHER))
            assert [did for did, _ in repos.list_repos(txn)] == [OTHER]
        assert len(verify_repo(export, did_key=DID_KEY, did=OTHER).records) == 1


def test_list_repos(tmp_path: Path) -> None:
    repos = RepoStore(prefix="r_")
    dids = [f"did:plc:listrepos{n:016d}" for n in range(5)]
    with Store.open(tmp_path / "s", name="pds", schema_version=1, tables=repos.tables) as store:
        with store.write() as txn:
            heads = {did: repos.create(txn, did, KEY).commit for did in dids}
        with store.read() as txn:
            page = repos.list_repos(txn, limit=2)
            assert [did for did, _ in page] == dids[:2]
            rest = repos.list_repos(txn, cursor=page[-1][0])
            assert [did for did, _ in rest] == dids[2:]
            assert all(head.commit == heads[did] for did, head in page + rest)


def test_blocks_as_a_mapping(repo: Repo) -> None:
    repo.apply_writes([Create(POST, post(str(n)), rkey=f"k{n}") for n in range(30)])
    stored, _ = reachable(repo.export_bytes())
    extra = CID.compute(b"extra")
    with repo.store.read() as txn:
        blocks = TxnBlocks(txn, repo.repos.blocks, DID)
        assert set(blocks) == stored
        assert len(blocks) == len(stored)
        assert repo.latest().commit in blocks
        assert extra not in blocks
        assert "not a cid" not in blocks
        with pytest.raises(KeyError):
            blocks[extra]
        overlay = Overlay({extra: b"extra"}, blocks)
        assert set(overlay) == {*stored, extra}
        assert len(overlay) == len(stored) + 1
        assert overlay[extra] == b"extra"
        assert extra in overlay
        with pytest.raises(KeyError):
            overlay[CID.compute(b"absent")]
