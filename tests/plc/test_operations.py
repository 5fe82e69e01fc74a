"""Operations: shapes, signing and strict signature checks, CIDs, DID derivation, legacy
``create`` normalization, and building updates and tombstones
(``strato.identity.plc.operations``)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from plc_helpers import did_key, genesis, key
from strato import CID, dagcbor
from strato.errors import PlcValidationError
from strato.identity.plc import (
    build_operation,
    create_tombstone,
    create_update,
    did_for_genesis,
    normalize_operation,
    operation_cid,
    parse_operation,
    sign_operation,
    verify_operation_signature,
)
from strato.identity.plc.operations import decode_signature, is_plc_did, unsigned_bytes

K256_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def raw_sig(op: dict[str, Any]) -> bytes:
    sig: str = op["sig"]
    return base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))


def test_genesis_is_signed_over_the_op_without_sig() -> None:
    rotation = key("rot")
    op, _ = genesis([rotation])
    assert op["prev"] is None
    assert op["type"] == "plc_operation"
    assert op["alsoKnownAs"] == ["at://alice.test"]
    assert op["services"] == {
        "atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": "https://pds.test"}
    }
    unsigned = {name: value for name, value in op.items() if name != "sig"}
    assert rotation.public_key.verify(dagcbor.encode(unsigned), raw_sig(op))
    assert len(raw_sig(op)) == 64
    assert "=" not in op["sig"]


def test_did_is_base32_of_the_sha256_of_the_signed_genesis() -> None:
    op, did = genesis([key("rot")])
    digest = hashlib.sha256(dagcbor.encode(op)).digest()
    assert did == "did:plc:" + base64.b32encode(digest).decode().lower()[:24]
    assert did_for_genesis(op) == did
    assert is_plc_did(did)
    assert len(did) == 32


def test_cid_is_dag_cbor_sha256_of_the_signed_op() -> None:
    op, _ = genesis([key("rot")])
    assert operation_cid(op) == CID.compute(dagcbor.encode(op), "dag-cbor").encode()
    assert operation_cid(op).startswith("bafyrei")


def test_p256_rotation_key_signs_and_verifies() -> None:
    rotation = key("p256-rot", "p256")
    op, _ = genesis([rotation])
    assert did_key(rotation).startswith("did:key:zDna")
    assert verify_operation_signature(op, [did_key(rotation)]) == 0


def test_verify_returns_the_index_of_the_first_matching_key() -> None:
    first, second = key("a"), key("b")
    op, _ = genesis([first, second], signer=second)
    assert verify_operation_signature(op, [did_key(first), did_key(second)]) == 1
    assert verify_operation_signature(op, [did_key(second), did_key(second)]) == 0


def test_signature_by_another_key_is_rejected() -> None:
    op, _ = genesis([key("a")], signer=key("intruder"))
    with pytest.raises(PlcValidationError) as caught:
        verify_operation_signature(op, [did_key(key("a"))])
    assert caught.value.reason == (
        "invalid signature: not signed by any of the allowed rotation keys"
    )


def test_no_allowed_keys() -> None:
    op, _ = genesis([key("a")])
    with pytest.raises(PlcValidationError, match="the key list is empty"):
        verify_operation_signature(op, [])


def test_a_changed_field_breaks_the_signature() -> None:
    op, _ = genesis([key("a")])
    op["alsoKnownAs"] = ["at://mallory.test"]
    with pytest.raises(PlcValidationError, match="not signed by any"):
        verify_operation_signature(op, [did_key(key("a"))])


@pytest.mark.parametrize(("curve", "order"), [("k256", K256_ORDER), ("p256", P256_ORDER)])
def test_high_s_signature_is_rejected(curve: str, order: int) -> None:
    signer = key(f"high-s-{curve}", curve)
    op, _ = genesis([signer])
    raw = raw_sig(op)
    s = int.from_bytes(raw[32:], "big")
    high = raw[:32] + (order - s).to_bytes(32, "big")
    op["sig"] = b64(high)
    with pytest.raises(PlcValidationError) as caught:
        verify_operation_signature(op, [did_key(signer)])
    assert caught.value.reason == "invalid signature: high-S (signatures must be low-S)"


def test_der_signature_is_rejected() -> None:
    signer = key("der")
    op, _ = genesis([signer])
    raw = raw_sig(op)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    op["sig"] = b64(der)
    with pytest.raises(PlcValidationError) as caught:
        verify_operation_signature(op, [did_key(signer)])
    assert caught.value.reason.startswith(f"signature is {len(der)} bytes, not 64")


@pytest.mark.parametrize(
    ("sig", "reason"),
    [
        ("AAAA=", "signature is not base64url without padding"),
        ("AA\nAA", "signature is not base64url without padding"),
        ("AA+/", "signature is not base64url without padding"),
        ("AAAAA", "signature is not valid base64url (impossible length)"),
        ("AB", "signature is not canonical base64url (non-zero pad bits)"),
        ("AAAA", "signature is 3 bytes, not 64"),
        ("", "signature is 0 bytes, not 64"),
    ],
)
def test_signature_encoding_is_strict(sig: str, reason: str) -> None:
    with pytest.raises(PlcValidationError) as caught:
        decode_signature(sig)
    assert caught.value.reason.startswith(reason)


def test_padded_copy_of_a_valid_signature_is_rejected() -> None:
    op, _ = genesis([key("a")])
    op["sig"] += "=="
    with pytest.raises(PlcValidationError, match="without padding"):
        verify_operation_signature(op, [did_key(key("a"))])


def test_invalid_rotation_key_is_reported() -> None:
    op, _ = genesis([key("a")])
    with pytest.raises(PlcValidationError, match="is not a valid k256 or p256 did:key"):
        verify_operation_signature(op, ["did:key:zNotAKey"])


def test_unsigned_bytes_leave_out_sig_entirely() -> None:
    op, _ = genesis([key("a")])
    assert dagcbor.decode(unsigned_bytes(op)).keys() == op.keys() - {"sig"}


def test_legacy_create_normalizes_to_plc_operation() -> None:
    legacy = {
        "type": "create",
        "signingKey": "did:key:zQ3shP5TBe1sQfSttXty15FAEHV1DZgcxRZNxvEWnPfLFwLxJ",
        "recoveryKey": "did:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg",
        "handle": "dan.bsky.social",
        "service": "bsky.social",
        "prev": None,
        "sig": "x",
    }
    assert normalize_operation(parse_operation(legacy)) == {
        "type": "plc_operation",
        "verificationMethods": {"atproto": legacy["signingKey"]},
        "rotationKeys": [legacy["recoveryKey"], legacy["signingKey"]],
        "alsoKnownAs": ["at://dan.bsky.social"],
        "services": {
            "atproto_pds": {
                "type": "AtprotoPersonalDataServer",
                "endpoint": "https://bsky.social",
            }
        },
        "prev": None,
        "sig": "x",
    }


def test_update_changes_only_what_is_asked() -> None:
    rotation = key("rot")
    op, _ = genesis([rotation])
    update = create_update(op, rotation, handle="bob.test")
    assert update["prev"] == operation_cid(op)
    assert update["alsoKnownAs"] == ["at://bob.test"]
    assert update["services"] == op["services"]
    assert update["verificationMethods"] == op["verificationMethods"]
    assert update["rotationKeys"] == op["rotationKeys"]
    assert verify_operation_signature(update, op["rotationKeys"]) == 0


def test_update_every_field() -> None:
    rotation, new_rotation, signing = key("rot"), key("rot2"), key("sign2", "p256")
    op, _ = genesis([rotation])
    op["alsoKnownAs"] = ["https://example.com"]  # no at:// alias: the handle goes first
    update = create_update(
        op,
        rotation,
        handle="carol.test",
        pds_endpoint="pds2.test",
        signing_key=did_key(signing),
        rotation_keys=[did_key(new_rotation)],
    )
    assert update["alsoKnownAs"] == ["at://carol.test", "https://example.com"]
    assert update["services"]["atproto_pds"]["endpoint"] == "https://pds2.test"
    assert update["verificationMethods"]["atproto"] == did_key(signing)
    assert update["rotationKeys"] == [did_key(new_rotation)]


def test_no_update_after_a_tombstone() -> None:
    rotation = key("rot")
    op, _ = genesis([rotation])
    tombstone = create_tombstone(op, rotation)
    assert tombstone == {**tombstone, "type": "plc_tombstone", "prev": operation_cid(op)}
    assert set(tombstone) == {"type", "prev", "sig"}
    with pytest.raises(PlcValidationError, match="tombstoned"):
        create_update(tombstone, rotation, handle="x.test")


def test_sign_replaces_an_existing_sig() -> None:
    rotation = key("rot")
    op, _ = genesis([rotation])
    again = sign_operation(op, rotation)
    assert again == op  # deterministic (RFC 6979) and the old sig is not signed over


def valid_op() -> dict[str, Any]:
    return build_operation(
        rotation_keys=[did_key(key("a"))],
        verification_methods={},
        also_known_as=[],
        services={},
        prev=None,
    ) | {"sig": "x"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "plc_update"}, "unknown operation type 'plc_update'"),
        ({"extra": 1}, "plc_operation has unexpected fields: extra"),
        ({"rotationKeys": "did:key:z"}, "rotationKeys must be a list of strings"),
        ({"alsoKnownAs": [1]}, "alsoKnownAs must be a list of strings"),
        ({"verificationMethods": []}, "verificationMethods must map ids to did:key strings"),
        ({"verificationMethods": {"a": 1}}, "verificationMethods must map ids to did:key"),
        ({"services": []}, "services must be an object"),
        ({"services": {"s": {"type": "t"}}}, "service 's' must be an object with exactly"),
        ({"services": {"s": {"type": "t", "endpoint": 1}}}, "service 's' must be an object"),
        ({"prev": 5}, "prev must be a string"),
        ({"sig": None}, "sig must be a string"),
    ],
)
def test_malformed_operation(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(PlcValidationError) as caught:
        parse_operation(valid_op() | change)
    assert caught.value.reason.startswith(reason)


def test_missing_fields() -> None:
    op = valid_op()
    del op["services"], op["sig"]
    with pytest.raises(PlcValidationError) as caught:
        parse_operation(op)
    assert caught.value.reason == "plc_operation is missing fields: services, sig"
    assert parse_operation(op | {"services": {}}, allow_unsigned=True)["services"] == {}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([], "operation is not a JSON object"),
        ({"type": "plc_tombstone", "prev": None, "sig": "x"}, "prev must be a string"),
        (
            {
                "type": "create",
                "signingKey": "k",
                "recoveryKey": "k",
                "handle": "h",
                "service": "s",
                "prev": "bafy",
                "sig": "x",
            },
            "a legacy create operation must have a null prev",
        ),
        (
            {
                "type": "create",
                "signingKey": 1,
                "recoveryKey": "k",
                "handle": "h",
                "service": "s",
                "prev": None,
                "sig": "x",
            },
            "signingKey must be a string",
        ),
    ],
)
def test_malformed_tombstone_and_legacy(value: object, reason: str) -> None:
    with pytest.raises(PlcValidationError) as caught:
        parse_operation(value)
    assert caught.value.reason == reason


def test_value_without_dag_cbor_form() -> None:
    op = valid_op() | {"alsoKnownAs": [], "sig": "x"}
    op["verificationMethods"] = {"a": "x"}
    op["prev"] = None
    op["rotationKeys"] = [1.5]
    with pytest.raises(PlcValidationError, match="operation has no DAG-CBOR form"):
        operation_cid(op)
