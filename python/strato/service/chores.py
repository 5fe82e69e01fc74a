"""Background chores of a server's lifespan, shared by the services.

:func:`every` runs a blocking chore (pruning a log, collecting garbage) in a worker thread at a
fixed interval, logging a failure and going on; :class:`Chores` holds the tasks a lifespan
started (:meth:`Chores.start`, :meth:`Chores.every`) and :meth:`Chores.stop` cancels them and
waits until each has ended (:func:`cancel_all`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any


async def every(interval: float, chore: Callable[[], object], logger: logging.Logger) -> None:
    """Run ``chore`` in a thread every ``interval`` seconds, until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(chore)
        except Exception:
            logger.exception("housekeeping %s failed", getattr(chore, "__name__", chore))


async def cancel_all(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for each to end."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Chores:
    """The background tasks of one service's lifespan; a failing periodic chore is logged to
    ``logger``."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as the task ``name`` until it ends or :meth:`stop`."""
        self._tasks.append(asyncio.create_task(work, name=name))

    def every(self, name: str, interval: float, chore: Callable[[], object]) -> None:
        """Run the blocking ``chore`` in a thread every ``interval`` seconds until :meth:`stop`."""
        self.start(name, every(interval, chore, self.logger))

    async def stop(self) -> None:
        """Cancel every task started and wait for each to end."""
        tasks, self._tasks = self._tasks, []
        await cancel_all(tasks)
