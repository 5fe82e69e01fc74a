"""Key encodings for LMDB tables.

LMDB orders keys bytewise, so every key strato writes is built here in a form whose byte order
is the order we want to scan in:

- integers (sequence numbers, timestamps) as 8-byte big-endian, so ``u64(9) < u64(10)``;
- composite text keys (``did``, ``collection``, ``rkey``) joined with a NUL byte, which no atproto
  identifier may contain, so all keys under one prefix are contiguous and sort by their parts.
"""

from __future__ import annotations

U64_MAX = (1 << 64) - 1
SEPARATOR = b"\x00"


def u64(value: int) -> bytes:
    """``value`` (0 <= value < 2**64) as an 8-byte big-endian key."""
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"u64 key out of range: {value}")
    return value.to_bytes(8, "big")


def from_u64(key: bytes) -> int:
    """The integer of an 8-byte big-endian key."""
    if len(key) != 8:
        raise ValueError(f"u64 key must be 8 bytes, not {len(key)}")
    return int.from_bytes(key, "big")


def text_key(*parts: str) -> bytes:
    """Text parts joined with NUL: ``text_key("did:plc:x", "app.bsky.feed.post")``."""
    encoded = [part.encode() for part in parts]
    if any(SEPARATOR in part for part in encoded):
        raise ValueError("key parts may not contain a NUL character")
    return SEPARATOR.join(encoded)


def split_key(key: bytes) -> list[str]:
    """The text parts of a key made by :func:`text_key`."""
    return [part.decode() for part in key.split(SEPARATOR)]


def prefix(*parts: str) -> bytes:
    """The key prefix that every :func:`text_key` starting with ``parts`` (and at least one more
    part) begins with: ``text_key(*parts) + NUL``."""
    return text_key(*parts) + SEPARATOR


def prefix_end(start: bytes) -> bytes | None:
    """The smallest key greater than every key that begins with ``start`` (the exclusive end of
    a prefix scan), or None when there is none (``start`` is empty or all 0xff)."""
    stripped = start.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])
