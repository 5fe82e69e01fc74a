"""Whole-event verification (`strato.sync`) and repository verification (`strato.repo.verify`).

Real data: the four `#commit` messages and the repo exports in `../shared/testdata/indigo`.
Synthetic events are built here with our own MST, commit signing and CAR writer, then broken one
way at a time: each rejection asserts its specific error code.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import require_shared
from high_s import malleate
from strato import CID, _core, dagcbor
from strato._core import PrivateKey
from strato.car import read_car, write_car
from strato.errors import CommitVerificationError, InvalidKeyError
from strato.repo import mst
from strato.repo.commit import decode_commit, next_rev, sign_commit, verify_commit_signature
from strato.repo.verify import load_did_doc, signing_key_from_did_doc, verify_repo
from strato.sync import (
    FUTURE_REV_TOLERANCE_MICROS,
    MAX_COMMIT_BLOCKS,
    MAX_OPS,
    MAX_RECORD_SIZE,
    MAX_SYNC_BLOCKS,
    RELAXABLE,
    CommitItem,
    ErrorCode,
    VerifyPolicy,
    verify_commit_event,
    verify_commit_events,
    verify_sync_event,
)

DID = "did:plc:testaccount0000000000000"
REPO_TESTDATA = ("testdata", "indigo", "atproto", "repo", "testdata")
EXPORTS = ("testdata", "indigo", "testing", "testdata")
LEGACY = ["4621317030", "4621317332", "4621332152"]
LENIENT = VerifyPolicy(strict=False)


def record(n: int) -> tuple[CID, bytes]:
    data = dagcbor.encode({"$type": "com.example.record", "n": n})
    return CID.compute(data), data


class Account:
    """A repository with a key that makes `#commit` events the way a PDS does."""

    def __init__(self, size: int = 50, curve: str = "k256") -> None:
        self.key = PrivateKey.generate(curve)
        self.did_key = self.key.public_key.did_key()
        self.blocks: dict[CID, bytes] = {}
        pairs = []
        for n in range(size):
            cid, data = record(n)
            self.blocks[cid] = data
            pairs.append((f"com.example.record/k{n:05d}", cid))
        self.root, nodes = mst.build(pairs)
        self.blocks.update(nodes)
        self.rev = next_rev()

    def commit(
        self, writes: list[tuple[str, int | None]], high_s: bool = False, **overrides: Any
    ) -> dict[str, Any]:
        """The payload dict of a `#commit` making `writes` (record number, or None: delete)."""
        resolved: list[tuple[str, CID | None]] = []
        record_blocks: dict[CID, bytes] = {}
        for path, n in writes:
            if n is None:
                resolved.append((path, None))
            else:
                cid, data = record(n)
                record_blocks[cid] = data
                resolved.append((path, cid))
        applied = mst.apply(self.blocks, self.root, resolved)
        everything = {**self.blocks, **applied.blocks, **record_blocks}
        proof = mst.proof_nodes(everything, applied.root, applied.ops)
        rev = next_rev(self.rev)
        commit_cid, commit_bytes = sign_commit(DID, rev, applied.root, self.key)
        if high_s:
            commit_cid, commit_bytes = malleate(commit_bytes, self.key.curve)
        car_blocks = [(commit_cid, commit_bytes)]
        car_blocks += [(cid, everything[cid]) for cid in proof]
        car_blocks += list(record_blocks.items())
        payload: dict[str, Any] = {
            "seq": 1,
            "rebase": False,
            "tooBig": False,
            "repo": DID,
            "commit": commit_cid,
            "rev": rev,
            "since": self.rev,
            "blocks": write_car([commit_cid], car_blocks),
            "ops": [
                {"action": op.action, "path": op.path, "cid": op.cid}
                | ({"prev": op.prev} if op.prev is not None else {})
                for op in applied.ops
            ],
            "blobs": [],
            "prevData": self.root,
            "time": "2026-11-24T00:00:00.000Z",
        }
        payload.update(overrides)
        self.pending = (applied.root, rev, everything)
        return payload

    def accept(self) -> None:
        self.root, self.rev, self.blocks = self.pending


def code_of(payload: Any, did_key: str | None, **kwargs: Any) -> str:
    with pytest.raises(CommitVerificationError) as info:
        verify_commit_event(payload, did_key, **kwargs)
    return info.value.code


# --- real messages --------------------------------------------------------------------------


def firehose(seq: str) -> dict[str, Any]:
    path = require_shared(*REPO_TESTDATA) / f"firehose_commit_{seq}.json"
    value = dagcbor.from_json(json.loads(path.read_text()))
    assert isinstance(value, dict)
    return value


def test_modern_real_commit_verifies_in_both_modes() -> None:
    payload = firehose("4623075231")
    assert payload["blobs"] is None
    for strict in (True, False):
        verified = verify_commit_event(payload, None, policy=VerifyPolicy(strict=strict))
        assert verified.inversion_checked
        assert not verified.signature_checked
        assert not verified.prev_data_checked
        assert verified.did == payload["repo"]
        assert verified.rev == payload["rev"]
        assert verified.commit_cid == payload["commit"]
        assert verified.ops == [("create", op["path"], op["cid"], None) for op in payload["ops"]]
        assert verified.warnings == []
    # The same message as bytes (a frame's payload) gives the same result.
    as_bytes = verify_commit_event(dagcbor.encode(payload), None)
    assert as_bytes.data_cid == verified.data_cid


@pytest.mark.parametrize("seq", LEGACY)
def test_legacy_real_commits_lack_inversion_nodes(seq: str) -> None:
    payload = firehose(seq)
    assert code_of(payload, None) == "incomplete_proof"
    verified = verify_commit_event(payload, None, policy=LENIENT)
    assert not verified.inversion_checked
    assert [code for code, _ in verified.warnings] == ["incomplete_proof"]
    relaxed = verify_commit_event(
        payload, None, policy=VerifyPolicy(checks={"incomplete_proof": False})
    )
    assert not relaxed.inversion_checked


# --- synthetic events: the happy path -------------------------------------------------------


def test_synthetic_commit_checks_everything() -> None:
    account = Account()
    payload = account.commit(
        [
            ("com.example.record/new", 1000),
            ("com.example.record/k00003", None),
            ("com.example.record/k00007", 1007),
        ]
    )
    verified = verify_commit_event(
        payload, account.did_key, prev_rev=account.rev, prev_data=account.root
    )
    assert verified.signature_checked
    assert verified.inversion_checked
    assert verified.prev_data_checked
    assert verified.prev_data == account.root
    assert sorted(op[0] for op in verified.ops) == ["create", "delete", "update"]
    account.accept()
    follow_up = account.commit([("com.example.record/k00010", None)])
    assert verify_commit_event(
        follow_up, account.did_key, prev_rev=account.rev, prev_data=account.root
    ).prev_data_checked


def test_p256_accounts_verify_too() -> None:
    account = Account(curve="p256")
    payload = account.commit([("com.example.record/new", 1)])
    assert verify_commit_event(payload, account.did_key).signature_checked


def test_batch_keeps_order_and_reports_failures_in_place() -> None:
    account = Account()
    good = account.commit([("com.example.record/new", 5)])
    bad = dict(good, repo="did:plc:someoneelse0000000000000")
    items: list[CommitItem] = [{"payload": good, "did_key": account.did_key}, {"payload": bad}] * 20
    results = verify_commit_events(items)
    assert len(results) == 40
    for i, result in enumerate(results):
        if i % 2 == 0:
            assert not isinstance(result, Exception)
            assert result.signature_checked
        else:
            assert isinstance(result, CommitVerificationError)
            assert result.code == "field_mismatch"


# --- synthetic events: every rejection ------------------------------------------------------


def test_error_codes_are_the_documented_set() -> None:
    assert [code.value for code in ErrorCode] == _core.sync_error_codes()


def test_bad_signature_and_unusable_key() -> None:
    account = Account()
    payload = account.commit([("com.example.record/new", 1)])
    other = PrivateKey.generate("k256").public_key.did_key()
    assert code_of(payload, other) == "bad_signature"
    assert code_of(payload, "did:key:zNotAKey") == "bad_signature"


@pytest.mark.parametrize("curve", ["k256", "p256"])
def test_high_s_signature(curve: str) -> None:
    account = Account(size=20, curve=curve)
    payload = account.commit([("com.example.record/new", 1)], high_s=True)
    assert code_of(payload, account.did_key) == "high_s"
    relaxed = verify_commit_event(
        payload, account.did_key, policy=VerifyPolicy(checks={"high_s": False})
    )
    assert relaxed.signature_checked
    assert [code for code, _ in relaxed.warnings] == ["high_s"]
    lenient = verify_commit_event(payload, account.did_key, policy=LENIENT)
    assert lenient.signature_checked
    # Lenient about high S is not lenient about a wrong key.
    other = PrivateKey.generate(curve).public_key.did_key()
    assert code_of(payload, other, policy=LENIENT) == "bad_signature"
    # Strict about high S alone, lenient about the rest.
    strict_s = VerifyPolicy(strict=False, checks={"high_s": True})
    assert code_of(payload, account.did_key, policy=strict_s) == "high_s"


def test_field_mismatches() -> None:
    account = Account()
    payload = account.commit([("com.example.record/new", 1)])
    assert code_of(dict(payload, repo="did:plc:other"), None) == "field_mismatch"
    assert code_of(dict(payload, rev=next_rev(payload["rev"])), None) == "field_mismatch"
    stray = CID.compute(b"not the commit")
    assert code_of(dict(payload, commit=stray), None) == "field_mismatch"


def test_car_problems() -> None:
    account = Account()
    payload = account.commit([("com.example.record/new", 1)])
    blocks = bytearray(payload["blocks"])
    blocks[-1] ^= 1
    assert code_of(dict(payload, blocks=bytes(blocks)), None) == "hash_mismatch"
    assert code_of(dict(payload, blocks=b"\x05junk"), None) == "bad_car"
    without_record = write_car([payload["commit"]], [])
    assert code_of(dict(payload, blocks=without_record), None) == "missing_block"


def test_malformed_messages() -> None:
    account = Account()
    payload = account.commit([("com.example.record/new", 1)])
    assert code_of(b"\xa1", None) == "malformed"
    assert code_of({k: v for k, v in payload.items() if k != "rev"}, None) == "malformed"
    assert code_of({k: v for k, v in payload.items() if k != "since"}, None) == "malformed"
    bad_op = dict(payload["ops"][0], action="move")
    assert code_of(dict(payload, ops=[bad_op]), None) == "malformed"
    create_with_prev = dict(payload["ops"][0], prev=payload["ops"][0]["cid"])
    assert code_of(dict(payload, ops=[create_with_prev]), None) == "malformed"
    bad_path = dict(payload["ops"][0], path="no-slash")
    assert code_of(dict(payload, ops=[bad_path]), None) == "malformed"
    assert code_of(dict(payload, ops=[payload["ops"][0]] * 2), None) == "malformed"


def test_limits_and_deprecated_flags() -> None:
    account = Account()
    payload = account.commit([("com.example.record/new", 1)])
    padded = payload["blocks"] + b"\x00" * 2_000_001
    assert code_of(dict(payload, blocks=padded), None) == "too_big"
    ops = [dict(payload["ops"][0], path=f"com.example.record/x{i}") for i in range(201)]
    assert code_of(dict(payload, ops=ops), None) == "too_many_ops"
    assert code_of(dict(payload, tooBig=True), None) == "deprecated_flag"
    assert code_of(dict(payload, rebase=True), None) == "deprecated_flag"
    relaxed = verify_commit_event(
        dict(payload, tooBig=True), None, policy=VerifyPolicy(checks={"deprecated_flag": False})
    )
    assert relaxed.warnings[0][0] == "deprecated_flag"


def test_rev_order_and_future() -> None:
    account = Account()
    payload = account.commit([("com.example.record/new", 1)])
    assert code_of(payload, None, prev_rev=payload["rev"]) == "rev_not_newer"
    assert code_of(payload, None, prev_rev=next_rev(payload["rev"])) == "rev_not_newer"
    assert code_of(payload, None, now=time.time() - 3600) == "rev_in_future"
    assert verify_commit_event(payload, None, now=time.time() - 60).rev == payload["rev"]
    lenient = verify_commit_event(payload, None, now=time.time() - 3600, policy=LENIENT)
    assert [c for c, _ in lenient.warnings] == ["rev_in_future"]


def test_chain_checks() -> None:
    account = Account()
    payload = account.commit([("com.example.record/new", 1)])
    micros, _ = _core.tid_parse(account.rev)
    older = _core.tid_from_parts(micros - 10, 0)
    assert code_of(payload, None, prev_rev=older) == "since_mismatch"
    other_root = mst.build([("com.example.record/zzz", record(1)[0])])[0]
    assert code_of(payload, None, prev_data=other_root) == "prev_data_mismatch"
    no_prev_data = {k: v for k, v in payload.items() if k != "prevData"}
    assert code_of(no_prev_data, None, prev_data=account.root) == "prev_data_missing"
    # Without prevData anywhere the inversion still runs; the root is not compared.
    unknown = verify_commit_event(no_prev_data, None)
    assert unknown.inversion_checked
    assert not unknown.prev_data_checked
    assert unknown.prev_data == account.root
    assert code_of(dict(payload, prevData=other_root), None) == "inversion_mismatch"


def test_inversion_failures() -> None:
    account = Account()
    payload = account.commit([("com.example.record/new", 1)])
    wrong = dict(payload["ops"][0], cid=record(99)[0])
    car_blocks = dict(read_car(payload["blocks"])[1])
    car_blocks[record(99)[0]] = record(99)[1]
    blocks = write_car([payload["commit"]], car_blocks.items())
    assert code_of(dict(payload, ops=[wrong], blocks=blocks), None) == "inversion_mismatch"
    # Drop one MST node the proof needs.
    roots, everything = read_car(payload["blocks"])
    commit = decode_commit(everything[payload["commit"]])
    kept = {c: b for c, b in everything.items() if c != commit.data or c == payload["commit"]}
    proof_nodes = [c for c in kept if c not in (payload["commit"], payload["ops"][0]["cid"])]
    if proof_nodes:
        del kept[proof_nodes[-1]]
        slim = write_car(roots, kept.items())
        assert code_of(dict(payload, blocks=slim), None) in {"incomplete_proof", "missing_block"}


def test_the_limits_and_relaxable_checks_are_the_verifiers() -> None:
    assert (MAX_COMMIT_BLOCKS, MAX_SYNC_BLOCKS, MAX_OPS) == (2_000_000, 10_000, 200)
    assert (MAX_RECORD_SIZE, FUTURE_REV_TOLERANCE_MICROS) == (1_000_000, 300_000_000)
    account = Account()
    payload = account.commit([("com.example.record/new", 1)])
    padded = payload["blocks"] + b"\x00" * (MAX_COMMIT_BLOCKS - len(payload["blocks"]) + 1)
    assert code_of(dict(payload, blocks=padded), None) == "too_big"
    future = (time.time() * 1_000_000 - FUTURE_REV_TOLERANCE_MICROS) / 1_000_000 - 1
    assert code_of(payload, None, now=future) == "rev_in_future"
    assert {str(code) for code in RELAXABLE} == set(_core.RELAXABLE)
    assert ErrorCode.HIGH_S in RELAXABLE
    assert ErrorCode.BAD_SIGNATURE not in RELAXABLE


def test_policy_is_one_frozen_value() -> None:
    strict = VerifyPolicy()
    assert all(strict.is_strict(code) for code in ErrorCode)
    assert not any(LENIENT.is_strict(code) for code in RELAXABLE)
    assert LENIENT.is_strict("bad_signature")  # never relaxable
    one = VerifyPolicy(checks={"high_s": False})
    assert [code for code in ErrorCode if not one.is_strict(code)] == ["high_s"]
    # Equal policies are equal whatever their spelling, and hash alike.
    same = VerifyPolicy(strict=False, checks={code: code != "high_s" for code in RELAXABLE})
    assert one == same
    assert hash(one) == hash(same)
    assert one != strict
    assert one != {"high_s": False}
    assert len({strict, VerifyPolicy(checks={}), one, same, LENIENT}) == 3
    # The repr is the call that makes it, naming the fewest checks.
    assert repr(strict) == "VerifyPolicy(strict=True)"
    assert repr(LENIENT) == "VerifyPolicy(strict=False)"
    assert repr(one) == "VerifyPolicy(strict=True, checks={'high_s': False})"
    most = VerifyPolicy(strict=False, checks={"rev_in_future": True})
    assert repr(most) == "VerifyPolicy(strict=False, checks={'rev_in_future': True})"
    for policy in (strict, LENIENT, one, most):
        assert eval(repr(policy), {"VerifyPolicy": VerifyPolicy}) == policy
    with pytest.raises(AttributeError):
        one.strict = False  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["nope", "bad_signature", "HIGH_S", ""])
def test_policy_refuses_a_check_it_cannot_set_naming_those_it_can(name: str) -> None:
    with pytest.raises(ValueError, match=f"^policy check '{name}' is not one of: ") as info:
        VerifyPolicy(checks={name: False})
    assert ", ".join(sorted(RELAXABLE)) in str(info.value)


@pytest.mark.parametrize("value", ["no", 0, None])
def test_policy_refuses_a_setting_that_is_not_a_bool(value: object) -> None:
    with pytest.raises(
        ValueError, match=r"^policy check 'high_s' must be true \(strict\) or false"
    ):
        VerifyPolicy(checks={"high_s": value})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="unknown check 'nope'"):
        VerifyPolicy().is_strict("nope")


def test_verification_takes_the_policy_object_only() -> None:
    account = Account()
    payload = account.commit([("com.example.record/new", 1)])
    with pytest.raises(TypeError):
        verify_commit_event(payload, None, policy={"high_s": False})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_commit_event(payload, None, strict=False)  # type: ignore[call-arg]
    # A batch has one policy; an item naming one (or anything unknown) is refused.
    stale: Any = {"payload": payload, "policy": LENIENT}
    with pytest.raises(ValueError, match="an item may hold only payload, did_key, prev_rev"):
        verify_commit_events([stale])
    old = account.commit([("com.example.record/new2", 2)], high_s=True)
    [result] = verify_commit_events(
        [{"payload": old, "did_key": account.did_key}],
        policy=VerifyPolicy(checks={"high_s": False}),
    )
    assert not isinstance(result, Exception)
    assert [code for code, _ in result.warnings] == ["high_s"]


# --- #sync ----------------------------------------------------------------------------------


def test_sync_event() -> None:
    account = Account()
    rev = next_rev(account.rev)
    cid, data = sign_commit(DID, rev, account.root, account.key)
    payload = {"seq": 2, "did": DID, "rev": rev, "blocks": write_car([cid], [(cid, data)])}
    verified = verify_sync_event(payload, account.did_key, prev_rev=account.rev)
    assert verified.signature_checked
    assert verified.data_cid == account.root
    assert verify_sync_event(payload, account.did_key, prev_rev=rev).rev == rev
    with pytest.raises(CommitVerificationError) as info:
        verify_sync_event(payload, account.did_key, prev_rev=next_rev(rev))
    assert info.value.code == "rev_not_newer"
    with pytest.raises(CommitVerificationError) as info:
        verify_sync_event(dict(payload, did="did:plc:other"), None)
    assert info.value.code == "field_mismatch"
    big = write_car([cid], [(cid, data), (CID.compute(b"x" * 20_000, "raw"), b"x" * 20_000)])
    with pytest.raises(CommitVerificationError) as info:
        verify_sync_event(dict(payload, blocks=big), None)
    assert info.value.code == "too_big"


# --- commits and repo exports ---------------------------------------------------------------


def test_commit_round_trip_and_high_s() -> None:
    key = PrivateKey.generate("p256")
    cid, data = sign_commit(DID, next_rev(), mst.EMPTY_ROOT, key)
    commit = decode_commit(data)
    assert commit.version == 3
    assert commit.prev is None
    assert CID.compute(data) == cid
    verify_commit_signature(data, key.public_key.did_key())
    with pytest.raises(CommitVerificationError) as info:
        verify_commit_signature(data, PrivateKey.generate("p256").public_key.did_key())
    assert info.value.code == "bad_signature"


def export(name: str) -> Path:
    return require_shared(*EXPORTS) / name


def test_real_exports() -> None:
    paul = verify_repo(
        export("paul_staging.repo.car").read_bytes(),
        did_key=load_did_doc(export("paul_staging.didDoc.json"))[1],
        did=load_did_doc(export("paul_staging.didDoc.json"))[0],
    )
    assert paul.signature_checked
    assert paul.version == 2
    assert len(paul.records) == 185
    divy = verify_repo(export("divy.repo").read_bytes())
    assert not divy.signature_checked


@pytest.mark.parametrize(
    "name",
    [
        "paul_staging.repo.car",
        "greenground.repo.car",
        "fakermaker.repo.car",
        "divy.repo",
        "bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car",
    ],
)
def test_every_complete_export_rebuilds_to_its_data_root(name: str) -> None:
    report = verify_repo(export(name).read_bytes())
    assert report.records
    assert mst.build(report.records)[0] == report.data_cid
    assert report.version in (2, 3)


def test_greenground_document_is_another_did() -> None:
    did, did_key = load_did_doc(export("greenground.didDoc.json"))
    data = export("greenground.repo.car").read_bytes()
    with pytest.raises(CommitVerificationError) as info:
        verify_repo(data, did_key=did_key, did=did)
    assert info.value.code == "field_mismatch"
    assert verify_repo(data, did_key=did_key).signature_checked


def test_fakermaker_is_high_s() -> None:
    did, did_key = load_did_doc(export("fakermaker.didDoc.json"))
    data = export("fakermaker.repo.car").read_bytes()
    with pytest.raises(CommitVerificationError) as info:
        verify_repo(data, did_key=did_key, did=did)
    assert info.value.code == "high_s"
    assert verify_repo(data, did_key=did_key, did=did, strict=False).signature_checked


def test_mismatched_document_fails_the_signature() -> None:
    _, did_key = load_did_doc(export("did_plc_z5vnbioquyhivxirw3bbljmu.didDoc.json"))
    data = export("bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car").read_bytes()
    with pytest.raises(CommitVerificationError) as info:
        verify_repo(data, did_key=did_key)
    assert info.value.code == "bad_signature"


def test_repo_slice_record_proof() -> None:
    roots, blocks = read_car(export("repo_slice.car").read_bytes())
    commit = decode_commit(blocks[roots[0]])
    info = json.loads(export("repo_slice_record.json").read_text())
    collection, rkey = info["uri"].split("/")[-2:]
    key = f"{collection}/{rkey}"
    assert mst.check_record_proof(blocks, commit.data, key) == CID.decode(info["cid"])
    with pytest.raises(CommitVerificationError) as err:
        verify_repo(export("repo_slice.car").read_bytes())
    assert err.value.code == "missing_block"


def base58btc(data: bytes) -> str:
    """Multibase base58btc (``z`` prefix), for the legacy DID document key form."""
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number = int.from_bytes(data, "big")
    digits = ""
    while number:
        number, rest = divmod(number, 58)
        digits = alphabet[rest] + digits
    return "z" + "1" * (len(data) - len(data.lstrip(b"\0"))) + digits


def test_signing_key_from_did_doc_forms() -> None:
    key = PrivateKey.generate("k256").public_key
    method = {"id": f"{DID}#atproto", "type": "Multikey", "publicKeyMultibase": key.multikey()}
    assert signing_key_from_did_doc({"id": DID, "verificationMethod": [method]}) == (
        DID,
        key.did_key(),
    )
    legacy_key = PrivateKey.generate("p256").public_key
    legacy = {
        "id": "#atproto",
        "type": "EcdsaSecp256r1VerificationKey2019",
        "publicKeyMultibase": base58btc(legacy_key.to_bytes(compressed=False)),
    }
    assert signing_key_from_did_doc({"id": DID, "verificationMethod": [legacy]}) == (
        DID,
        legacy_key.did_key(),
    )
    with pytest.raises(CommitVerificationError) as info:
        signing_key_from_did_doc({"id": DID, "verificationMethod": []})
    assert info.value.code == "malformed"
    with pytest.raises(CommitVerificationError) as info:
        signing_key_from_did_doc({"verificationMethod": [method]})
    assert info.value.code == "malformed"
    with pytest.raises(InvalidKeyError) as bad:
        signing_key_from_did_doc({"id": DID, "verificationMethod": [dict(method, type="Odd")]})
    assert "unsupported verification method type" in bad.value.reason
