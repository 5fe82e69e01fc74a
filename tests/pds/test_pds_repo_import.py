"""``com.atproto.repo.importRepo`` over HTTP (account migration): a CAR verified in full
against the account's key replaces the repository in one transaction with a ``#sync`` event,
its blob references are recorded (those not uploaded yet listed by ``listMissingBlobs``), and a
malformed, foreign or oversized CAR is refused with nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pds_net import LocalPds, local_network, run_pds, run_plc
from pds_repo_helpers import PNG, POST, User, error_of, event_kinds, nothing_written, post, user
from strato import CID, dagcbor
from strato.pds.context import SCHEMA_VERSION, open_store
from strato.repo import Create, Repo
from strato.repo.verify import verify_repo
from strato.storage import u64

IMPORT = "com.atproto.repo.importRepo"
CAR = {"Content-Type": "application/vnd.ipld.car"}
MISSING_BLOB = "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"


def export(pds: LocalPds, did: str) -> bytes:
    response = pds.xrpc("com.atproto.sync.getRepo", params={"did": did})
    assert response.status_code == 200, response.text
    return response.content


def test_import_replaces_the_repository_and_emits_sync(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    blob = alice.ok("com.atproto.repo.uploadBlob", content=PNG,
                    headers={"Content-Type": "image/png"})["blob"]  # fmt: skip
    images = {"$type": "app.bsky.embed.images", "images": [{"image": blob, "alt": ""}]}
    alice.create(post("keep"), rkey="a")
    alice.create(post("pic", embed=images), rkey="b")
    before = alice.records()
    car = export(pds, alice.did)
    alice.ok("com.atproto.repo.deleteRecord",
             json={"repo": alice.did, "collection": POST, "rkey": "b"})  # fmt: skip
    alice.create(post("later"), rkey="c")
    seq = pds.ctx.sequencer.head()
    response = alice.call(IMPORT, content=car, headers=CAR)
    assert response.status_code == 200, response.text
    assert alice.records() == before
    assert event_kinds(pds, seq) == ["#sync"]
    listed = pds.xrpc("com.atproto.sync.listBlobs", params={"did": alice.did}).json()
    assert listed["cids"] == [blob["ref"]["$link"]]
    missing = alice.ok("com.atproto.repo.listMissingBlobs")
    assert missing == {"blobs": []}


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


def test_bad_imports_write_nothing(tmp_path: Path) -> None:
    with local_network(tmp_path, blob_limit=4096) as pds:
        alice = user(pds, "alice")
        bob = user(pds, "bob")
        alice.create(post("mine"), rkey="a")
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
            # another account's repository: not signed by bob's key, not bob's DID
            assert error_of(bob.call(IMPORT, content=alices_car, headers=CAR)) == (
                400, "InvalidRequest",
            )  # fmt: skip
            wrong_type = alice.call(IMPORT, content=alices_car,
                                    headers={"Content-Type": "application/json"})  # fmt: skip
            assert error_of(wrong_type) == (400, "InvalidRequest")
            anonymous = pds.xrpc(IMPORT, content=alices_car, headers=CAR)
            assert error_of(anonymous) == (401, "AuthMissing")
        assert list(bob.records()) == []
        assert list(alice.records()) == ["a"]


def test_a_data_dir_from_before_repository_spaces_is_upgraded(tmp_path: Path) -> None:
    with run_plc(tmp_path / "plc") as plc_url:
        with run_pds(tmp_path / "pds", plc_url) as pds:
            alice = user(pds, "alice")
            alice.create(post("before"), rkey="a")
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
            assert alice.records() == {"a": car_records(car)["a"]}
            assert export(pds, alice.did) == car
            assert alice.call(IMPORT, content=car, headers=CAR).status_code == 200
            alice.create(post("after"), rkey="b")
            assert list(alice.records()) == ["b", "a"]
            with pds.ctx.store.read() as txn:
                assert txn.get("__strato__", b"schema_version") == u64(SCHEMA_VERSION)


def car_records(data: bytes) -> dict[str, str]:
    """The record CIDs of a repository CAR, by record key."""
    return {path.split("/")[1]: cid.encode() for path, cid in verify_repo(data).records}
