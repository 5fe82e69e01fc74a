"""The deliberate differences between strato's DAG-CBOR decoder and cbrrr's.

The differential fuzz target (fuzz/py/py_dagcbor_diff.py) counts an input on which strato
refuses and cbrrr accepts as intended only when strato's reason is one of these four; each test
here pins one of them, with strato's exact reason and cbrrr's value. fuzz/README.md gives the
reasons: floats and integers past signed 64-bit are outside the atproto data model, the depth
limit bounds what a hostile document costs, and a link must hold a well-formed CID.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from strato import CID
from strato.dagcbor import MAX_DEPTH, decode
from strato.errors import DecodeError

cbrrr = pytest.importorskip("cbrrr")


def refusal(data: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        decode(data)
    return info.value.reason


def link(body: bytes) -> bytes:
    """Tag 42 around the byte string ``0x00 ‖ body``."""
    payload = b"\x00" + body
    assert len(payload) < 256
    head = bytes([0x40 | len(payload)]) if len(payload) < 24 else bytes([0x58, len(payload)])
    return b"\xd8\x2a" + head + payload


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"\xfb" + struct.pack(">d", 1.5), 1.5),
        (b"\xa1\x61a\xfb" + struct.pack(">d", -0.25), {"a": -0.25}),
        (b"\x82\x01\xfb" + struct.pack(">d", 1e300), [1, 1e300]),
    ],
)
def test_floats_are_refused(data: bytes, value: Any) -> None:
    assert refusal(data) == "float not allowed"
    assert cbrrr.decode_dag_cbor(data) == value


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"\x1b\x80" + bytes(7), 2**63),
        (b"\x1b" + b"\xff" * 8, 2**64 - 1),
        (b"\x3b\x80" + bytes(7), -(2**63) - 1),
        (b"\x3b" + b"\xff" * 8, -(2**64)),
    ],
)
def test_integers_past_signed_64_bit_are_refused(data: bytes, value: int) -> None:
    assert refusal(data) == "integer out of 64-bit range"
    assert cbrrr.decode_dag_cbor(data) == value


def test_integer_bounds_agree() -> None:
    for data, value in (
        (b"\x1b\x7f" + b"\xff" * 7, 2**63 - 1),
        (b"\x3b\x7f" + b"\xff" * 7, -(2**63)),
    ):
        assert decode(data) == cbrrr.decode_dag_cbor(data) == value


def test_nesting_past_the_depth_limit_is_refused() -> None:
    deepest = b"\x81" * MAX_DEPTH + b"\x00"
    assert decode(deepest) == cbrrr.decode_dag_cbor(deepest)
    too_deep = b"\x81" * (MAX_DEPTH + 1) + b"\x00"
    assert refusal(too_deep) == f"nesting depth exceeds {MAX_DEPTH}"
    value = cbrrr.decode_dag_cbor(too_deep)
    for _ in range(MAX_DEPTH + 1):
        (value,) = value
    assert value == 0


@pytest.mark.parametrize(
    "cid",
    [
        b"\x12\x20",  # a CIDv0 multihash cut short
        b"\x02\x71\x12\x20" + bytes(32),  # CID version 2
        b"\x01\x71\x12\x10" + bytes(16),  # sha2-256 with a 16-byte digest
        b"\x01\x71\x12\x20" + bytes(33),  # a byte after the digest
        b"\x01\x71\x12\x20" + bytes(31),  # a byte short
        b"\x01\xf1\x00\x12\x20" + bytes(32),  # non-minimal codec varint
        b"\x01\x55\x00\x61" + bytes(97),  # 101 bytes: over the 100-byte CID limit
    ],
)
def test_malformed_cids_in_links_are_refused(cid: bytes) -> None:
    assert refusal(link(cid)) == "invalid CID link"
    assert bytes(cbrrr.decode_dag_cbor(link(cid))) == cid


def test_well_formed_cids_in_links_agree() -> None:
    for cid in (CID.compute(b"x", "dag-cbor"), CID.decode(b"\x01\x55\x00\x03abc")):
        data = link(bytes(cid))
        assert decode(data) == cid
        assert bytes(cbrrr.decode_dag_cbor(data)) == bytes(cid)
