"""The atproto data-model interop fixtures (``shared/interop/data-model``).

These mirror the cross-implementation suite bluesky-social/atproto-interop-tests: every entry of
``data-model-fixtures.json`` (JSON -> exact DAG-CBOR bytes -> CID, and back), every entry of
``data-model-valid.json`` (accepted and round-tripped) and of ``data-model-invalid.json``
(rejected). Test ids name the fixture entry. The fixtures are read from outside the repository
and skip when absent.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from conftest import shared_path, skipped_param
from strato import CID
from strato.dagcbor import decode, encode, from_json, to_json
from strato.errors import DecodeError

DATA_MODEL = shared_path("interop", "data-model")


def load(name: str) -> list[Any]:
    """Parameter sets for every entry of a fixture file, with ids from its ``note`` (or CID)."""
    path = DATA_MODEL / name
    if not path.is_file():
        return skipped_param(path)
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [
        pytest.param(entry, id=entry.get("note") or entry.get("cid") or str(index))
        for index, entry in enumerate(entries)
    ]


def unpadded_b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


@pytest.mark.parametrize("entry", load("data-model-fixtures.json"))
def test_interop_fixture_encodes_to_exact_bytes(entry: dict[str, Any]) -> None:
    cbor = unpadded_b64decode(entry["cbor_base64"])
    value = from_json(entry["json"])
    assert encode(value) == cbor
    assert CID.compute(cbor) == CID.decode(entry["cid"])
    assert str(CID.compute(cbor, "dag-cbor")) == entry["cid"]


@pytest.mark.parametrize("entry", load("data-model-fixtures.json"))
def test_interop_fixture_decodes_back_to_json(entry: dict[str, Any]) -> None:
    cbor = unpadded_b64decode(entry["cbor_base64"])
    value = decode(cbor)
    assert to_json(value) == entry["json"]
    assert value == from_json(entry["json"])
    assert encode(value) == cbor


@pytest.mark.parametrize("entry", load("data-model-valid.json"))
def test_interop_valid(entry: dict[str, Any]) -> None:
    value = from_json(entry["json"])
    data = encode(value)
    back = decode(data)
    assert back == value
    assert encode(back) == data
    assert from_json(to_json(back)) == value


@pytest.mark.parametrize("entry", load("data-model-invalid.json"))
def test_interop_invalid(entry: dict[str, Any]) -> None:
    with pytest.raises(DecodeError) as info:
        from_json(entry["json"])
    assert info.value.reason
    assert info.value.offset is None
