"""Tests for TIDs (``strato._core.tid_next``, ``tid_parse``, ``tid_from_parts``).

- Generation: strictly increasing (as strings) over many calls, above a given ``after`` even when
  it is in the future, one clock id per process, close to the wall clock in a fresh process.
- Parsing: every line of the interop ``tid_syntax_valid.txt`` parses and every line of
  ``tid_syntax_invalid.txt`` is refused with one of the three reasons; each problem gets its own
  reason; values are checked against a base32-sortable decoder written here.
- Building from parts: round trips, and range errors.

Calls that move this process's TID clock far ahead (``after`` in the future, the end of the
53-bit range) run in a fresh interpreter, so they cannot disturb other tests.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import shared_path, skipped_param
from hypothesis import given
from hypothesis import strategies as st
from strato._core import tid_from_parts, tid_next, tid_parse
from strato.errors import IdentifierError

ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
MAX_MICROS = 2**53 - 1
MAX_CLOCK_ID = 1023
LENGTH = "TID must be 13 characters"
CHARACTER = "TID character outside the base32-sortable alphabet"
HIGH_BIT = "TID first character must be one of 234567abcdefghij"
SYNTAX = shared_path("interop", "syntax")


def oracle_value(text: str) -> int:
    """The integer a TID string spells, in the sortable base32 alphabet (5 bits a character)."""
    value = 0
    for char in text:
        value = value * 32 + ALPHABET.index(char)
    return value


def oracle_text(micros: int, clock_id: int) -> str:
    value = (micros << 10) | clock_id
    return "".join(ALPHABET[(value >> (5 * (12 - i))) & 31] for i in range(13))


def fixture_lines(name: str) -> list[Any]:
    """One parameter per non-blank, non-comment line of a syntax fixture file."""
    path = SYNTAX / name
    if not path.is_file():
        return skipped_param(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    return [
        pytest.param(line, id=line) for line in lines if line.strip() and not line.startswith("#")
    ]


def run_fresh(code: str) -> Any:
    """Runs ``code`` (which prints one JSON value) in a new interpreter; returns the value."""
    prelude = "import json\nfrom strato._core import tid_from_parts, tid_next, tid_parse\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def parse_error(text: str) -> IdentifierError:
    with pytest.raises(IdentifierError) as info:
        tid_parse(text)
    return info.value


# --- generation --------------------------------------------------------------------------------


def test_next_strictly_increasing() -> None:
    tids = [tid_next() for _ in range(10_000)]
    assert all(len(tid) == 13 for tid in tids)
    assert all(a < b for a, b in itertools.pairwise(tids))
    values = [oracle_value(tid) for tid in tids]
    assert all(a < b for a, b in itertools.pairwise(values))


def test_next_parses_and_has_one_clock_id() -> None:
    before = time.time_ns() // 1000
    tids = [tid_next() for _ in range(100)]
    parsed = [tid_parse(tid) for tid in tids]
    clock_ids = {clock_id for _, clock_id in parsed}
    assert len(clock_ids) == 1
    assert 0 <= clock_ids.pop() <= MAX_CLOCK_ID
    # Never below the wall clock (the clock may be ahead if a caller passed a later `after`).
    assert all(micros >= before for micros, _ in parsed)
    assert all(tid_from_parts(*p) == tid for p, tid in zip(parsed, tids, strict=True))


def test_next_after_in_the_past_is_now() -> None:
    old = tid_from_parts(1_000_000, 5)
    tid = tid_next(after=old)
    assert tid > old
    assert tid_parse(tid)[0] >= time.time_ns() // 1000 - 60_000_000


def test_next_first_tid_is_the_wall_clock() -> None:
    micros, now, clock_id = run_fresh(
        "import time\n"
        "micros, clock_id = tid_parse(tid_next())\n"
        "print(json.dumps([micros, time.time_ns() // 1000, clock_id]))\n"
    )
    assert now - 5_000_000 <= micros <= now
    assert 0 <= clock_id <= MAX_CLOCK_ID


def test_next_after_in_the_future() -> None:
    # A rev up to five minutes ahead (clock skew) moves the process clock: later TIDs stay
    # above it. One further ahead is honoured once but leaves the clock alone, so a single
    # far-future rev cannot push every later rev into the future.
    result = run_fresh(
        "import time\n"
        "near = tid_from_parts(time.time_ns() // 1000 + 60_000_000, 1023)\n"
        "first = tid_next(after=near)\n"
        "rest = [tid_next() for _ in range(100)]\n"
        "far = tid_from_parts(time.time_ns() // 1000 + 3_600_000_000, 1023)\n"
        "beyond = tid_next(after=far)\n"
        "later = tid_next()\n"
        "print(json.dumps([near, first, rest, far, beyond, later]))\n"
    )
    near, first, rest, far, beyond, later = result
    assert first > near
    assert tid_parse(first)[0] > tid_parse(near)[0]
    assert all(a < b for a, b in itertools.pairwise([first, *rest]))
    assert beyond > far
    assert rest[-1] < later < far


def test_next_after_another_clock_same_micro() -> None:
    # `after` from another process (a higher clock id) at the same microsecond as we would use.
    result = run_fresh(
        "import time\n"
        "after = tid_from_parts(time.time_ns() // 1000 + 2_000_000, 1023)\n"
        "print(json.dumps([after, tid_next(after=after)]))\n"
    )
    after, tid = result
    assert tid > after


def test_next_rejects_bad_after() -> None:
    with pytest.raises(IdentifierError) as info:
        tid_next(after="not-a-tid")
    assert info.value.reason == LENGTH


@pytest.mark.parametrize(
    "after",
    ["bzzzzzzzzzzzz", "jzzzzzzzzzzzz", "bzzzzzzzzzzzy"],
    ids=["max-53-bit", "max-syntax", "max-micros-low-clock"],
)
def test_next_at_the_end_of_time(after: str) -> None:
    # Nothing above `after` fits: refusing is fine, returning a TID not above it is not, and
    # neither is poisoning the process clock so that later TIDs stop increasing.
    result = run_fresh(
        "out = []\n"
        "for after in [" + repr(after) + ", None, None]:\n"
        "    try:\n"
        "        out.append(tid_next(after=after))\n"
        "    except ValueError as err:\n"
        "        out.append('error: ' + type(err).__name__)\n"
        "print(json.dumps(out))\n"
    )
    generated = [tid for tid in result if not tid.startswith("error: ")]
    assert all(len(tid) == 13 for tid in generated)
    if not result[0].startswith("error: "):
        assert result[0] > after
    assert all(a < b for a, b in itertools.pairwise(generated)), result


# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", fixture_lines("tid_syntax_valid.txt"))
def test_interop_valid(text: str) -> None:
    micros, clock_id = tid_parse(text)
    assert (micros << 10) | clock_id == oracle_value(text)
    assert 0 <= clock_id <= MAX_CLOCK_ID
    assert text[0] <= "b"  # every fixture fits the 53-bit timestamp, so it round-trips
    assert tid_from_parts(micros, clock_id) == text


@pytest.mark.parametrize("text", fixture_lines("tid_syntax_invalid.txt"))
def test_interop_invalid(text: str) -> None:
    err = parse_error(text)
    assert err.reason in (LENGTH, CHARACTER, HIGH_BIT)
    assert err.value == text
    assert text in str(err)
    with pytest.raises(IdentifierError):
        tid_next(after=text)


def test_interop_fixtures_present() -> None:
    for name, minimum in (("tid_syntax_valid.txt", 4), ("tid_syntax_invalid.txt", 8)):
        params = fixture_lines(name)
        if params[0].id == "missing-fixtures":
            pytest.skip(f"shared fixtures not found: {SYNTAX / name} is missing")
        assert len(params) >= minimum


def test_known_values() -> None:
    assert tid_parse("2222222222222") == (0, 0)
    assert tid_parse("2222222222223") == (0, 1)
    assert tid_parse("22222222222zz") == (0, MAX_CLOCK_ID)
    assert tid_parse("2222222222322") == (1, 0)
    assert tid_parse("bzzzzzzzzzzzz") == (MAX_MICROS, MAX_CLOCK_ID)
    micros, clock_id = tid_parse("3jzfcijpj2z2a")
    assert (micros << 10) | clock_id == oracle_value("3jzfcijpj2z2a")
    # 2022-ish, the era of this fixture.
    assert 1_600_000_000_000_000 < micros < 1_800_000_000_000_000


@pytest.mark.parametrize("first", "cdefghij")
def test_first_characters_beyond_53_bits(first: str) -> None:
    # The syntax allows a first character up to `j` (the 64th bit clear); their timestamps do
    # not fit 53 bits, so they parse but cannot be rebuilt from parts.
    text = first + "222222222222"
    micros, clock_id = tid_parse(text)
    assert (micros << 10) | clock_id == oracle_value(text)
    assert micros > MAX_MICROS
    with pytest.raises(ValueError, match="53 bits"):
        tid_from_parts(micros, clock_id)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", LENGTH),
        ("222", LENGTH),
        ("3jzfcijpj2z2", LENGTH),
        ("3jzfcijpj2z2aa", LENGTH),
        ("3jzf-cij-pj2z-2a", LENGTH),
        ("3jzfcijpj2z21", CHARACTER),
        ("0000000000000", CHARACTER),
        ("3JZFCIJPJ2Z2A", CHARACTER),
        ("3jzfcijpj2z2A", CHARACTER),
        ("3jzfcijpj2z 2", CHARACTER),
        ("3jzfcijpj2z-2", CHARACTER),
        ("3jzfcijpj2z8a", CHARACTER),
        ("3jzfcijpj2zé", CHARACTER),  # 12 characters, 13 bytes
        ("3jzfcijpj2z2é", CHARACTER),  # 13 characters, one of them not in the alphabet
        ("kjzfcijpj2z2a", HIGH_BIT),
        ("zzzzzzzzzzzzz", HIGH_BIT),
        ("k222222222222", HIGH_BIT),
    ],
    ids=repr,
)
def test_reason_per_problem(text: str, reason: str) -> None:
    err = parse_error(text)
    assert err.reason == reason
    assert err.value == text


def test_parse_rejects_non_strings() -> None:
    for value in (b"3jzfcijpj2z2a", 123, None):
        with pytest.raises(TypeError):
            tid_parse(value)  # type: ignore[arg-type]


# --- building from parts -----------------------------------------------------------------------


@given(
    st.integers(min_value=0, max_value=MAX_MICROS),
    st.integers(min_value=0, max_value=MAX_CLOCK_ID),
)
def test_from_parts_round_trip(micros: int, clock_id: int) -> None:
    text = tid_from_parts(micros, clock_id)
    assert text == oracle_text(micros, clock_id)
    assert tid_parse(text) == (micros, clock_id)
    assert text[0] <= "b"


@given(st.text(alphabet=ALPHABET, min_size=12, max_size=12), st.sampled_from("234567ab"))
def test_parse_round_trip(rest: str, first: str) -> None:
    text = first + rest
    assert tid_from_parts(*tid_parse(text)) == text


def test_from_parts_order_matches_string_order() -> None:
    pairs = [(0, 0), (0, 1), (1, 0), (2**40, 7), (2**40 + 1, 0), (MAX_MICROS, MAX_CLOCK_ID)]
    texts = [tid_from_parts(*pair) for pair in pairs]
    assert texts == sorted(texts)
    assert texts[-1] == "bzzzzzzzzzzzz"
    assert texts[0] == "2222222222222"


@pytest.mark.parametrize(
    ("micros", "clock_id"),
    [(MAX_MICROS + 1, 0), (0, MAX_CLOCK_ID + 1), (2**63, 0), (0, 2**15)],
)
def test_from_parts_out_of_range(micros: int, clock_id: int) -> None:
    with pytest.raises(ValueError, match="53 bits and clock id 10 bits"):
        tid_from_parts(micros, clock_id)


@pytest.mark.parametrize(
    ("micros", "clock_id"),
    [(-1, 0), (0, -1), (2**64, 0), (0, 2**16)],
)
def test_from_parts_outside_machine_integers(micros: int, clock_id: int) -> None:
    # Negative or huge numbers are out of range too: the same ValueError, not OverflowError
    # (which is not a ValueError, so `except ValueError` callers would miss it).
    with pytest.raises(ValueError):  # noqa: PT011 - the type is the contract
        tid_from_parts(micros, clock_id)
