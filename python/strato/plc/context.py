"""Everything one PLC directory process holds while it runs: :class:`PlcContext`, the store
(:class:`strato.plc.store.PlcStore` on a private data directory), the per-DID write locks
(:class:`DidLocks`) and the clock operations are received by, on the shared
:class:`strato.service.context.ServiceContext`. Nothing here knows about HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import ClassVar

from strato.plc.settings import PlcSettings
from strato.plc.store import PlcStore
from strato.service.context import ServiceContext, private_data_dir
from strato.service.metrics import ServerMetrics

#: The time in microseconds since the epoch.
Clock = Callable[[], int]


def system_clock() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


class DidLocks:
    """One asyncio lock per DID with a write in flight, dropped when nobody holds or waits."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, did: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(did, (asyncio.Lock(), 0))
        self._locks[did] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[did]
            if users == 1:
                del self._locks[did]
            else:
                self._locks[did] = (lock, users - 1)


@dataclass(kw_only=True)
class PlcContext(ServiceContext[PlcStore]):
    """The open store of one directory. Build it with :meth:`open`; :meth:`aclose` it."""

    service: ClassVar[str] = "plc"

    settings: PlcSettings
    clock: Clock = system_clock
    locks: DidLocks = field(default_factory=DidLocks)

    @classmethod
    def open(
        cls, settings: PlcSettings, metrics: ServerMetrics, clock: Clock = system_clock
    ) -> PlcContext:
        """Open (or create) the directory's data in ``settings.data_dir``."""
        store = PlcStore.open(private_data_dir(settings.data_dir), sync=settings.sync)
        return cls(settings=settings, store=store, metrics=metrics, clock=clock)
