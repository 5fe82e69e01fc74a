"""verify_record_car: a single record and its proof, as com.atproto.sync.getRecord serves it."""

from __future__ import annotations

import pytest
from strato import CID, car, dagcbor
from strato.crypto import PrivateKey
from strato.errors import CommitVerificationError
from strato.repo import mst
from strato.repo.commit import decode_commit, next_rev, sign_commit
from strato.repo.verify import verify_record_car

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
COLLECTION = "com.atproto.lexicon.schema"


def _repo(count: int = 300) -> tuple[dict[CID, bytes], CID]:
    """A repository of ``count`` records: its blocks (records and MST nodes) and data root."""
    blocks: dict[CID, bytes] = {}
    pairs = []
    for i in range(count):
        record = dagcbor.encode({"$type": COLLECTION, "id": f"app.example.n{i}", "lexicon": 1})
        cid = CID.compute(record)
        blocks[cid] = record
        pairs.append((f"{COLLECTION}/app.example.n{i}", cid))
    root, nodes = mst.build(pairs)
    blocks.update(nodes)
    return blocks, root


def _record_car(key: PrivateKey, rkey: str, *, drop: CID | None = None, did: str = DID) -> bytes:
    blocks, root = _repo()
    commit_cid, commit = sign_commit(did, next_rev(), root, key)
    value, proof = mst.record_proof(blocks, root, f"{COLLECTION}/{rkey}")
    wanted = [(commit_cid, commit)] + [(cid, blocks[cid]) for cid in proof]
    if value is not None:
        wanted.append((value, blocks[value]))
    return car.write_car([commit_cid], [(cid, data) for cid, data in wanted if cid != drop])


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return PrivateKey.generate("k256")


def test_a_proven_record(key: PrivateKey) -> None:
    data = _record_car(key, "app.example.n42")
    got = verify_record_car(
        data,
        did=DID,
        collection=COLLECTION,
        rkey="app.example.n42",
        did_key=key.public_key.did_key(),
    )
    assert got is not None
    assert dagcbor.decode(got.data)["id"] == "app.example.n42"
    assert got.cid == CID.compute(got.data)
    assert decode_commit(car.read_car(data)[1][got.commit_cid]).rev == got.rev


def _verify(
    data: bytes, key: PrivateKey, *, did: str = DID, rkey: str = "app.example.n7"
) -> object:
    return verify_record_car(
        data, did=did, collection=COLLECTION, rkey=rkey, did_key=key.public_key.did_key()
    )


def _failure(data: bytes, key: PrivateKey, *, did: str = DID, rkey: str = "app.example.n7") -> str:
    with pytest.raises(CommitVerificationError) as info:
        _verify(data, key, did=did, rkey=rkey)
    return info.value.code


def test_a_proven_absence(key: PrivateKey) -> None:
    data = _record_car(key, "app.example.missing")
    assert _verify(data, key, rkey="app.example.missing") is None


def test_wrong_key_is_a_bad_signature(key: PrivateKey) -> None:
    other = PrivateKey.generate("p256")
    assert _failure(_record_car(key, "app.example.n7"), other) == "bad_signature"


def test_commit_of_another_account(key: PrivateKey) -> None:
    data = _record_car(key, "app.example.n7", did="did:plc:someoneelse234567abcdefg")
    assert _failure(data, key) == "field_mismatch"


def test_missing_record_block(key: PrivateKey) -> None:
    blocks, root = _repo()
    value, _ = mst.record_proof(blocks, root, f"{COLLECTION}/app.example.n7")
    assert _failure(_record_car(key, "app.example.n7", drop=value), key) == "missing_block"


def test_missing_proof_node(key: PrivateKey) -> None:
    _blocks, root = _repo()
    assert _failure(_record_car(key, "app.example.n7", drop=root), key) == "missing_block"


def test_proof_for_another_record_does_not_prove_this_one(key: PrivateKey) -> None:
    # The CAR proves n7; asking for n8 needs nodes it may lack, and never yields n7's CID.
    data = _record_car(key, "app.example.n7")
    assert _failure(data, key, rkey="app.example.n8") == "missing_block"


def test_tampered_block_and_garbage(key: PrivateKey) -> None:
    data = bytearray(_record_car(key, "app.example.n7"))
    data[-3] ^= 1
    assert _failure(bytes(data), key) == "hash_mismatch"
    assert _failure(b"\x00garbage", key) == "bad_car"
    assert _failure(car.write_car([], []), key) == "bad_car"
