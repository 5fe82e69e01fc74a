"""The atproto data model's limits, checked on text from the network before it is parsed.

A parser trusts the shape of what it reads: JSON nested ten thousand deep exhausts the stack
(``RecursionError``), a decimal of 5,000 digits exceeds Python's conversion limit
(``ValueError``), invalid UTF-8 fails wherever a string is built. Each would turn a bad request
into a server error, so the servers bound the text first, by the data model's rules (spec: data
model):

- integers are signed 64-bit: :func:`to_int64` converts a decimal (a query parameter, a cursor)
  only once its range is known;
- JSON text (:func:`check_json`) is UTF-8, nests arrays and objects at most :data:`MAX_DEPTH`
  deep (the DAG-CBOR decoder's limit: a request body is a data-model value too) and holds no
  integer outside the signed 64-bit range.

A text that breaks a rule raises :class:`strato.errors.DataModelError` saying where in its
``path``: the integer's field (``$.record.count``), the top-level field that nests too deep
(``$.record``), or ``$`` (the whole text: invalid UTF-8, whose byte the reason gives).

Tricky bits: :func:`check_json` must cost nothing on ordinary bodies and stay linear, in C-level
loops, on hostile ones. A body with at most :data:`MAX_DEPTH` brackets and no run of 19 digits
passes on two byte counts and one search. Otherwise strings are cut out (escaped backslashes
and quotes first, so the quotes left delimit strings) and the brackets and long integers left
are measured. Only a body that breaks a rule is walked token by token, in Python, to name the
field; the walk stops after :data:`LOCATE_TOKENS` tokens (a violation further in is reported
at ``$``) and reads each byte once (an unterminated string is one token to the end), so a
refused body costs little more than an accepted one.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Final

from strato._core import MAX_DEPTH
from strato.errors import DataModelError

OUT_OF_RANGE: Final = "integer out of the signed 64-bit range"
DEEP: Final = f"nested more than {MAX_DEPTH} levels deep"
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
#: How many tokens :func:`check_json` reads to name the field of a violation.
LOCATE_TOKENS: Final = 4096
#: The most digits a signed 64-bit integer has.
_INT64_DIGITS: Final = 19

_SUSPECT_DIGITS: Final = re.compile(rb"[0-9]{19}")
#: An integer of 19 digits or more outside strings: not a float's fraction, exponent or mantissa.
_LONG_INTEGER: Final = re.compile(rb"(?<![0-9.eE+-])-?[0-9]{19,}(?![0-9.eE])")
#: Every byte except the four brackets, deleted to leave the nesting; ``{}`` become ``[]``.
_NOT_BRACKETS: Final = bytes(byte for byte in range(256) if byte not in b"[]{}")
_SQUARE: Final = bytes.maketrans(b"{}", b"[]")
_STEP: Final = [0] * 256
_STEP[ord("[")] = 1
_STEP[ord("]")] = -1
#: A string runs to its closing quote or, unterminated, to the end of the text: each byte is read
#: by one token at most (a quote that opened no string would otherwise be searched from again,
#: and the escaped quotes after it each start a search to the end: quadratic).
_TOKEN: Final = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}:,]|-?[0-9][0-9.eE+-]*', re.DOTALL)


def to_int64(decimal: str) -> int:
    """``decimal`` (``-?[0-9]+``, already checked by the caller) as an int, when it is in the
    signed 64-bit range; :class:`DataModelError` otherwise, without converting a long one."""
    negative = decimal.startswith("-")
    digits = decimal[negative:].lstrip("0") or "0"
    value = 0 if len(digits) > _INT64_DIGITS else int(digits)
    value = -value if negative else value
    if len(digits) > _INT64_DIGITS or not INT64_MIN <= value <= INT64_MAX:
        raise DataModelError(OUT_OF_RANGE)
    return value


def check_json(data: bytes) -> None:
    """Raise :class:`DataModelError` when the JSON text ``data`` is not UTF-8, nests deeper
    than :data:`MAX_DEPTH` or holds an integer outside the signed 64-bit range (malformed JSON
    is left to the parser)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataModelError(f"JSON text is not valid UTF-8 (byte {err.start})", path="$") from None
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH and not _SUSPECT_DIGITS.search(data):
        return
    text = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(text.split(b'"')[::2])
    brackets = outside.translate(_SQUARE, _NOT_BRACKETS)
    too_deep = brackets.count(b"[") > MAX_DEPTH and (
        b"[" * (MAX_DEPTH + 1) in brackets
        or max(accumulate(map(_STEP.__getitem__, brackets))) > MAX_DEPTH
    )
    if too_deep or any(_out_of_range(m[0]) for m in _LONG_INTEGER.finditer(outside)):
        raise _locate(data, DEEP if too_deep else OUT_OF_RANGE)


def _out_of_range(literal: bytes) -> bool:
    return len(literal.removeprefix(b"-")) > _INT64_DIGITS or not (
        INT64_MIN <= int(literal) <= INT64_MAX
    )


def _locate(data: bytes, reason: str) -> DataModelError:
    """The error for the first rule ``data`` breaks (``reason``), walking its tokens to name
    the field."""
    # Each open container: its path segment in its parent, whether it is an object, and the
    # key or index of the value being read in it.
    stack: list[tuple[str, bool, str | int]] = []
    key: str | int = ""
    pending_key = False
    for match, _ in zip(_TOKEN.finditer(data), range(LOCATE_TOKENS), strict=False):
        token = match[0]
        first = token[:1]
        if first in b"[{":
            segment = _segment(key) if stack else ""
            stack.append((segment, first == b"{", key))
            if len(stack) > MAX_DEPTH:
                return DataModelError(DEEP, path="$" + stack[1][0])
            key, pending_key = 0, first == b"{"
        elif first in b"]}":
            if not stack:
                break
            key = stack.pop()[2]
            pending_key = False
        elif first == b",":
            if stack and stack[-1][1]:
                pending_key = True
            elif isinstance(key, int):
                key += 1
        elif first == b'"':
            if pending_key:
                key, pending_key = _key(token), False
        elif token.removeprefix(b"-").isdigit() and _out_of_range(token):
            inner = "".join(segment for segment, _, _ in stack) + _segment(key) if stack else ""
            return DataModelError(OUT_OF_RANGE, path="$" + inner)
    return DataModelError(reason, path="$")


def _key(token: bytes) -> str:
    try:
        return str(json.loads(token))
    except ValueError:  # a malformed escape: the parser refuses the text anyway
        return token.decode()[1:-1]


def _segment(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    return f".{key}" if key.isidentifier() else f"[{json.dumps(key)}]"
