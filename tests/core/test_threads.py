"""Concurrency: decoding and encoding from several threads at once.

The native module keeps shared string caches and a reusable output buffer; other threads (and
finalizers) must never block on them or see another call's data. Results must be identical to
a single-threaded run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from strato import CID
from strato.car import read_car, write_car
from strato.dagcbor import decode, encode


def record(i: int) -> dict[str, Any]:
    return {
        "$type": "app.bsky.feed.post",
        "text": f"post {i} ünïcode" * (i % 7),
        "langs": ["en", "ja"][: i % 3],
        "n": i,
        "ref": CID.compute(str(i).encode(), "raw"),
        "raw": bytes([i % 256]) * (i % 50),
        f"k{i % 97}": None,
    }


RECORDS = [record(i) for i in range(2000)]
ENCODED = [encode(r) for r in RECORDS]


def round_trip(offset: int) -> bool:
    for step in range(len(RECORDS)):
        i = (offset + step) % len(RECORDS)
        if encode(RECORDS[i]) != ENCODED[i] or decode(ENCODED[i]) != RECORDS[i]:
            return False
    return True


def test_concurrent_encode_decode_match_single_threaded() -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(round_trip, range(0, 2000, 250)))
    assert results == [True] * 8


def test_concurrent_read_car() -> None:
    blocks = [(CID.compute(data), data) for data in ENCODED]
    car = write_car([blocks[0][0]], blocks)
    expected = dict(blocks)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: read_car(car), range(8)))
    assert all(roots == [blocks[0][0]] and got == expected for roots, got in results)
