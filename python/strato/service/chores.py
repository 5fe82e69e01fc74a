"""Background chores of a server's lifespan, shared by the services.

:func:`every` runs a blocking chore (pruning a log, collecting garbage) in a worker thread at a
fixed interval, logging a failure and going on; :func:`cancel_all` stops a lifespan's tasks and
waits until each has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable


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
