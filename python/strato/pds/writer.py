"""Group commit: the PDS's one writer of repositories and the event log.

Every change that makes a commit or an event goes through :meth:`Writer.submit` as a function
of a write transaction. One thread runs them: it takes the first waiting piece of work, then
every other one queued by then (up to ``max_batch``), runs each in its own nested transaction
(:meth:`strato.storage.WriteTxn.nested`, so a refused request leaves the others' writes
whole), and commits them all at once, flushed to disk. Only then are the requests answered and
the firehose told (``after_commit``: the log's :meth:`~strato.firehose.EventLog.notify`,
which wakes the fan-out): an acknowledged write survives ``kill -9`` right after, and a
subscriber never sees an event that could still be lost.

Under load many requests share one fsync, which is where the throughput comes from; alone, a
request waits for nothing but its own transaction.

A transaction that outgrows the storage map is run again whole after the map grows (the work
functions must only touch the store). Any other exception is that request's own answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from strato.errors import StorageFullError
from strato.pds.metrics import WriterMetrics
from strato.storage import Store, WriteTxn

logger = logging.getLogger("strato.pds.writer")

T = TypeVar("T")

#: Most pieces of work in one transaction.
DEFAULT_MAX_BATCH: Final = 256
_FULL_RETRIES: Final = 8


@dataclass(slots=True)
class _Work(Generic[T]):
    run: Callable[[WriteTxn], T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop


class WriterClosedError(RuntimeError):
    """The writer has stopped; no more work is taken."""


class Writer:
    """Runs write work in group-committed transactions on its own thread. :meth:`start` it
    before use and :meth:`stop` it at shutdown (work already queued still runs)."""

    def __init__(
        self,
        store: Store,
        *,
        after_commit: Callable[[], None] = lambda: None,
        metrics: WriterMetrics | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self.store = store
        self.after_commit = after_commit
        self.metrics = metrics
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Work[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        if self._thread is not None:
            return
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="pds-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Run what is queued, then stop the thread."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    async def submit(self, run: Callable[[WriteTxn], T]) -> T:
        """Run ``run(txn)`` in the next group transaction and return its result once that
        transaction is durable; its exception if it raised (its writes then undone)."""
        if self._closed or self._thread is None:
            raise WriterClosedError("the writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Work(run, future, loop))
        return await future

    # -- the writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Work[Any]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        for attempt in range(_FULL_RETRIES):
            outcomes = []
            try:
                with self.store.write() as txn:
                    for work in batch:
                        outcomes.append(_run_nested(txn, work.run))
                break
            except StorageFullError:
                if attempt == _FULL_RETRIES - 1:
                    outcomes = [(False, StorageFullError("the store cannot grow"))] * len(batch)
                continue
            except Exception as err:  # the commit itself failed: nothing was written
                logger.exception("group commit of %d requests failed", len(batch))
                outcomes = [(False, err)] * len(batch)
                break
        committed = any(ok for ok, _ in outcomes)
        if self.metrics is not None:
            self.metrics.committed(outcomes)
        for work, (ok, value) in zip(batch, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # that request's event loop has closed
                work.loop.call_soon_threadsafe(_settle, work.future, ok, value)
        if committed:
            self.after_commit()


def _run_nested(txn: WriteTxn, run: Callable[[WriteTxn], Any]) -> tuple[bool, Any]:
    try:
        with txn.nested() as child:
            return True, run(child)
    except StorageFullError:
        raise
    except Exception as err:
        return False, err


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the request was cancelled (client gone); its work stands
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


__all__ = ["DEFAULT_MAX_BATCH", "Writer", "WriterClosedError"]
