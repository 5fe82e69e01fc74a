"""Streaming a response body produced by blocking code: :func:`thread_stream`.

A repository export reads LMDB through one read transaction, and an LMDB read transaction
belongs to the thread that opened it; Starlette would run each step of a plain iterator on any
worker thread. So the whole producer runs on one thread of its own and hands its chunks to the
event loop through a small bounded queue: memory stays flat whatever the export's size, and a
client that stops reading stops the producer at its next chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Final

#: Chunks waiting between the producer thread and the response at most.
QUEUE_DEPTH: Final = 8


class _End:
    """The producer finished."""


class _Closing:
    """An iterator closed when done with, so a generator's ``finally`` (its transaction)
    runs on this thread even when the reader stopped early."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


async def thread_stream(
    produce: Callable[[], Iterator[bytes]], *, depth: int = QUEUE_DEPTH
) -> AsyncGenerator[bytes, None]:
    """The chunks of ``produce()``, which runs on its own thread from the first read on; its
    exception is raised here."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | _End] = asyncio.Queue(depth)
    stopped = threading.Event()

    def hand_over(item: bytes | BaseException | _End) -> None:
        if not stopped.is_set():
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is reading
                asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def run() -> None:
        try:
            with contextlib.closing(_Closing(produce())) as chunks:
                for chunk in chunks:
                    if stopped.is_set():
                        return
                    hand_over(chunk)
        except BaseException as err:  # handed to the reader, raised there
            hand_over(err)
            return
        hand_over(_End())

    thread = threading.Thread(target=run, name="pds-stream", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()
        while not queue.empty():  # unblock a producer waiting for room
            queue.get_nowait()
