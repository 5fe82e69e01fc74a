"""The streamed bodies of the sync reads (:func:`strato.pds.streaming.thread_stream`): every
chunk in order from one producer thread, the producer's error raised to the reader, and a
reader that stops early closes the producer on its own thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from strato.pds.streaming import thread_stream


class Producer:
    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.threads: set[int] = set()
        self.closed = threading.Event()

    def __call__(self) -> Iterator[bytes]:
        try:
            for i in range(self.count):
                self.threads.add(threading.get_ident())
                if i == self.fail_at:
                    raise ValueError("broken export")
                yield b"%d," % i
        finally:
            self.threads.add(threading.get_ident())
            self.closed.set()


async def _read_all(producer: Producer) -> list[bytes]:
    return [chunk async for chunk in thread_stream(producer, depth=2)]


def test_every_chunk_in_order_from_one_thread() -> None:
    producer = Producer(100)
    chunks = asyncio.run(_read_all(producer))
    assert b"".join(chunks) == b"".join(b"%d," % i for i in range(100))
    assert len(producer.threads) == 1
    assert threading.get_ident() not in producer.threads
    assert producer.closed.is_set()


def test_the_producers_error_reaches_the_reader() -> None:
    producer = Producer(10, fail_at=3)
    with pytest.raises(ValueError, match="broken export"):
        asyncio.run(_read_all(producer))


async def _read_two(producer: Producer) -> list[bytes]:
    stream = thread_stream(producer, depth=1)
    chunks = [await anext(stream), await anext(stream)]
    await stream.aclose()
    return chunks


def test_a_reader_that_stops_early_closes_the_producer() -> None:
    producer = Producer(1_000_000)
    assert asyncio.run(_read_two(producer)) == [b"0,", b"1,"]
    assert producer.closed.wait(20)
    assert len(producer.threads) == 1
