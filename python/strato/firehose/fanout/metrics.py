"""The Prometheus metrics of the ``subscribeRepos`` fan-out.

In a service's own process they are registered in its app's registry. Fan-out worker processes
are separate, so their metrics use prometheus_client's multiprocess mode:
:func:`~strato.firehose.fanout.workers.run_workers` starts each worker with
``PROMETHEUS_MULTIPROC_DIR`` set, the values live in files there, and the main process exposes
them through :func:`add_worker_collector`; gauges sum (or take the max) over live processes.

- ``strato_firehose_subscribers``: connected consumers (replaying or live);
- ``strato_firehose_frames_sent_total``: frames written whole to consumers (deliveries);
- ``strato_firehose_bytes_sent_total``: bytes written to consumers;
- ``strato_firehose_consumers_cut_total{reason}``: connections ended by the server
  (``ConsumerTooSlow``, ``FutureCursor``, ``InvalidRequest``, ``ConnectionLimit``);
- ``strato_firehose_consumers_lagging_total``: live subscribers that fell behind and were
  demoted to replay from the log (one may be demoted many times);
- ``strato_firehose_queued_bytes``: bytes the writers hold queued for subscribers;
- ``strato_firehose_head_seq``: the last seq handed to live consumers (max over processes).

A worker also counts the connections it accepts itself (:class:`WorkerConnectionMetrics`; in a
service's own process its HTTP server's ``strato_connections_*`` count them):

- ``strato_firehose_connections_open``: connections the workers hold (reading a request head,
  or subscribers), the main process's ``strato_connections_open`` counting those handed to it;
- ``strato_firehose_connections_refused_total{reason}``: connections refused over a cap
  (``max_connections``, ``max_connections_per_ip``) or closed without a request head in time
  (``header_timeout``); see :mod:`strato.service.limits`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.multiprocess import MultiProcessCollector


class FanoutMetrics:
    """One process's fan-out metrics, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.subscribers = Gauge(
            "strato_firehose_subscribers",
            "Connected subscribeRepos consumers",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.frames_sent = Counter(
            "strato_firehose_frames_sent", "Frames written whole to consumers", registry=registry
        )
        self.bytes_sent = Counter(
            "strato_firehose_bytes_sent", "Bytes written to consumers", registry=registry
        )
        self.consumers_cut = Counter(
            "strato_firehose_consumers_cut",
            "Consumer connections ended by the server, by reason",
            ("reason",),
            registry=registry,
        )
        self.consumers_lagging = Counter(
            "strato_firehose_consumers_lagging",
            "Live subscribers that fell behind and were demoted to replay from the log",
            registry=registry,
        )
        self.queued_bytes = Gauge(
            "strato_firehose_queued_bytes",
            "Bytes the fan-out writers hold queued for subscribers",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.head = Gauge(
            "strato_firehose_head_seq",
            "The last seq handed to live consumers",
            registry=registry,
            multiprocess_mode="livemax",
        )

    def consumer_cut(self, reason: str) -> None:
        self.consumers_cut.labels(reason).inc()


class WorkerConnectionMetrics:
    """The connections a worker accepts itself (a :class:`~strato.service.limits.ConnectionGuard`'s
    metrics), registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections_open = Gauge(
            "strato_firehose_connections_open",
            "Connections the fan-out workers hold (request heads being read, subscribers)",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.connections_refused = Counter(
            "strato_firehose_connections_refused",
            "Connections refused by the fan-out workers (over a cap, or no request head in "
            "time), by reason",
            ("reason",),
            registry=registry,
        )

    def connections_held(self, count: int) -> None:
        """The number of connections this process holds (for its connection guard)."""
        self.connections_open.set(count)

    def connection_refused(self, reason: str) -> None:
        """One connection refused, or closed before its request, for ``reason``."""
        self.connections_refused.labels(reason).inc()


def add_worker_collector(registry: CollectorRegistry, directory: str) -> None:
    """Expose in ``registry`` the metrics the workers write to ``directory``."""
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
