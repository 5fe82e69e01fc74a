"""``com.atproto.repo.importRepo`` over HTTP (account migration, restoring a backup): a CAR
verified in full, signed by a key the account has had, replaces the repository as a new commit
of this PDS with a later rev, announced as a ``#commit`` with the record ops when they fit one
(else a ``#sync``); its blob references are recorded (those not uploaded yet listed by
``listMissingBlobs``); a malformed, foreign, unsigned or future CAR is refused with nothing
written; one import at a time per account, and a few per hour."""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from pds_net import LocalPds, local_network, run_pds, run_plc
from pds_repo_helpers import (
    PNG,
    POST,
    User,
    error_of,
    event_kinds,
    nothing_written,
    post,
    tid,
    user,
)
from strato import CID, car, dagcbor
from strato.crypto import PrivateKey
from strato.firehose import decode_frame
from strato.pds.blobs import BlobRef
from strato.pds.context import SCHEMA_VERSION, open_store
from strato.repo import Create, Repo
from strato.repo.commit import sign_commit
from strato.repo.staging import staging_pieces
from strato.repo.verify import read_repo, verify_repo
from strato.storage import u64
from strato.sync import verify_commit_event
from strato.syntax import TID

IMPORT = "com.atproto.repo.importRepo"
CAR = {"Content-Type": "application/vnd.ipld.car"}
#: Record keys, in order (a post's key is a TID).
A, B, C, D, E, F = (tid(n) for n in range(1, 7))
MISSING_BLOB = "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"


def repo_car(tmp_path: Path, did: str, key: PrivateKey, records: dict[str, Any]) -> bytes:
    """A repository of ``did`` signed with ``key`` holding ``records`` (posts, by rkey)."""
    writes = [Create(POST, value, rkey) for rkey, value in records.items()]
    with Repo.open(tmp_path / f"car-{len(records)}", did, key, sync=False) as repo:
        repo.create(writes[:200])
        for start in range(200, len(writes), 200):
            repo.apply_writes(writes[start : start + 200])
        return repo.export_bytes()


def export(pds: LocalPds, did: str) -> bytes:
    response = pds.xrpc("com.atproto.sync.getRepo", params={"did": did})
    assert response.status_code == 200, response.text
    return response.content


def latest(pds: LocalPds, did: str) -> dict[str, Any]:
    with pds.ctx.store.read() as txn:
        head = pds.ctx.repos.latest(txn, did)
    return {"commit": head.commit, "rev": head.rev, "data": head.data}


def test_reimporting_an_earlier_export_moves_the_head_forward_as_a_commit(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    blob = alice.ok("com.atproto.repo.uploadBlob", content=PNG,
                    headers={"Content-Type": "image/png"})["blob"]  # fmt: skip
    images = {"$type": "app.bsky.embed.images", "images": [{"image": blob, "alt": ""}]}
    alice.create(post("keep"), rkey=A)
    alice.create(post("pic", embed=images), rkey=B)
    earlier = alice.records()
    car = export(pds, alice.did)
    alice.ok("com.atproto.repo.deleteRecord",
             json={"repo": alice.did, "collection": POST, "rkey": B})  # fmt: skip
    for rkey in (C, D, E):
        alice.create(post("later"), rkey=rkey)
    before = latest(pds, alice.did)
    seq = pds.ctx.sequencer.head()
    response = alice.call(IMPORT, content=car, headers=CAR)
    assert response.status_code == 200, response.text
    assert alice.records() == earlier
    after = latest(pds, alice.did)
    assert after["rev"] > before["rev"]
    assert after["data"] == verify_repo(car).data_cid
    # one #commit: the three later records deleted, the picture back, signed by this PDS
    (event,) = [decode_frame(item.frame) for item in pds.ctx.sequencer.events_after(seq)]
    assert event.t == "#commit"
    body = event.body
    assert (body["rev"], body["since"], body["prevData"]) == (
        after["rev"], before["rev"], before["data"],
    )  # fmt: skip
    assert [(op["action"], op["path"].split("/")[1]) for op in body["ops"]] == [
        ("create", B), ("delete", C), ("delete", D), ("delete", E),
    ]  # fmt: skip
    key = pds.ctx.keys.signing_key(alice.did).public_key.did_key()
    verified = verify_commit_event(body, key, prev_rev=before["rev"], prev_data=before["data"])
    assert verified.inversion_checked
    assert verified.prev_data_checked
    listed = pds.xrpc("com.atproto.sync.listBlobs", params={"did": alice.did}).json()
    assert listed["cids"] == [blob["ref"]["$link"]]
    assert alice.ok("com.atproto.repo.listMissingBlobs") == {"blobs": []}
    # and the account writes on from the imported head
    made = alice.create(post("next"), rkey=F)
    assert made["commit"]["rev"] > after["rev"]


def test_a_large_difference_is_announced_as_a_sync(tmp_path: Path, pds: LocalPds) -> None:
    alice = user(pds, "alice")
    alice.create(post("old"), rkey=tid(100))
    key = pds.ctx.keys.signing_key(alice.did)
    car = repo_car(tmp_path, alice.did, key, {f"n{n:03}": post(str(n)) for n in range(250)})
    before = latest(pds, alice.did)
    seq = pds.ctx.sequencer.head()
    assert alice.call(IMPORT, content=car, headers=CAR).status_code == 200
    assert len(alice.records()) == 250
    after = latest(pds, alice.did)
    assert after["rev"] > before["rev"]
    assert event_kinds(pds, seq) == ["#sync"]


def _car_with_missing_blob(tmp_path: Path, pds: LocalPds, alice: User) -> bytes:
    """A repository of alice's, signed with her key, whose record references a blob this PDS
    never received (as a migration brings)."""
    key = pds.ctx.keys.signing_key(alice.did)
    blob: dict[str, Any] = {"$type": "blob", "ref": CID.decode(MISSING_BLOB),
                            "mimeType": "image/png", "size": 10}  # fmt: skip
    record = post("moved", embed={"$type": "app.bsky.embed.images",
                                  "images": [{"image": blob, "alt": ""}]})  # fmt: skip
    with Repo.open(tmp_path / "elsewhere", alice.did, key, sync=False) as repo:
        repo.create([Create(POST, record, "moved")])
        return repo.export_bytes()


def test_import_lists_missing_blobs_until_uploaded(tmp_path: Path, pds: LocalPds) -> None:
    alice = user(pds, "alice")
    car = _car_with_missing_blob(tmp_path, pds, alice)
    assert alice.call(IMPORT, content=car, headers=CAR).status_code == 200
    assert list(alice.records()) == ["moved"]
    missing = alice.ok("com.atproto.repo.listMissingBlobs")
    assert missing == {
        "blobs": [{"cid": MISSING_BLOB, "recordUri": f"at://{alice.did}/{POST}/moved"}],
        "cursor": MISSING_BLOB,
    }
    assert alice.ok("com.atproto.repo.listMissingBlobs", params={"cursor": MISSING_BLOB}) == {
        "blobs": []
    }
    bad = alice.call("com.atproto.repo.listMissingBlobs", params={"limit": "0"})
    assert error_of(bad) == (400, "InvalidRequest")


def _picture(cid: str, mime_type: str = "image/png") -> dict[str, Any]:
    blob = {"$type": "blob", "ref": CID.decode(cid), "mimeType": mime_type, "size": len(PNG)}
    return post("pic", embed={"$type": "app.bsky.embed.images",
                              "images": [{"image": blob, "alt": ""}]})  # fmt: skip


def test_an_import_refused_late_leaves_no_blob_rows(tmp_path: Path, pds: LocalPds) -> None:
    alice = user(pds, "alice")
    alice.create(post("mine"), rkey=A)
    uploaded = alice.ok("com.atproto.repo.uploadBlob", content=PNG,
                        headers={"Content-Type": "image/png"})["blob"]["ref"]["$link"]  # fmt: skip
    # 2.5 writer steps of blob rows for blobs never uploaded, then one that contradicts the
    # uploaded blob's type: refused when the blob rows are already half in
    records = {f"m{n:03}": _picture(str(CID.compute(b"%d" % n, "raw"))) for n in range(250)}
    records["z"] = _picture(uploaded, "image/gif")
    data = repo_car(tmp_path, alice.did, pds.ctx.keys.signing_key(alice.did), records)
    with nothing_written(pds, alice):
        response = alice.call(IMPORT, content=data, headers=CAR)
    assert error_of(response) == (400, "InvalidMimeType")
    assert list(alice.records()) == [A]
    _wait_for_no_spaces(pds)
    assert alice.ok("com.atproto.repo.listMissingBlobs") == {"blobs": []}
    with pds.ctx.store.read() as txn:
        assert pds.ctx.blobs.record_paths(txn, alice.did) == set()


def test_bad_imports_write_nothing(tmp_path: Path) -> None:
    with local_network(tmp_path, blob_limit=4096) as pds:
        alice = user(pds, "alice")
        bob = user(pds, "bob")
        alice.create(post("mine"), rkey=A)
        alices_car = export(pds, alice.did)
        valid = bytearray(alices_car)
        valid[-5] ^= 0xFF  # a corrupt block: its hash no longer matches
        with nothing_written(pds, alice, bob):
            for content, expected in (
                (b"not a car at all", (400, "InvalidRequest")),
                (b"", (400, "InvalidRequest")),
                (bytes(valid), (400, "InvalidRequest")),
                (alices_car[: len(alices_car) // 2], (400, "InvalidRequest")),
                (b"\x00" * 5000, (413, "PayloadTooLarge")),
            ):
                response = alice.call(IMPORT, content=content, headers=CAR)
                assert error_of(response) == expected, content[:20]
            # another account's repository
            foreign = bob.call(IMPORT, content=alices_car, headers=CAR)
            assert error_of(foreign) == (400, "InvalidRequest")
            assert foreign.json()["message"] == (
                f"Invalid repository CAR: field_mismatch: the repository is {alice.did}'s, "
                f"not {bob.did}'s"
            )
            wrong_type = alice.call(IMPORT, content=alices_car,
                                    headers={"Content-Type": "application/json"})  # fmt: skip
            assert error_of(wrong_type) == (400, "InvalidRequest")
            anonymous = pds.xrpc(IMPORT, content=alices_car, headers=CAR)
            assert error_of(anonymous) == (401, "AuthMissing")
        assert list(bob.records()) == []
        assert list(alice.records()) == [A]


def test_a_repository_no_key_of_the_account_signed_is_refused(
    tmp_path: Path, pds: LocalPds
) -> None:
    alice = user(pds, "alice")
    alice.create(post("mine"), rkey=A)
    stranger = PrivateKey.generate("k256")
    forged = repo_car(tmp_path, alice.did, stranger, {"x": post("not hers")})
    with nothing_written(pds, alice):
        response = alice.call(IMPORT, content=forged, headers=CAR)
    assert error_of(response) == (400, "InvalidRequest")
    assert response.json()["message"] == (
        "Invalid repository CAR: bad_signature: the commit's signature verifies against no key "
        "of the account (tried this PDS's key for the account, its DID document's key, every "
        "signing key in its PLC audit log)"
    )
    assert list(alice.records()) == [A]


def test_a_rev_far_in_the_future_is_refused(tmp_path: Path, pds: LocalPds) -> None:
    alice = user(pds, "alice")
    key = pds.ctx.keys.signing_key(alice.did)
    rev = TID.from_parts(int((time.time() + 3600) * 1_000_000), 0)
    data = repo_car(tmp_path, alice.did, key, {"x": post("x")})
    roots, blocks = car.read_car(data)
    commit, commit_bytes = sign_commit(alice.did, rev, verify_repo(data).data_cid, key)
    del blocks[roots[0]]
    future = car.write_car([commit], [(commit, commit_bytes), *blocks.items()])
    with nothing_written(pds, alice):
        response = alice.call(IMPORT, content=future, headers=CAR)
    assert error_of(response) == (400, "InvalidRequest")
    assert response.json()["message"] == (
        f"Invalid repository CAR: rev_in_future: the commit's rev {rev} is more than five "
        "minutes ahead of the clock"
    )


def test_one_import_at_a_time_per_account(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    alice.create(post("mine"), rkey=A)
    data = export(pds, alice.did)
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(alice.call(IMPORT, content=data,
                                                                      headers=CAR)))  # fmt: skip
    with pds.ctx.store.write():  # holds the writer: the first import cannot finish meanwhile
        first.start()
        deadline = time.monotonic() + 30
        while not pds.ctx.importer.running(alice.did):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = alice.call(IMPORT, content=data, headers=CAR)
    first.join()
    assert answers[0].status_code == 200, answers[0].text
    assert error_of(second) == (400, "InvalidRequest")
    assert second.json()["message"] == (
        f"an import into the repository of {alice.did} is in progress; try again when it has "
        "finished"
    )
    # another process staging an import into the same repository: refused as well
    store, repos = pds.ctx.store, pds.ctx.repos
    staging = store.transact(lambda txn: repos.begin_import(txn, alice.did))
    with nothing_written(pds, alice):
        third = alice.call(IMPORT, content=data, headers=CAR)
    assert third.json()["message"] == f"an import into the repository of {alice.did} is in progress"
    store.transact(lambda txn: repos.abandon_import(txn, staging))


def test_imports_are_rate_limited_per_account(tmp_path: Path) -> None:
    with local_network(tmp_path, rate_limits=True) as pds:
        alice = user(pds, "alice")
        bob = user(pds, "bob")
        data = export(pds, alice.did)
        for _ in range(5):
            assert alice.call(IMPORT, content=data, headers=CAR).status_code == 200
        refused = alice.call(IMPORT, content=data, headers=CAR)
        assert error_of(refused) == (429, "RateLimitExceeded")
        assert refused.headers["RateLimit-Policy"] == "5;w=3600"
        assert bob.call(IMPORT, content=export(pds, bob.did), headers=CAR).status_code == 200


def test_a_data_dir_from_before_repository_spaces_is_upgraded(tmp_path: Path) -> None:
    with run_plc(tmp_path / "plc") as plc_url:
        with run_pds(tmp_path / "pds", plc_url) as pds:
            alice = user(pds, "alice")
            alice.create(post("before"), rkey=A)
            car = export(pds, alice.did)
            repos = pds.ctx.repos
            with pds.ctx.store.read() as txn:
                head = repos.latest(txn, alice.did)
        # schema version 1: roots were [commit, rev, data], the keys those of space 0
        with open_store(tmp_path / "pds") as store:
            row = dagcbor.encode([head.commit, head.rev, head.data])
            store.transact(lambda txn: txn.put(repos.roots, alice.did.encode(), row))
            store.transact(lambda txn: txn.put("__strato__", b"schema_version", u64(1)))
        with run_pds(tmp_path / "pds", plc_url) as pds:
            alice.pds = pds
            assert alice.records() == {A: car_records(car)[A]}
            assert export(pds, alice.did) == car
            assert alice.call(IMPORT, content=car, headers=CAR).status_code == 200
            alice.create(post("after"), rkey=B)
            assert list(alice.records()) == [B, A]
            with pds.ctx.store.read() as txn:
                assert txn.get("__strato__", b"schema_version") == u64(SCHEMA_VERSION)


def car_records(data: bytes) -> dict[str, str]:
    """The record CIDs of a repository CAR, by record key."""
    return {path.split("/")[1]: cid.encode() for path, cid in verify_repo(data).records}


def test_a_restart_ends_interrupted_imports_and_drops_retired_spaces(tmp_path: Path) -> None:
    with run_plc(tmp_path / "plc") as plc_url:
        with run_pds(tmp_path / "pds", plc_url) as pds:
            alice = user(pds, "alice")
            for rkey in (A, B):
                alice.create(post(rkey), rkey=rkey)
            before = export(pds, alice.did)
            key = pds.ctx.keys.signing_key(alice.did)
            data = repo_car(tmp_path, alice.did, key, {f"n{n}": post(str(n)) for n in range(300)})
            repo = read_repo(data)
            store, repos = pds.ctx.store, pds.ctx.repos
            counts = _entries(pds)
            # the process dies while an import is staging: two pieces are in
            staging = store.transact(lambda txn: repos.begin_import(txn, alice.did))
            pieces = staging_pieces(repo, max_bytes=10_000)
            for piece in (next(pieces), next(pieces)):
                store.transact(partial(repos.stage, staging=staging, piece=piece))
            # and the blob rows of a record at a path the repository does not hold yet
            ref = BlobRef(cid=MISSING_BLOB, mime_type="image/png", size=10)
            store.transact(partial(pds.ctx.blobs.set_record_blobs, did=alice.did,
                                   path=f"{POST}/new", refs=[ref], rev=staging.rev,
                                   allow_missing=True))  # fmt: skip
            assert alice.ok("com.atproto.repo.listMissingBlobs")["blobs"]
            assert _entries(pds) != counts
        with run_pds(tmp_path / "pds", plc_url) as pds:
            alice.pds = pds
            _wait_for_no_spaces(pds)
            assert _entries(pds) == counts
            assert export(pds, alice.did) == before
            assert alice.ok("com.atproto.repo.listMissingBlobs") == {"blobs": []}
            # the process dies after an import's swap, before its old space is dropped
            store, repos = pds.ctx.store, pds.ctx.repos
            staging = store.transact(lambda txn: repos.begin_import(txn, alice.did))
            for piece in staging_pieces(repo):
                store.transact(partial(repos.stage, staging=staging, piece=piece))
            store.transact(partial(repos.finish_import, staging=staging, data=repo.data_cid,
                                   signing_key=key))  # fmt: skip
            after = export(pds, alice.did)
        with run_pds(tmp_path / "pds", plc_url) as pds:
            _wait_for_no_spaces(pds)
            assert export(pds, alice.did) == after
            alice.pds = pds
            assert len(alice.records()) == 300
            with pds.ctx.store.read() as txn:
                blocks, records = pds.ctx.repos.counts(txn, alice.did)
                assert (txn.count(pds.ctx.repos.blocks), records) == (blocks, 300)


def _entries(pds: LocalPds) -> dict[str, int]:
    with pds.ctx.store.read() as txn:
        return {table: txn.count(table) for table in pds.ctx.repos.tables}


def _wait_for_no_spaces(pds: LocalPds) -> None:
    deadline = time.monotonic() + 30
    while _entries(pds)[pds.ctx.repos.spaces]:
        assert time.monotonic() < deadline, "the retired spaces were not dropped"
        time.sleep(0.01)
