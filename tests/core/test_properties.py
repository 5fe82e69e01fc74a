"""Property tests (Hypothesis) for ``strato.dagcbor``.

- Random data-model values round-trip exactly, with their types (bytes stay bytes, CIDs stay
  CIDs, booleans stay booleans), and encoding is deterministic whatever the dict insertion order.
- Random or mutated bytes never crash the decoder: it returns a value or raises ``DecodeError``;
  and whatever the strict decoder accepts is canonical, so it re-encodes to the same bytes.
- Differential test against the independent ``cbrrr`` implementation: same bytes for the same
  value, and cbrrr decodes strato's bytes back to the same value.

The number of examples comes from the Hypothesis profile chosen in ``conftest.py``
(``HYPOTHESIS_PROFILE=ci`` for more).
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strato import CID
from strato.dagcbor import decode, decode_multi, encode, from_json, to_json
from strato.errors import DecodeError

I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
CIDS = st.builds(CID.compute, st.binary(max_size=16), st.sampled_from(["dag-cbor", "raw"]))
LEAVES = st.none() | st.booleans() | I64 | st.text() | st.binary(max_size=64) | CIDS
KEYS = st.text(max_size=10)
VALUES = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=40,
)
# For the JSON mapping, keys starting with "$" are reserved ($link, $bytes, $type), and empty
# keys are not allowed in atproto data.
PLAIN_KEYS = st.text(min_size=1, max_size=10).filter(lambda key: not key.startswith("$"))
JSON_RECORDS = st.dictionaries(
    PLAIN_KEYS,
    st.recursive(
        LEAVES,
        lambda children: (
            st.lists(children, max_size=6) | st.dictionaries(PLAIN_KEYS, children, max_size=6)
        ),
        max_leaves=25,
    ),
    max_size=4,
)


def same(a: Any, b: Any) -> bool:
    """Equality that also compares types (so 1 != True, and bytes != CID), recursively."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def shuffled(value: Any, rnd: random.Random) -> Any:
    """The same value with every dict rebuilt in a random insertion order."""
    if isinstance(value, list):
        return [shuffled(item, rnd) for item in value]
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {key: shuffled(value[key], rnd) for key in keys}
    return value


@given(VALUES)
def test_round_trip(value: Any) -> None:
    data = encode(value)
    back = decode(data)
    assert same(back, value)
    assert encode(back) == data


@given(VALUES, st.randoms(use_true_random=False))
def test_encoding_is_deterministic_and_order_independent(value: Any, rnd: random.Random) -> None:
    data = encode(value)
    assert encode(value) == data
    assert encode(shuffled(value, rnd)) == data


@given(st.lists(VALUES, max_size=4))
def test_decode_multi_round_trip(values: list[Any]) -> None:
    data = b"".join(encode(value) for value in values)
    assert same(decode_multi(data), values)


@given(JSON_RECORDS)
def test_json_round_trip(record: dict[str, Any]) -> None:
    assert same(from_json(to_json(record)), record)


def decode_or_reject(data: bytes) -> None:
    """Decoding either succeeds, in which case the input was canonical, or raises DecodeError
    with an offset inside the input."""
    error: DecodeError | None = None
    try:
        value = decode(data)
    except DecodeError as err:
        error = err
    if error is None:
        assert encode(value) == data
    else:
        assert error.reason
        assert error.offset is not None
        assert 0 <= error.offset <= len(data)


@given(st.binary(max_size=256))
def test_random_bytes_never_crash(data: bytes) -> None:
    decode_or_reject(data)
    with contextlib.suppress(DecodeError):
        decode_multi(data)


@given(VALUES, st.data())
def test_mutated_encodings_never_crash(value: Any, data: st.DataObject) -> None:
    raw = bytearray(encode(value))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        mutation = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        position = data.draw(st.integers(min_value=0, max_value=max(len(raw) - 1, 0)))
        if mutation == "flip" and raw:
            raw[position] ^= data.draw(st.integers(min_value=1, max_value=255))
        elif mutation == "insert":
            raw.insert(position, data.draw(st.integers(min_value=0, max_value=255)))
        elif mutation == "delete" and raw:
            del raw[position]
        elif mutation == "truncate":
            del raw[position:]
    decode_or_reject(bytes(raw))


# --- differential: cbrrr ------------------------------------------------------------------------


def to_cbrrr(value: Any, cbrrr: Any) -> Any:
    """Map strato values onto cbrrr's (cbrrr.CID wraps the binary CID)."""
    if isinstance(value, CID):
        return cbrrr.CID(bytes(value))
    if isinstance(value, list):
        return [to_cbrrr(item, cbrrr) for item in value]
    if isinstance(value, dict):
        return {key: to_cbrrr(item, cbrrr) for key, item in value.items()}
    return value


@given(VALUES)
def test_same_bytes_as_cbrrr(value: Any) -> None:
    cbrrr = pytest.importorskip("cbrrr")
    assert cbrrr.encode_dag_cbor(to_cbrrr(value, cbrrr)) == encode(value)


@given(VALUES)
def test_cbrrr_decodes_strato_bytes(value: Any) -> None:
    cbrrr = pytest.importorskip("cbrrr")
    back = cbrrr.decode_dag_cbor(encode(value), cid_ctor=CID.decode)
    assert same(back, value)


@given(VALUES)
def test_strato_decodes_cbrrr_bytes(value: Any) -> None:
    cbrrr = pytest.importorskip("cbrrr")
    assert same(decode(cbrrr.encode_dag_cbor(to_cbrrr(value, cbrrr))), value)
