"""Real network data from indigo's test data (``shared/testdata/indigo``).

These mirror the Go reference implementation's own fixtures: every repository CAR (``*.car``
and ``*.repo``, all CAR v1 files) is read with verification, every block's hash is checked
independently, and every DAG-CBOR block decodes and re-encodes to the identical bytes (real
records are canonical). The streaming reader must yield the same blocks. Loose ``.cbor``
records and the captured firehose ``#commit`` events (JSON with the ``blocks`` CAR slice as
``$bytes``) are checked the same way. The data is read from outside the repository and the tests
skip when it is absent.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_path, skipped_param
from strato import CID
from strato.car import CarReader, read_car
from strato.dagcbor import decode, encode, from_json, to_json

INDIGO = shared_path("testdata", "indigo")
TESTING = INDIGO / "testing" / "testdata"
ATDATA = INDIGO / "atproto" / "atdata" / "testdata"
REPO_TESTDATA = INDIGO / "atproto" / "repo" / "testdata"

DAG_CBOR = 0x71
RAW = 0x55
SHA2_256 = 0x12


def files(folder: Path, *patterns: str) -> list[Any]:
    """One parameter per file matching any pattern, named after the file."""
    if not folder.is_dir():
        return skipped_param(folder)
    found = sorted({path for pattern in patterns for path in folder.glob(pattern)})
    return [pytest.param(path, id=path.name) for path in found]


CAR_FILES = files(TESTING, "*.car", "*.repo")
CBOR_FILES = files(TESTING, "*.cbor") + files(ATDATA, "*.cbor")
FIREHOSE_FILES = files(REPO_TESTDATA, "firehose_commit_*.json")


@pytest.mark.parametrize(
    ("folder", "params", "minimum"),
    [(TESTING, CAR_FILES, 6), (ATDATA, CBOR_FILES, 3), (REPO_TESTDATA, FIREHOSE_FILES, 4)],
    ids=["car", "cbor", "firehose"],
)
def test_interop_testdata_present(folder: Path, params: list[Any], minimum: int) -> None:
    """Guard against a silently empty parametrisation when the folders do exist."""
    if not folder.is_dir():
        pytest.skip(f"shared fixtures not found: {folder} is missing")
    assert len(params) >= minimum


def check_block(cid: CID, data: bytes) -> None:
    """The block's hash matches its CID, and a DAG-CBOR block is canonical."""
    assert cid.hash_code == SHA2_256
    assert cid.digest == hashlib.sha256(data).digest()
    assert cid.codec in (DAG_CBOR, RAW)
    assert CID.compute(data, "dag-cbor" if cid.codec == DAG_CBOR else "raw") == cid
    if cid.codec == DAG_CBOR:
        assert encode(decode(data)) == data, f"block {cid} does not re-encode identically"


@pytest.mark.parametrize("path", CAR_FILES)
def test_interop_car_reads_and_verifies(path: Path) -> None:
    data = path.read_bytes()
    assert data[:1] == b"\x3a"  # every one of these files starts with a CAR header
    roots, blocks = read_car(data, verify=True)
    assert len(roots) == 1
    assert roots[0].is_blessed
    assert roots[0] in blocks
    assert blocks
    for cid, block in blocks.items():
        check_block(cid, block)


@pytest.mark.parametrize("path", CAR_FILES)
def test_interop_car_root_is_a_commit(path: Path) -> None:
    roots, blocks = read_car(path.read_bytes())
    commit = decode(blocks[roots[0]])
    assert isinstance(commit, dict)
    assert isinstance(commit["did"], str)
    assert commit["did"].startswith("did:")
    assert isinstance(commit["data"], CID)
    assert "sig" in commit


@pytest.mark.parametrize("path", CAR_FILES)
def test_interop_car_streaming_matches(path: Path) -> None:
    roots, blocks = read_car(path.read_bytes())
    with CarReader(path) as reader:
        assert reader.roots == roots
        streamed = list(reader)
    assert len(streamed) >= len(blocks)
    first: dict[CID, bytes] = {}
    for cid, block in streamed:
        first.setdefault(cid, block)
    assert first == blocks
    with path.open("rb") as handle:
        assert list(CarReader(handle)) == streamed


@pytest.mark.parametrize("path", CAR_FILES)
def test_interop_car_without_verification_gives_same_blocks(path: Path) -> None:
    data = path.read_bytes()
    assert read_car(data, verify=False) == read_car(data, verify=True)


@pytest.mark.parametrize("path", CBOR_FILES)
def test_interop_cbor_record_round_trips(path: Path) -> None:
    data = path.read_bytes()
    record = decode(data)
    assert isinstance(record, dict)
    assert isinstance(record["$type"], str)
    assert encode(record) == data
    assert encode(from_json(json.loads(json.dumps(to_json(record))))) == data


def test_interop_repo_slice_record() -> None:
    """The record described by repo_slice_record.json is in repo_slice.car, byte for byte."""
    described = TESTING / "repo_slice_record.json"
    if not described.is_file():
        pytest.skip(f"shared fixtures not found: {described} is missing")
    expected = json.loads(described.read_text(encoding="utf-8"))
    _, blocks = read_car((TESTING / "repo_slice.car").read_bytes())
    cid = CID.decode(expected["cid"])
    assert to_json(decode(blocks[cid])) == expected["value"]


def load_firehose(path: Path) -> tuple[dict[str, Any], bytes]:
    """The event as JSON, and its ``blocks`` field base64-decoded."""
    event = json.loads(path.read_text(encoding="utf-8"))
    text = event["blocks"]["$bytes"]
    return event, base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


@pytest.mark.parametrize("path", FIREHOSE_FILES)
def test_interop_firehose_blocks_slice(path: Path) -> None:
    event, car = load_firehose(path)
    roots, blocks = read_car(car, verify=True)
    commit_cid = CID.decode(event["commit"]["$link"])
    assert roots == [commit_cid]
    for cid, block in blocks.items():
        check_block(cid, block)
    commit = decode(blocks[commit_cid])
    assert commit["did"] == event["repo"]
    assert commit["rev"] == event["rev"]
    assert commit["version"] == 3
    assert isinstance(commit["sig"], bytes)
    assert len(commit["sig"]) == 64
    for op in event["ops"]:
        if op["cid"] is not None:
            assert CID.decode(op["cid"]["$link"]) in blocks, op["path"]


@pytest.mark.parametrize("path", FIREHOSE_FILES)
def test_interop_firehose_event_from_json(path: Path) -> None:
    event, car = load_firehose(path)
    value = from_json(event)
    assert value["blocks"] == car
    assert value["commit"] == CID.decode(event["commit"]["$link"])
    assert to_json(value) == {
        **event,
        "blocks": {"$bytes": base64.b64encode(car).decode().rstrip("=")},
    }
    assert decode(encode(value)) == value
