"""Who is subscribed to the relay's ``subscribeRepos``, in every process that serves it:
:class:`Consumer` rows from :data:`ConsumerSource` callables, gathered by :class:`Consumers`.

The main process's source is :func:`local_consumers` (its broadcaster's subscriptions). Fan-out
worker processes register theirs in a table every process can read; the code that starts them
adds a source over it (:meth:`Consumers.add_source` with :func:`worker_consumers` over the
table's listing, whose rows are :class:`WorkerRow`), so the admin API lists every consumer
wherever it is served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from strato.firehose import Broadcaster


@dataclass(frozen=True, slots=True)
class Consumer:
    """One live subscriber: ``source`` names the process serving it (``main`` or
    ``worker <pid>``), ``connected_at`` is unix time, ``cursor`` the last seq sent to it (for a
    worker's consumer, the cursor it asked for; None: none), ``events_sent`` the frames sent
    (None where the process does not count them)."""

    id: int
    remote_addr: str
    user_agent: str
    connected_at: float
    events_sent: int | None
    cursor: int | None
    source: str


ConsumerSource = Callable[[], Iterable[Consumer]]


def local_consumers(broadcaster: Broadcaster, source: str = "main") -> ConsumerSource:
    """The subscriptions of ``broadcaster`` (this process's subscribers)."""

    def read() -> list[Consumer]:
        return [
            Consumer(
                id=subscription.peer.id,
                remote_addr=subscription.peer.remote,
                user_agent=subscription.peer.user_agent,
                connected_at=subscription.peer.connected_at,
                events_sent=subscription.sent,
                cursor=subscription.last if subscription.sent else None,
                source=source,
            )
            for subscription in broadcaster.subscriptions()
        ]

    return read


class WorkerRow(Protocol):
    """A row of the fan-out workers' consumer table: the serving process and its serial for
    the connection, the remote address, the cursor asked for, unix connect time, User-Agent."""

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


def worker_consumers(rows: Callable[[], Iterable[WorkerRow]]) -> ConsumerSource:
    """The consumers of the fan-out workers, from ``rows`` (the table's listing)."""

    def read() -> list[Consumer]:
        return [
            Consumer(
                id=row.serial,
                remote_addr=row.remote,
                user_agent=row.user_agent,
                connected_at=row.connected_at,
                events_sent=None,
                cursor=row.cursor,
                source=f"worker {row.pid}",
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
