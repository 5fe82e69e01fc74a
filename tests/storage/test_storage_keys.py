"""Key encodings: byte order is scan order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strato.storage import from_u64, prefix, prefix_end, split_key, text_key, u64


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_u64_order_is_numeric_order(a: int, b: int) -> None:
    assert (u64(a) < u64(b)) == (a < b)
    assert from_u64(u64(a)) == a


@pytest.mark.parametrize("value", [-1, 2**64])
def test_u64_out_of_range(value: int) -> None:
    with pytest.raises(ValueError, match="u64 key out of range"):
        u64(value)


def test_from_u64_needs_eight_bytes() -> None:
    with pytest.raises(ValueError, match="must be 8 bytes, not 3"):
        from_u64(b"abc")


# Key parts are text: no NUL (the separator) and no lone surrogates (not encodable).
KEY_PART = st.text(st.characters(exclude_characters="\x00", codec="utf-8"), min_size=1)


@given(st.lists(KEY_PART, min_size=1))
def test_text_key_round_trip(parts: list[str]) -> None:
    assert split_key(text_key(*parts)) == parts


def test_text_key_keeps_parts_apart() -> None:
    # ("a", "bc") and ("ab", "c") are different keys; a shorter part sorts first.
    assert text_key("a", "bc") != text_key("ab", "c")
    assert text_key("did:a", "z") < text_key("did:ab", "a")
    assert text_key("did:x", "app.bsky.feed.post", "3k").startswith(prefix("did:x"))
    assert not text_key("did:xy", "a").startswith(prefix("did:x"))


def test_text_key_refuses_nul() -> None:
    with pytest.raises(ValueError, match="NUL"):
        text_key("a\x00b")


@pytest.mark.parametrize(
    ("start", "end"),
    [(b"abc", b"abd"), (b"a\xff", b"b"), (b"\x00", b"\x01"), (b"\xff\xff", None), (b"", None)],
)
def test_prefix_end(start: bytes, end: bytes | None) -> None:
    assert prefix_end(start) == end
