"""atproto JSON <-> data model: each rejection carries its specific reason and path."""

from __future__ import annotations

from typing import Any

import pytest
from strato import CID
from strato.car import read_car, write_car
from strato.dagcbor import decode, encode, from_json, to_json
from strato.errors import CARError, CIDError, DataModelError, EncodeError

RAW = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"
DAG = "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"


def blob(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"$type": "blob", "ref": {"$link": RAW}, "mimeType": "a/b", "size": 1}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    ("value", "reason", "path"),
    [
        ([], "top-level value must be an object", "$"),
        ({"a": {"$link": 1}}, "invalid $link object", "$.a"),
        ({"a": {"$link": "."}}, "invalid $link object", "$.a"),
        ({"a": {"$link": RAW, "x": 1}}, "invalid $link object", "$.a"),
        ({"a": [{"$bytes": "!!"}]}, "invalid $bytes object", "$.a[0]"),
        ({"a": {"$bytes": "AA", "x": 1}}, "invalid $bytes object", "$.a"),
        ({"r": {"$type": ""}}, "$type must be a non-empty string", "$.r.$type"),
        ({"r": {"$type": None}}, "$type must be a non-empty string", "$.r.$type"),
        ({"b": blob(ref={"$link": DAG})}, "blob ref must be a raw CID link", "$.b.ref"),
        ({"b": blob(ref=None)}, "blob ref must be a raw CID link", "$.b.ref"),
        ({"b": blob(mimeType="")}, "blob mimeType must be a non-empty string", "$.b.mimeType"),
        ({"b": blob(size=-1)}, "blob size must be a non-negative integer", "$.b.size"),
        ({"b": blob(size=True)}, "blob size must be a non-negative integer", "$.b.size"),
        ({"": 1}, "map key must not be empty", "$"),
        ({"a": 1.5}, "float not allowed", "$.a"),
        ({"a": float("nan")}, "float not allowed", "$.a"),
        ({"a": 2**63}, "integer out of 64-bit range", "$.a"),
        ({"a": {1, 2}}, "unsupported type: set", "$.a"),
    ],
)
def test_from_json_rejections(value: Any, reason: str, path: str) -> None:
    with pytest.raises(DataModelError) as info:
        from_json(value)
    assert (info.value.reason, info.value.path) == (reason, path)


def test_from_json_accepts_valid_blob_and_integer_like_float() -> None:
    value = from_json({"b": blob(size=0), "n": 3.0})
    assert value["b"]["ref"] == CID.decode(RAW)
    assert value["n"] == 3
    assert type(value["n"]) is int


def test_lone_surrogate_cannot_be_encoded() -> None:
    with pytest.raises(EncodeError) as info:
        encode({"a": "\ud800"})
    assert (info.value.reason, info.value.path) == ("string contains a lone surrogate", "$.a")
    with pytest.raises(EncodeError) as key_info:
        encode({"\udc00": 1})
    assert (key_info.value.reason, key_info.value.path) == ("string contains a lone surrogate", "$")


def test_to_json_rejects_non_data_model_values() -> None:
    with pytest.raises(EncodeError) as info:
        to_json({"a": [1, 2.5]})
    assert (info.value.reason, info.value.path) == ("float not allowed", "$.a[1]")


def test_cid_too_long() -> None:
    with pytest.raises(CIDError) as info:
        CID.decode(bytes([0x01, 0x55, 0x00, 0x7F]) + bytes(127))
    assert info.value.reason == "CID too long"


def test_car_verify_rejects_unverifiable_hash() -> None:
    identity = CID.decode(bytes([0x01, 0x55, 0x00, 0x03]) + b"abc")  # identity multihash
    sha512 = CID.decode(bytes([0x01, 0x55, 0x13, 0x40]) + bytes(64))
    good = write_car([identity], [(identity, b"abc")])
    assert read_car(good)[1] == {identity: b"abc"}
    data = write_car([sha512], [(sha512, b"abc")])
    with pytest.raises(CARError) as info:
        read_car(data)
    assert info.value.reason == "unsupported hash function"
    assert read_car(data, verify=False)[1] == {sha512: b"abc"}


@pytest.mark.parametrize("call", [decode, read_car, CID.decode])
def test_non_bytes_input_is_a_type_error(call: Any) -> None:
    with pytest.raises(TypeError, match="expected bytes, bytearray or memoryview, not int"):
        call(42)
