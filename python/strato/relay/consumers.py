"""Who is subscribed to the relay's ``subscribeRepos``, in every process that serves it:
:class:`Consumer` rows from :data:`ConsumerSource` callables, gathered by :class:`Consumers`.

The fan-out registers its consumers in a table every process can read (in the main process, or
in each worker process); while it runs, the relay's service adds a source over that table's
listing (:meth:`Consumers.add_source` with :func:`fanout_consumers`, whose rows are
:class:`FanoutRow`), so the admin API lists every consumer wherever it is served.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Consumer:
    """One live subscriber: ``source`` names the process serving it (``main`` or
    ``worker <pid>``), ``connected_at`` is unix time, ``cursor`` the cursor it asked for (None:
    live only), ``events_sent`` the frames sent (a worker's consumer: as the worker last
    published them, every second or so; None before its first publication)."""

    id: int
    remote_addr: str
    user_agent: str
    connected_at: float
    events_sent: int | None
    cursor: int | None
    source: str


ConsumerSource = Callable[[], Iterable[Consumer]]


class FanoutRow(Protocol):
    """A row of the fan-out's consumer table: the serving process and its serial for the
    connection, the remote address, the cursor asked for, unix connect time, User-Agent, and
    the frames sent (None where not yet counted)."""

    @property
    def pid(self) -> int: ...

    @property
    def serial(self) -> int: ...

    @property
    def remote(self) -> str: ...

    @property
    def cursor(self) -> int | None: ...

    @property
    def connected_at(self) -> float: ...

    @property
    def user_agent(self) -> str: ...

    @property
    def events_sent(self) -> int | None: ...


def fanout_consumers(rows: Callable[[], Iterable[FanoutRow]]) -> ConsumerSource:
    """The consumers of the fan-out, from ``rows`` (the table's listing); those of this
    process come from ``main``, the others from ``worker <pid>``."""

    def read() -> list[Consumer]:
        pid = os.getpid()
        return [
            Consumer(
                id=row.serial,
                remote_addr=row.remote,
                user_agent=row.user_agent,
                connected_at=row.connected_at,
                events_sent=row.events_sent,
                cursor=row.cursor,
                source="main" if row.pid == pid else f"worker {row.pid}",
            )
            for row in rows()
        ]

    return read


class Consumers:
    """Every source of consumers; :meth:`all` lists them, by source then id."""

    def __init__(self, *sources: ConsumerSource) -> None:
        self._sources = list(sources)

    @property
    def sources(self) -> tuple[ConsumerSource, ...]:
        return tuple(self._sources)

    def add_source(self, source: ConsumerSource) -> None:
        self._sources.append(source)

    def remove_source(self, source: ConsumerSource) -> None:
        self._sources.remove(source)

    def all(self) -> list[Consumer]:
        found = [consumer for source in self._sources for consumer in source()]
        return sorted(
            found, key=lambda consumer: (consumer.source != "main", consumer.source, consumer.id)
        )
