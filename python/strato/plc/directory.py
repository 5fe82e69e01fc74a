"""The directory's operations, as the HTTP API (:mod:`strato.plc.routes`) calls them:
:class:`Directory`.

A submitted operation passes the admission limits (:func:`strato.plc.limits.check_admission`),
then, under its DID's lock, the log rules and the append in one LMDB write transaction
(:meth:`strato.plc.store.PlcStore.submit`), in a worker thread so the event loop never waits
on a disk flush. Failures are domain errors, turned into HTTP answers in one place
(:func:`strato.plc.app.create_app`): :class:`~strato.errors.PlcValidationError` (an operation
refused), :class:`DidNotRegisteredError`, :class:`DidTombstonedError`.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, Final

from prometheus_client import Counter, Gauge

from strato.errors import DidNotFoundError, PlcValidationError
from strato.identity.plc.log import DidData, DidLog, LogEntry
from strato.identity.plc.operations import is_plc_did
from strato.plc.context import Clock, PlcContext, system_clock
from strato.plc.limits import check_admission
from strato.plc.settings import PlcSettings
from strato.service.metrics import ServerMetrics

#: The most operations one ``/export`` page returns (as the reference directory).
MAX_EXPORT_COUNT: Final = 1000


class DidNotRegisteredError(DidNotFoundError):
    """The directory has no operation for the DID."""

    def __init__(self, did: str) -> None:
        super().__init__(f"DID not registered: {did}", did)


class DidTombstonedError(DidNotFoundError):
    """The DID's latest operation is a tombstone: it has no current data."""

    def __init__(self, did: str) -> None:
        super().__init__(f"DID not available: {did}", did)


class Directory:
    """The directory over its :class:`PlcContext`, which :meth:`open` opens (the app's
    lifespan) and :meth:`aclose` closes; its metrics exist from the start."""

    def __init__(self, settings: PlcSettings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = ServerMetrics("plc")
        self._context: PlcContext | None = None
        self.operations = Counter(
            "strato_plc_operations",
            "Operations submitted, by result (accepted, refused)",
            ("result",),
            registry=self.metrics.registry,
        )
        Gauge(
            "strato_plc_operations_stored",
            "Operations in the directory's log (nullified ones included)",
            registry=self.metrics.registry,
        ).set_function(self._stored)

    def _stored(self) -> float:
        context = self._context
        return float("nan") if context is None else float(context.store.operation_count())

    @property
    def context(self) -> PlcContext:
        if self._context is None:
            raise RuntimeError("the directory's lifespan has not started")
        return self._context

    def open(self) -> None:
        self._context = PlcContext.open(self.settings, self.metrics, self.clock)

    async def aclose(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            await context.aclose()

    async def healthy(self) -> bool:
        """Whether the storage answers."""
        try:
            await asyncio.to_thread(self.context.store.healthy)
        except Exception:  # any storage failure means unhealthy
            return False
        return True

    async def submit(self, did: str, value: object) -> None:
        """Append the operation ``value`` to the log of ``did``, or PlcValidationError."""
        context = self.context
        try:
            op = check_admission(value)
            if not is_plc_did(did):
                raise PlcValidationError(f"not a did:plc: {did}")
            async with context.locks.hold(did):
                await asyncio.to_thread(
                    partial(
                        context.store.submit,
                        did,
                        op,
                        context.clock(),
                        rate_limits=self.settings.rate_limits,
                    )
                )
        except PlcValidationError:
            self.operations.labels("refused").inc()
            raise
        self.operations.labels("accepted").inc()

    async def load(self, did: str) -> DidLog:
        """The log of ``did``, or DidNotRegisteredError."""
        store = self.context.store
        log = await asyncio.to_thread(store.load, did) if is_plc_did(did) else DidLog(did)
        if not log.entries:
            raise DidNotRegisteredError(did)
        return log

    async def data(self, did: str) -> DidData:
        """The current state of ``did``: DidNotRegisteredError, or DidTombstonedError."""
        current = (await self.load(did)).data()
        if current is None:
            raise DidTombstonedError(did)
        return current

    async def audit_log(self, did: str) -> list[dict[str, Any]]:
        """Every operation of ``did`` with its CID, ``nullified`` and ``createdAt``."""
        store = self.context.store
        rows = await asyncio.to_thread(store.audit_log, did) if is_plc_did(did) else []
        if not rows:
            raise DidNotRegisteredError(did)
        return rows

    async def last_entry(self, did: str) -> LogEntry:
        """The latest operation of ``did`` (a tombstone included)."""
        log = await self.load(did)
        head = log.head_entry()
        if head is None:  # every operation nullified: impossible, the genesis never is
            raise DidNotRegisteredError(did)
        return head

    async def export_by_seq(self, after: int, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` operations after the sequence number ``after``."""
        return await asyncio.to_thread(self.context.store.export_by_seq, after, count)

    async def export_by_time(self, since: int | None, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` operations received after ``since`` (µs; None: from the first)."""
        return await asyncio.to_thread(self.context.store.export_by_time, since, count)
