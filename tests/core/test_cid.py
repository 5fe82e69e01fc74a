"""Tests for ``strato.CID``: parsing every supported form, computing, comparing, pickling, and
rejecting malformed input with a specific reason."""

from __future__ import annotations

import base64
import copy
import hashlib
import pickle
from collections.abc import Callable

import pytest
from strato import CID
from strato.errors import AtprotoError, CIDError, DecodeError

# The empty MST node {"e": [], "l": null} and its well-known CID.
EMPTY_MST_NODE = bytes([0xA2, 0x61, 0x65, 0x80, 0x61, 0x6C, 0xF6])
EMPTY_MST_CID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
# The raw CID of zero bytes.
EMPTY_RAW_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
CIDV0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"

DAG_CBOR = 0x71
RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58btc(data: bytes) -> str:
    """A plain base58btc encoder (Bitcoin alphabet), as an independent oracle."""
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = B58_ALPHABET[rem] + out
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + out


def blessed_bytes(codec: int, data: bytes) -> bytes:
    return bytes([0x01, codec, SHA2_256, 0x20]) + hashlib.sha256(data).digest()


def b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


MULTIBASE_FORMS: dict[str, Callable[[bytes], str]] = {
    "base32-lower": lambda raw: "b" + b32(raw).lower(),
    "base32-upper": lambda raw: "B" + b32(raw),
    "base58btc": lambda raw: "z" + base58btc(raw),
    "base16-lower": lambda raw: "f" + raw.hex(),
    "base16-upper": lambda raw: "F" + raw.hex().upper(),
    "base64": lambda raw: "m" + b64(raw),
    "base64url": lambda raw: "u" + b64url(raw),
}


# --- computing ---------------------------------------------------------------------------------


def test_compute_dag_cbor_matches_known_cid() -> None:
    cid = CID.compute(EMPTY_MST_NODE, "dag-cbor")
    assert str(cid) == EMPTY_MST_CID
    assert bytes(cid) == blessed_bytes(DAG_CBOR, EMPTY_MST_NODE)
    assert cid.version == 1
    assert cid.codec == DAG_CBOR
    assert cid.hash_code == SHA2_256
    assert cid.digest == hashlib.sha256(EMPTY_MST_NODE).digest()
    assert cid.is_blessed


def test_compute_defaults_to_dag_cbor() -> None:
    assert CID.compute(EMPTY_MST_NODE) == CID.decode(EMPTY_MST_CID)


def test_compute_raw() -> None:
    cid = CID.compute(b"", "raw")
    assert str(cid) == EMPTY_RAW_CID
    assert cid.codec == RAW
    assert bytes(cid) == blessed_bytes(RAW, b"")
    assert cid.is_blessed


@pytest.mark.parametrize("data", [b"", b"x", bytes(range(256)), b"\x00" * 10_000])
def test_compute_binary_layout(data: bytes) -> None:
    for codec, name in ((DAG_CBOR, "dag-cbor"), (RAW, "raw")):
        cid = CID.compute(data, name)
        assert bytes(cid) == blessed_bytes(codec, data)
        assert str(cid) == "b" + b32(blessed_bytes(codec, data)).lower()


def test_same_data_different_codec_differs() -> None:
    assert CID.compute(b"abc", "raw") != CID.compute(b"abc", "dag-cbor")


@pytest.mark.parametrize("codec", ["dag-pb", "DAG-CBOR", "", "sha2-256", "json"])
def test_compute_rejects_unknown_codec(codec: str) -> None:
    with pytest.raises(ValueError, match="unsupported codec"):
        CID.compute(b"abc", codec)


# --- decoding and encoding ---------------------------------------------------------------------


@pytest.mark.parametrize("form", sorted(MULTIBASE_FORMS))
@pytest.mark.parametrize("codec", [DAG_CBOR, RAW])
def test_decode_every_multibase(form: str, codec: int) -> None:
    raw = blessed_bytes(codec, b"multibase " + form.encode())
    text = MULTIBASE_FORMS[form](raw)
    cid = CID.decode(text)
    assert bytes(cid) == raw
    assert cid == CID.decode(raw)
    # The canonical string is always base32 lower.
    assert str(cid) == MULTIBASE_FORMS["base32-lower"](raw)


def test_decode_binary() -> None:
    raw = blessed_bytes(DAG_CBOR, EMPTY_MST_NODE)
    cid = CID.decode(raw)
    assert str(cid) == EMPTY_MST_CID
    assert bytes(cid) == raw
    assert isinstance(bytes(cid), bytes)


def test_str_and_encode_agree() -> None:
    cid = CID.decode(EMPTY_MST_CID)
    assert str(cid) == cid.encode() == EMPTY_MST_CID
    assert cid.encode("base32") == EMPTY_MST_CID


def test_encode_base58btc() -> None:
    cid = CID.decode(EMPTY_MST_CID)
    text = cid.encode("base58btc")
    assert text == "z" + base58btc(bytes(cid))
    assert CID.decode(text) == cid


def test_cidv0_string() -> None:
    cid = CID.decode(CIDV0)
    assert cid.version == 0
    assert cid.codec == DAG_PB
    assert cid.hash_code == SHA2_256
    assert len(cid.digest) == 32
    assert not cid.is_blessed
    assert str(cid) == CIDV0
    assert base58btc(bytes(cid)) == CIDV0
    assert bytes(cid)[:2] == b"\x12\x20"
    assert len(bytes(cid)) == 34


def test_cidv0_binary() -> None:
    raw = b"\x12\x20" + hashlib.sha256(b"v0").digest()
    cid = CID.decode(raw)
    assert cid.version == 0
    assert bytes(cid) == raw
    assert CID.decode(str(cid)) == cid
    assert str(cid).startswith("Qm")


def test_decode_generic_cidv1_keeps_fields() -> None:
    # dag-pb CIDv1 with sha2-512 (64-byte digest): parsed and preserved, but not blessed.
    digest = hashlib.sha512(b"x").digest()
    raw = bytes([0x01, DAG_PB, 0x13, 0x40]) + digest
    cid = CID.decode(raw)
    assert (cid.version, cid.codec, cid.hash_code, cid.digest) == (1, DAG_PB, 0x13, digest)
    assert bytes(cid) == raw
    assert not cid.is_blessed
    assert CID.decode(str(cid)) == cid


def test_decode_multibyte_varint_codec() -> None:
    # Codec 0x0129 (dag-json) is a two-byte varint.
    raw = bytes([0x01, 0xA9, 0x02, SHA2_256, 0x20]) + hashlib.sha256(b"{}").digest()
    cid = CID.decode(raw)
    assert cid.codec == 0x0129
    assert not cid.is_blessed
    assert bytes(cid) == raw


@pytest.mark.parametrize(
    ("raw", "blessed"),
    [
        (blessed_bytes(DAG_CBOR, b"a"), True),
        (blessed_bytes(RAW, b"a"), True),
        (bytes([0x01, DAG_PB, SHA2_256, 0x20]) + bytes(32), False),
        (bytes([0x01, DAG_CBOR, 0x00, 0x03]) + b"abc", False),  # identity hash
        (bytes([0x01, RAW, 0x13, 0x40]) + bytes(64), False),  # sha2-512
        (b"\x12\x20" + bytes(32), False),  # CIDv0
    ],
    ids=["dag-cbor", "raw", "dag-pb", "identity-hash", "sha2-512", "v0"],
)
def test_is_blessed(raw: bytes, blessed: bool) -> None:
    assert CID.decode(raw).is_blessed is blessed


# --- value semantics ---------------------------------------------------------------------------


def test_equality_and_hash() -> None:
    a = CID.decode(EMPTY_MST_CID)
    b = CID.compute(EMPTY_MST_NODE)
    c = CID.compute(b"other")
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    assert {a: 1}[b] == 1


def test_not_equal_to_other_types() -> None:
    cid = CID.decode(EMPTY_MST_CID)
    assert cid != EMPTY_MST_CID
    assert cid != bytes(cid)
    assert cid != None  # noqa: E711 - exercising __eq__ with None


def test_ordering_is_by_binary_bytes() -> None:
    cids = [CID.compute(bytes([i]), codec) for i in range(20) for codec in ("raw", "dag-cbor")]
    cids.append(CID.decode(CIDV0))
    assert sorted(cids) == sorted(cids, key=bytes)
    low, high = sorted(cids)[:2]
    assert low < high
    assert low <= high
    assert high > low
    assert high >= low
    assert low <= low  # noqa: PLR0124 - reflexivity is the point
    assert not low < low  # noqa: PLR0124


def test_repr() -> None:
    assert repr(CID.decode(EMPTY_MST_CID)) == f"CID('{EMPTY_MST_CID}')"
    assert repr(CID.decode(CIDV0)) == f"CID('{CIDV0}')"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("text", [EMPTY_MST_CID, EMPTY_RAW_CID, CIDV0])
def test_pickle_round_trip(protocol: int, text: str) -> None:
    cid = CID.decode(text)
    back = pickle.loads(pickle.dumps(cid, protocol=protocol))
    assert isinstance(back, CID)
    assert back == cid
    assert hash(back) == hash(cid)
    assert str(back) == text


def test_copy() -> None:
    cid = CID.decode(EMPTY_MST_CID)
    assert copy.copy(cid) == cid
    assert copy.deepcopy({"l": [cid]}) == {"l": [cid]}


@pytest.mark.parametrize("attr", ["version", "codec", "hash_code", "digest"])
def test_frozen(attr: str) -> None:
    cid = CID.decode(EMPTY_MST_CID)
    with pytest.raises(AttributeError):
        setattr(cid, attr, 0)
    assert cid == CID.decode(EMPTY_MST_CID)


# --- invalid input -----------------------------------------------------------------------------

GOOD = blessed_bytes(DAG_CBOR, b"good")

INVALID_STRINGS = [
    ("xabc", "unsupported multibase"),
    ("k2jmtxw8rj", "unsupported multibase"),  # base36 is not supported
    ("9" + "1" * 40, "unsupported multibase"),
    ("b!!", "invalid base encoding"),
    ("b" + b32(GOOD).lower() + "1", "invalid base encoding"),  # '1' is not base32
    ("b" + b32(GOOD), "invalid base encoding"),  # upper case under the lower-case prefix
    ("B" + b32(GOOD).lower(), "invalid base encoding"),
    ("z0OIl", "invalid base encoding"),  # none of these is base58btc
    ("f" + GOOD.hex() + "zz", "invalid base encoding"),
    ("F" + GOOD.hex(), "invalid base encoding"),  # lower-case hex under 'F'
    ("m" + b64(GOOD) + "!", "invalid base encoding"),
    ("Qm" + "0" * 44, "invalid base encoding"),  # CIDv0 length, but '0' is not base58btc
    (
        "b" + b32(bytes([0x02, DAG_CBOR, SHA2_256, 0x20]) + bytes(32)).lower(),
        "unsupported CID version",
    ),
    ("b" + b32(GOOD[:20]).lower(), "truncated"),
    ("b" + b32(GOOD + b"\x00").lower(), "trailing bytes"),
]


@pytest.mark.parametrize(("text", "reason"), INVALID_STRINGS, ids=[r for _, r in INVALID_STRINGS])
def test_invalid_string(text: str, reason: str) -> None:
    with pytest.raises(CIDError) as info:
        CID.decode(text)
    assert info.value.reason == reason


INVALID_BINARY = [
    ("version-2", bytes([0x02, DAG_CBOR, SHA2_256, 0x20]) + bytes(32), "unsupported CID version"),
    ("version-3", bytes([0x03]) + GOOD[1:], "unsupported CID version"),
    ("empty", b"", "truncated"),
    ("version-only", b"\x01", "truncated"),
    ("no-digest-length", b"\x01\x71\x12", "truncated"),
    ("short-digest", GOOD[:-1], "truncated"),
    ("half-digest", GOOD[:20], "truncated"),
    ("short-v0", b"\x12\x20" + bytes(10), "truncated"),
    ("unfinished-varint", b"\x01\x80", "truncated"),
    ("non-minimal-varint", b"\x01\x80\x00\x12\x20" + bytes(32), "invalid varint"),
    ("overlong-varint", b"\x01" + b"\xff" * 9 + b"\x01", "invalid varint"),
    ("sha256-with-16-byte-digest", b"\x01\x71\x12\x10" + bytes(16), "digest length mismatch"),
    ("sha256-with-33-byte-digest", b"\x01\x71\x12\x21" + bytes(33), "digest length mismatch"),
    ("trailing-byte", GOOD + b"\x00", "trailing bytes"),
    ("trailing-v0", b"\x12\x20" + bytes(32) + b"\x00", "trailing bytes"),
]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(raw, reason) for _, raw, reason in INVALID_BINARY],
    ids=[name for name, _, _ in INVALID_BINARY],
)
def test_invalid_binary(raw: bytes, reason: str) -> None:
    with pytest.raises(CIDError) as info:
        CID.decode(raw)
    assert info.value.reason == reason


def test_cid_error_hierarchy_and_message() -> None:
    with pytest.raises(CIDError) as info:
        CID.decode("xabc")
    err = info.value
    assert isinstance(err, DecodeError)
    assert isinstance(err, ValueError)
    assert isinstance(err, AtprotoError)
    assert err.offset is None
    assert "unsupported multibase" in str(err)
    assert "\n" not in str(err)
