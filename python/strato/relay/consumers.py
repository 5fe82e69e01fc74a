"""Who is subscribed to the relay's ``subscribeRepos``, in every process that serves it:
:class:`Consumer` rows from :data:`ConsumerSource` callables, gathered by :class:`Consumers`.

The main process's source is :func:`local_consumers` (its broadcaster's subscriptions). Fan-out
worker processes keep theirs elsewhere (a table of the shared store); the code that starts them
adds a source reading it (:meth:`Consumers.add_source`), so the admin API lists every consumer
wherever it is served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from strato.firehose import Broadcaster


@dataclass(frozen=True, slots=True)
class Consumer:
    """One live subscriber: ``source`` names the process serving it (``main`` or a worker),
    ``connected_at`` is unix time, ``cursor`` the last seq sent to it (None: none yet)."""

    id: int
    remote_addr: str
    user_agent: str
    connected_at: float
    events_sent: int
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


class Consumers:
    """Every source of consumers; :meth:`all` lists them, by source then id."""

    def __init__(self, *sources: ConsumerSource) -> None:
        self._sources = list(sources)

    def add_source(self, source: ConsumerSource) -> None:
        self._sources.append(source)

    def all(self) -> list[Consumer]:
        found = [consumer for source in self._sources for consumer in source()]
        return sorted(
            found, key=lambda consumer: (consumer.source != "main", consumer.source, consumer.id)
        )
