"""The data model's limits on text from the network (:mod:`strato.datamodel`): decimal integers
in the signed 64-bit range, and JSON text that is UTF-8, nests at most 64 deep and holds no
integer beyond 64 bits, with the field of a violation named, whatever the strings around it
hold (brackets, digits, escaped quotes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from strato import dagcbor
from strato.datamodel import (
    DEEP,
    INT64_MAX,
    INT64_MIN,
    LOCATE_TOKENS,
    OUT_OF_RANGE,
    check_json,
    to_int64,
)
from strato.errors import DataModelError
from strato.xrpc.method import DEFAULT_JSON_LIMIT


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("-0", 0), ("42", 42), (str(INT64_MAX), INT64_MAX), (str(INT64_MIN), INT64_MIN),
     ("0" * 5000 + "7", 7)],
)  # fmt: skip
def test_integers_in_range(text: str, value: int) -> None:
    assert to_int64(text) == value


@pytest.mark.parametrize(
    "text", [str(INT64_MAX + 1), str(INT64_MIN - 1), str(2**64), "9" * 5000, "-" + "9" * 5000]
)
def test_integers_out_of_range(text: str) -> None:
    with pytest.raises(DataModelError, match=OUT_OF_RANGE):
        to_int64(text)


def nested(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize(
    "text",
    [
        b"{}",
        b'{"a":' + nested(63) + b"}",
        b'{"n":[' + str(INT64_MAX).encode() + b"," + str(INT64_MIN).encode() + b"]}",
        b'{"s":"' + b"[" * 500 + b'"}',  # brackets in strings do not nest
        b'{"s":"\\"' + b"[" * 500 + b'\\\\"}',  # nor after escaped quotes and backslashes
        b'{"s":"' + b"9" * 500 + b'"}',  # digits in strings are not integers
        b'{"f":1.' + b"9" * 40 + b',"e":1e' + b"9" * 40 + b"}",  # floats are the parser's to refuse
        b'{"list":[' + b",".join([nested(30)] * 200) + b"]}",  # wide, not deep
        "{\"ü\":\"✓\"}".encode(),
    ],
    ids=["empty", "64-deep", "int64-bounds", "brackets-in-strings", "escapes", "digit-strings",
         "floats", "wide", "unicode"],
)  # fmt: skip
def test_texts_within_the_limits(text: bytes) -> None:
    check_json(text)


@pytest.mark.parametrize(
    ("text", "reason", "path"),
    [
        (b'{"a":"\xe9t\xe9"}', "JSON text is not valid UTF-8 (byte 6)", "$"),
        (b'{"a":"ok","b":"\xed\xa0\x80"}', "JSON text is not valid UTF-8 (byte 15)", "$"),
        (b'{"a":' + nested(64) + b"}", DEEP, "$.a"),
        (nested(65), DEEP, "$[0]"),
        (b'{"x":1,"deep":{"y":[1,{"z":' + nested(10_000) + b"}]}}", DEEP, "$.deep"),
        (b'{"n":' + str(INT64_MAX + 1).encode() + b"}", OUT_OF_RANGE, "$.n"),
        (b'{"a":[0,{"b c":[1,2,-' + b"9" * 5000 + b"]}]}", OUT_OF_RANGE, '$.a[1]["b c"][2]'),
        (b'{"s\\"[":"]","k":[' + b"1," * 10 + str(2**64).encode() + b"]}", OUT_OF_RANGE,
         "$.k[10]"),
        (b"[" + b"1," * LOCATE_TOKENS + str(2**64).encode() + b"]", OUT_OF_RANGE, "$"),
    ],
    ids=["latin-1", "surrogate", "65-deep", "65-deep-root", "10000-deep", "2^63", "5000-digits",
         "after-escapes", "beyond-the-walk"],
)  # fmt: skip
def test_texts_outside_the_limits(text: bytes, reason: str, path: str) -> None:
    with pytest.raises(DataModelError) as caught:
        check_json(text)
    assert (caught.value.reason, caught.value.path) == (reason, path)


def test_the_depth_limit_is_the_data_model_decoders() -> None:
    """A body that passes nests no deeper than a DAG-CBOR value may, and one level more is
    refused by both."""
    deepest = {"a": json.loads(nested(63))}
    check_json(json.dumps(deepest).encode())
    dagcbor.decode(dagcbor.encode(deepest))
    with pytest.raises(DataModelError, match=DEEP):
        check_json(json.dumps({"a": deepest}).encode())
    with pytest.raises(ValueError, match="nesting depth exceeds 64"):
        dagcbor.decode(dagcbor.encode({"a": deepest}))


def test_a_refused_body_is_walked_once() -> None:
    """A body refused early (an integer beyond 64 bits the walk does not name, then a string
    that never ends, full of escaped quotes) as large as the router takes is refused at once.
    Walked from every quote to the end, it took minutes of a server's event loop: the check
    runs in a child killed after a generous bound."""
    body = b'12345678901234567890123- "' + b'\\"' * (DEFAULT_JSON_LIMIT // 2 - 16)
    check = (
        "import sys; from strato.datamodel import check_json; "
        "from strato.errors import DataModelError\n"
        "try: check_json(sys.stdin.buffer.read())\n"
        "except DataModelError as err: print(err.reason)"
    )
    done = subprocess.run(
        [sys.executable, "-c", check],
        input=body, capture_output=True, timeout=60, env=os.environ, check=True,
    )  # fmt: skip
    assert done.stdout.decode().strip() == OUT_OF_RANGE, done.stderr.decode()
