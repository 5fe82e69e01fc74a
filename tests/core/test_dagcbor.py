"""Tests for ``strato.dagcbor``: canonical encoding, strict decoding (every rejection with its
reason and byte offset), the depth limit, concatenated values, and the atproto JSON mapping."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from strato import CID
from strato.dagcbor import MAX_DEPTH, decode, decode_multi, encode, from_json, to_json
from strato.errors import AtprotoError, DecodeError, EncodeError

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1

CID_A = CID.compute(b"a", "raw")
CID_B = CID.compute(b"b", "dag-cbor")


def text_head(n: int) -> bytes:
    """The CBOR head of a text string of n bytes (built by hand, as an oracle)."""
    return head(3, n)


def head(major: int, arg: int) -> bytes:
    m = major << 5
    if arg < 24:
        return bytes([m | arg])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < 1 << (8 * size):
            return bytes([m | info]) + arg.to_bytes(size, "big")
    raise AssertionError(arg)


def key(name: str) -> bytes:
    raw = name.encode()
    return text_head(len(raw)) + raw


def assert_decode_error(data: bytes, reason: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert (info.value.reason, info.value.offset) == (reason, offset)


# --- canonical encoding ------------------------------------------------------------------------


def test_map_keys_sorted_length_first() -> None:
    commit = {"version": 3, "data": None, "prev": None, "sig": b"", "rev": "r", "did": "d"}
    expected = (
        b"\xa6"
        + key("did") + key("d")
        + key("rev") + key("r")
        + key("sig") + b"\x40"
        + key("data") + b"\xf6"
        + key("prev") + b"\xf6"
        + key("version") + b"\x03"
    )  # fmt: skip
    assert encode(commit) == expected
    assert decode(expected) == commit


def test_map_key_order_is_bytewise_on_utf8() -> None:
    # "é" is one code point but two UTF-8 bytes: it sorts with the 2-byte keys, after "zz".
    value = {"é": 1, "zz": 2, "b": 3, "a": 4, "aa": 5}
    expected = b"\xa5" + b"".join(
        key(k) + bytes([v]) for k, v in (("a", 4), ("b", 3), ("aa", 5), ("zz", 2), ("é", 1))
    )
    assert encode(value) == expected
    assert list(decode(expected)) == ["a", "b", "aa", "zz", "é"]


def test_firehose_header_order() -> None:
    assert (
        encode({"op": 1, "t": "#commit"})
        == b"\xa2" + key("t") + key("#commit") + key("op") + b"\x01"
    )


def test_encoding_independent_of_insertion_order() -> None:
    a = {"one": 1, "two": [1, {"x": 1, "y": 2}], "three": None}
    b = {"three": None, "two": [1, {"y": 2, "x": 1}], "one": 1}
    assert encode(a) == encode(b)


INTS = [
    (0, "00"),
    (1, "01"),
    (23, "17"),
    (24, "1818"),
    (255, "18ff"),
    (256, "190100"),
    (65535, "19ffff"),
    (65536, "1a00010000"),
    (2**32 - 1, "1affffffff"),
    (2**32, "1b0000000100000000"),
    (I64_MAX, "1b7fffffffffffffff"),
    (-1, "20"),
    (-24, "37"),
    (-25, "3818"),
    (-256, "38ff"),
    (-257, "390100"),
    (-65536, "39ffff"),
    (-65537, "3a00010000"),
    (-(2**32), "3affffffff"),
    (-(2**32) - 1, "3b0000000100000000"),
    (I64_MIN, "3b7fffffffffffffff"),
]


@pytest.mark.parametrize(("value", "hexbytes"), INTS, ids=[str(v) for v, _ in INTS])
def test_shortest_integers(value: int, hexbytes: str) -> None:
    data = bytes.fromhex(hexbytes)
    assert encode(value) == data
    got = decode(data)
    assert got == value
    assert type(got) is int


@pytest.mark.parametrize("length", [0, 23, 24, 255, 256, 65535, 65536])
def test_shortest_lengths(length: int) -> None:
    assert encode("a" * length) == head(3, length) + b"a" * length
    assert encode(b"\x01" * length) == head(2, length) + b"\x01" * length
    assert encode([0] * length) == head(4, length) + b"\x00" * length
    assert decode(head(4, length) + b"\x00" * length) == [0] * length


@pytest.mark.parametrize("size", [23, 24])
def test_shortest_map_length(size: int) -> None:
    value = {f"k{i:02d}": i for i in range(size)}
    data = encode(value)
    assert data[: len(head(5, size))] == head(5, size)
    assert decode(data) == value


def test_simple_values_and_strings() -> None:
    assert encode(None) == b"\xf6"
    assert encode(True) == b"\xf5"
    assert encode(False) == b"\xf4"
    assert encode("") == b"\x60"
    assert encode("ü") == b"\x62\xc3\xbc"
    assert encode(b"") == b"\x40"
    assert encode([]) == b"\x80"
    assert encode({}) == b"\xa0"
    assert decode(b"\xf5") is True
    assert decode(b"\xf4") is False
    assert decode(b"\xf6") is None


def test_bool_is_not_int() -> None:
    assert encode(True) != encode(1)
    assert decode(encode([True, 1, False, 0])) == [True, 1, False, 0]
    assert [type(x) for x in decode(encode([True, 1]))] == [bool, int]


def test_tuple_encodes_as_list() -> None:
    assert encode((1, "a", (None,))) == encode([1, "a", [None]])
    assert decode(encode((1, 2))) == [1, 2]


def test_cid_link_bytes() -> None:
    raw = bytes(CID_B)
    assert encode(CID_B) == b"\xd8\x2a\x58\x25\x00" + raw
    assert decode(b"\xd8\x2a\x58\x25\x00" + raw) == CID_B


def test_bytes_and_cid_stay_distinct() -> None:
    value = {"cid": CID_A, "raw": bytes(CID_A), "both": [CID_B, bytes(CID_B)]}
    data = encode(value)
    back = decode(data)
    assert back == value
    assert isinstance(back["cid"], CID)
    assert type(back["raw"]) is bytes
    assert isinstance(back["both"][0], CID)
    assert type(back["both"][1]) is bytes
    assert back["cid"] != back["raw"]
    assert encode(back) == data


def test_non_blessed_cid_link_round_trips() -> None:
    v0 = CID.decode(b"\x12\x20" + hashlib.sha256(b"v0").digest())
    data = encode({"link": v0})
    assert data == b"\xa1" + key("link") + b"\xd8\x2a\x58\x23\x00" + bytes(v0)
    assert decode(data) == {"link": v0}


# --- strict decoding: every invalid input class ------------------------------------------------

SHA = hashlib.sha256(b"").digest()
CID_RAW = b"\x01\x71\x12\x20" + SHA

INVALID = [
    # (id, data, reason, offset)
    ("empty", b"", "unexpected end of input", 0),
    ("head-cut-1", b"\x18", "unexpected end of input", 0),
    ("head-cut-8", b"\x1b\x00\x00\x00", "unexpected end of input", 0),
    ("text-cut", b"\x62a", "unexpected end of input", 0),
    ("bytes-cut-in-list", b"\x81\x42\x00", "unexpected end of input", 1),
    ("huge-length", b"\x5a\xff\xff\xff\xff", "unexpected end of input", 0),
    ("map-value-missing", b"\xa1\x61a", "unexpected end of input", 3),
    ("trailing-int", b"\x01\x02", "trailing bytes after value", 1),
    ("trailing-after-map", b"\xa0\x00\x00", "trailing bytes after value", 1),
    ("indefinite-array", b"\x9f\xff", "indefinite length not allowed", 0),
    ("indefinite-bytes", b"\x5f\xff", "indefinite length not allowed", 0),
    ("indefinite-text", b"\x7f\xff", "indefinite length not allowed", 0),
    ("indefinite-map", b"\xbf\xff", "indefinite length not allowed", 0),
    ("indefinite-nested", b"\x81\x9f\xff", "indefinite length not allowed", 1),
    ("int-23-in-1-byte", b"\x18\x17", "non-shortest integer encoding", 0),
    ("int-255-in-2-bytes", b"\x19\x00\xff", "non-shortest integer encoding", 0),
    ("int-65535-in-4-bytes", b"\x1a\x00\x00\xff\xff", "non-shortest integer encoding", 0),
    (
        "int-2^32-1-in-8-bytes",
        b"\x1b\x00\x00\x00\x00\xff\xff\xff\xff",
        "non-shortest integer encoding",
        0,
    ),
    ("negative-non-shortest", b"\x38\x00", "non-shortest integer encoding", 0),
    ("length-non-shortest", b"\x78\x01a", "non-shortest integer encoding", 0),
    ("array-length-non-shortest", b"\x98\x01\x00", "non-shortest integer encoding", 0),
    ("nested-non-shortest", b"\x81\x19\x00\xff", "non-shortest integer encoding", 1),
    (
        "tag-head-non-shortest",
        b"\xd9\x00\x2a\x58\x25\x00" + CID_RAW,
        "non-shortest integer encoding",
        0,
    ),
    ("half-float", b"\xf9\x3c\x00", "float not allowed", 0),
    ("single-float", b"\xfa\x3f\x80\x00\x00", "float not allowed", 0),
    ("double-float", b"\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00", "float not allowed", 0),
    ("float-in-map", b"\xa1\x61a\xfb\x3f\xf8\x00\x00\x00\x00\x00\x00", "float not allowed", 3),
    ("tag-1", b"\xc1\x00", "unsupported tag", 0),
    ("tag-43", b"\xd8\x2b\x58\x25\x00" + CID_RAW, "unsupported tag", 0),
    ("tag-256", b"\xd9\x01\x00\x00", "unsupported tag", 0),
    ("tag-in-list", b"\x82\x00\xc0\x60", "unsupported tag", 2),
    ("undefined", b"\xf7", "unsupported simple value", 0),
    ("simple-16", b"\xf0", "unsupported simple value", 0),
    ("simple-32-one-byte", b"\xf8\x20", "unsupported simple value", 0),
    ("reserved-28", b"\x1c", "reserved additional info", 0),
    ("reserved-29-negative", b"\x3d", "reserved additional info", 0),
    ("reserved-30-bytes", b"\x5e", "reserved additional info", 0),
    ("reserved-simple", b"\xfc", "reserved additional info", 0),
    ("reserved-nested", b"\x81\x1c", "reserved additional info", 1),
    ("utf8-invalid-byte", b"\x61\xff", "invalid UTF-8", 0),
    ("utf8-surrogate", b"\x63\xed\xa0\x80", "invalid UTF-8", 0),
    ("utf8-overlong", b"\x62\xc0\xaf", "invalid UTF-8", 0),
    ("utf8-cut", b"\x81\x62\xc3\x28", "invalid UTF-8", 1),
    ("utf8-in-key", b"\xa1\x61\xff\x01", "invalid UTF-8", 1),
    ("int-key", b"\xa1\x01\x01", "map key must be a string", 1),
    ("bytes-key", b"\xa1\x41a\x01", "map key must be a string", 1),
    ("second-key-not-string", b"\xa2\x61a\x01\x00\x01", "map key must be a string", 4),
    ("duplicate-key", b"\xa2\x61a\x01\x61a\x02", "duplicate map key", 4),
    ("keys-bytewise-unsorted", b"\xa2\x61b\x01\x61a\x02", "map keys not in canonical order", 4),
    ("keys-length-unsorted", b"\xa2\x62aa\x01\x61b\x02", "map keys not in canonical order", 5),
    ("uint-2^63", b"\x1b\x80\x00\x00\x00\x00\x00\x00\x00", "integer out of 64-bit range", 0),
    ("uint-max", b"\x1b" + b"\xff" * 8, "integer out of 64-bit range", 0),
    ("nint-below-i64", b"\x3b\x80\x00\x00\x00\x00\x00\x00\x00", "integer out of 64-bit range", 0),
    ("link-int", b"\xd8\x2a\x01", "CID link must be a byte string", 2),
    ("link-text", b"\xd8\x2a\x61a", "CID link must be a byte string", 2),
    ("link-no-prefix", b"\xd8\x2a\x58\x24" + CID_RAW, "CID link missing 0x00 prefix", 2),
    ("link-prefix-01", b"\xd8\x2a\x58\x25\x01" + CID_RAW, "CID link missing 0x00 prefix", 2),
    ("link-empty", b"\xd8\x2a\x40", "CID link missing 0x00 prefix", 2),
    ("link-garbage", b"\xd8\x2a\x42\x00\x01", "invalid CID link", 2),
    ("link-cut-cid", b"\xd8\x2a\x58\x21\x00" + CID_RAW[:32], "invalid CID link", 2),
    ("link-trailing", b"\xd8\x2a\x58\x26\x00" + CID_RAW + b"\x00", "invalid CID link", 2),
    ("link-in-map", b"\xa1\x61l\xd8\x2a\x42\x00\x01", "invalid CID link", 5),
]


@pytest.mark.parametrize(
    ("data", "reason", "offset"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_rejects_invalid(data: bytes, reason: str, offset: int) -> None:
    assert_decode_error(data, reason, offset)


def test_decode_error_is_a_value_error_with_one_line_message() -> None:
    with pytest.raises(DecodeError) as info:
        decode(b"\xa1\x61a\xfb\x3f\xf8\x00\x00\x00\x00\x00\x00")
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, AtprotoError)
    assert "float not allowed" in str(err)
    assert "at offset 3" in str(err)
    assert "\n" not in str(err)


def nested_lists(depth: int) -> bytes:
    """``depth`` arrays of one element each around an integer."""
    return b"\x81" * depth + b"\x00"


def nested_maps(depth: int) -> bytes:
    return b"\xa1\x61a" * depth + b"\x00"


def test_max_depth_constant() -> None:
    assert MAX_DEPTH == 64


def test_depth_limit_lists() -> None:
    value = decode(nested_lists(64))
    for _ in range(64):
        assert isinstance(value, list)
        value = value[0]
    assert value == 0
    assert_decode_error(nested_lists(65), "nesting depth exceeds 64", 64)


def test_depth_limit_maps() -> None:
    decode(nested_maps(64))
    assert_decode_error(nested_maps(65), "nesting depth exceeds 64", 64 * 3)


def test_depth_limit_mixed_and_deep_hostile_input() -> None:
    assert_decode_error(b"\xa1\x61a\x81" * 33, "nesting depth exceeds 64", 64 // 2 * 4)
    # A hostile input far deeper than any stack: still a clean error.
    assert_decode_error(b"\x81" * 100_000, "nesting depth exceeds 64", 64)


def test_empty_containers_count_towards_depth() -> None:
    decode(b"\x81" * 63 + b"\x80")
    assert_decode_error(b"\x81" * 64 + b"\x80", "nesting depth exceeds 64", 64)


# --- decode_multi and buffer types -------------------------------------------------------------


def test_decode_multi_frame() -> None:
    header = {"op": 1, "t": "#commit"}
    body = {"seq": 5, "blocks": b"\x00\x01", "commit": CID_B}
    data = encode(header) + encode(body)
    assert decode_multi(data) == [header, body]
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.reason == "trailing bytes after value"
    assert info.value.offset == len(encode(header))


def test_decode_multi_single_and_many() -> None:
    assert decode_multi(encode([1, 2])) == [[1, 2]]
    assert decode_multi(b"\x01\x02\xf6\x60") == [1, 2, None, ""]


def test_decode_multi_error_offset_is_in_whole_buffer() -> None:
    with pytest.raises(DecodeError) as info:
        decode_multi(b"\x01\x02\x18")
    assert (info.value.reason, info.value.offset) == ("unexpected end of input", 2)
    with pytest.raises(DecodeError) as info:
        decode_multi(encode({"a": 1}) + b"\xf7")
    assert (info.value.reason, info.value.offset) == ("unsupported simple value", 4)


SAMPLE = {"text": "hi", "n": -5, "b": b"\x00\xff", "link": CID_A, "l": [None, True]}


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_decode_accepts_buffers(kind: type) -> None:
    data = encode(SAMPLE)
    value = decode(kind(data))
    assert value == SAMPLE
    assert type(value["b"]) is bytes
    assert decode_multi(kind(data + data)) == [SAMPLE, SAMPLE]


def test_decode_memoryview_slice() -> None:
    data = b"junk" + encode(SAMPLE) + b"junk"
    view = memoryview(data)[4:-4]
    assert decode(view) == SAMPLE


def test_decoded_bytes_do_not_alias_a_mutable_input() -> None:
    buf = bytearray(encode({"b": b"abc"}))
    value = decode(buf)
    buf[-1] = ord("z")
    assert value == {"b": b"abc"}


# --- encode errors -----------------------------------------------------------------------------


class Custom:
    pass


ENCODE_ERRORS: list[tuple[str, Any, str, str]] = [
    ("float-top", 1.5, "float not allowed", "$"),
    ("float-integral", 2.0, "float not allowed", "$"),
    ("float-nested", {"rcrd": {"a": [0, 1, 1.5]}}, "float not allowed", "$.rcrd.a[2]"),
    ("int-too-big", {"n": 2**63}, "integer out of 64-bit range", "$.n"),
    ("int-too-small", [0, -(2**63) - 1], "integer out of 64-bit range", "$[1]"),
    ("int-huge", 10**40, "integer out of 64-bit range", "$"),
    ("int-key", {1: "a"}, "map key must be a string", "$"),
    ("bytes-key", {"m": {b"k": 1}}, "map key must be a string", "$.m"),
    ("set", {"x": {1, 2}}, "unsupported type: set", "$.x"),
    ("object", [object()], "unsupported type: object", "$[0]"),
    ("complex", 1j, "unsupported type: complex", "$"),
    ("custom-class", {"a": [{"b": Custom()}]}, "unsupported type: Custom", "$.a[0].b"),
]


@pytest.mark.parametrize(
    ("value", "reason", "path"),
    [case[1:] for case in ENCODE_ERRORS],
    ids=[case[0] for case in ENCODE_ERRORS],
)
def test_encode_errors(value: Any, reason: str, path: str) -> None:
    with pytest.raises(EncodeError) as info:
        encode(value)
    assert info.value.reason == reason
    assert info.value.path == path


def test_encode_error_is_a_value_error_with_path_in_message() -> None:
    with pytest.raises(EncodeError) as info:
        encode({"rcrd": {"a": [0, 1, 1.5]}})
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, AtprotoError)
    assert "float not allowed" in str(err)
    assert "$.rcrd.a[2]" in str(err)
    assert "\n" not in str(err)


def test_encode_integer_bounds_ok() -> None:
    assert decode(encode([I64_MIN, I64_MAX])) == [I64_MIN, I64_MAX]


def nest(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_encode_depth_limit() -> None:
    assert encode(nest(64)) == b"\x81" * 63 + b"\x80"
    with pytest.raises(EncodeError) as info:
        encode(nest(65))
    assert info.value.reason == "nesting depth exceeds 64"


def test_encode_self_reference_is_an_error_not_a_crash() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(EncodeError) as info:
        encode(loop)
    assert info.value.reason == "nesting depth exceeds 64"
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(EncodeError) as info:
        encode(cyclic)
    assert info.value.reason == "nesting depth exceeds 64"


# --- atproto JSON ------------------------------------------------------------------------------


def test_to_json() -> None:
    value = {"b": b"\x00\x01\xfb", "c": CID_A, "l": [b"", {"x": CID_B}], "n": 1, "s": "x"}
    assert to_json(value) == {
        "b": {"$bytes": "AAH7"},
        "c": {"$link": str(CID_A)},
        "l": [{"$bytes": ""}, {"x": {"$link": str(CID_B)}}],
        "n": 1,
        "s": "x",
    }


def test_to_json_base64_is_standard_and_unpadded() -> None:
    assert to_json({"b": b"\xfb\xff"}) == {"b": {"$bytes": "+/8"}}


def test_from_json() -> None:
    obj = {"b": {"$bytes": "AAH7"}, "c": {"$link": str(CID_A)}, "l": [1, None, True, "s"]}
    value = from_json(obj)
    assert value == {"b": b"\x00\x01\xfb", "c": CID_A, "l": [1, None, True, "s"]}
    assert to_json(value) == obj


def test_from_json_padding_optional_and_integer_floats() -> None:
    value = from_json({"p": {"$bytes": "AAE="}, "u": {"$bytes": "AAE"}, "f": 123.0})
    assert value == {"p": b"\x00\x01", "u": b"\x00\x01", "f": 123}
    assert type(value["f"]) is int


def test_from_json_blob() -> None:
    blob = {"$type": "blob", "ref": {"$link": str(CID_A)}, "mimeType": "image/png", "size": 0}
    value = from_json({"image": blob})
    assert value == {"image": {"$type": "blob", "ref": CID_A, "mimeType": "image/png", "size": 0}}


FROM_JSON_ERRORS: list[tuple[str, Any]] = [
    ("top-level-list", [1]),
    ("top-level-string", "blah"),
    ("float", {"a": 1.5}),
    ("link-extra-key", {"a": {"$link": str(CID_A), "x": 1}}),
    ("link-not-string", {"a": {"$link": 1}}),
    ("link-bogus", {"a": {"$link": "bogus"}}),
    ("bytes-extra-key", {"a": {"$bytes": "AA", "x": 1}}),
    ("bytes-not-string", {"a": {"$bytes": 1}}),
    ("bytes-not-base64", {"a": {"$bytes": "!!!"}}),
    ("type-null", {"$type": None}),
    ("type-empty", {"$type": ""}),
    (
        "blob-negative-size",
        {"$type": "blob", "ref": {"$link": str(CID_A)}, "mimeType": "a/b", "size": -1},
    ),
    ("blob-empty-mime", {"$type": "blob", "ref": {"$link": str(CID_A)}, "mimeType": "", "size": 1}),
    ("blob-ref-string", {"$type": "blob", "ref": str(CID_A), "mimeType": "a/b", "size": 1}),
]


@pytest.mark.parametrize(
    "obj", [case[1] for case in FROM_JSON_ERRORS], ids=[case[0] for case in FROM_JSON_ERRORS]
)
def test_from_json_errors(obj: Any) -> None:
    with pytest.raises(DecodeError) as info:
        from_json(obj)
    assert info.value.offset is None
    assert info.value.reason


def test_from_json_top_level_reason() -> None:
    with pytest.raises(DecodeError) as info:
        from_json([])
    assert info.value.reason == "top-level value must be an object"
    with pytest.raises(DecodeError) as info:
        from_json({"a": [{"b": 0.5}]})
    assert info.value.reason == "float not allowed"


# --- the decoder's string caches and ASCII fast path ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "a", "en", "app.bsky.feed.post", "x" * 32, "x" * 33, "ünï", "日本語", "😀" * 9, "a\x00b"],
)
def test_repeated_strings_decode_identically(text: str) -> None:
    # The third and later copies come from the value cache (admitted on second sighting);
    # keys are cached on first sighting. Every copy must equal the original.
    value = {text or "k": [text] * 5, "other": {text or "k": text}}
    for _ in range(3):
        decoded = decode(encode(value))
        assert decoded == value
        assert all(type(item) is str for item in decoded[text or "k"])


def test_cache_slot_collisions_do_not_mix_strings() -> None:
    # Thousands of distinct short strings through 1024 slots: every one must come back as itself.
    values = [f"v{i}" for i in range(5000)]
    for _ in range(2):
        assert decode(encode(values)) == values
        assert decode(encode({v: v for v in values})) == {v: v for v in values}
