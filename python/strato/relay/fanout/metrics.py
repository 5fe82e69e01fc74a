"""The Prometheus metrics of a fan-out process.

Fan-out workers are separate processes, so their metrics use prometheus_client's multiprocess
mode: :func:`~strato.relay.fanout.workers.run_workers` starts each worker with
``PROMETHEUS_MULTIPROC_DIR`` set, the values live in files there, and the main process exposes
them through :func:`add_worker_collector`. The subscriber gauge sums over live processes.

- ``strato_relay_fanout_subscribers``: connected consumers (replaying or live);
- ``strato_relay_fanout_frames_sent_total``: frames written whole to consumers (deliveries);
- ``strato_relay_fanout_bytes_sent_total``: bytes written to consumers;
- ``strato_relay_fanout_consumers_cut_total{reason}``: connections ended by the server
  (``ConsumerTooSlow``, ``FutureCursor``, ``InvalidRequest``, ``ConnectionLimit``);
- ``strato_relay_fanout_consumers_lagging_total``: live subscribers that fell behind and were
  demoted to replay from the log (one may be demoted many times);
- ``strato_relay_fanout_queued_bytes``: bytes the writers hold queued for subscribers;
- ``strato_relay_fanout_head_seq``: the last seq handed to live consumers (max over processes);
- ``strato_relay_fanout_connections_open``: connections the fan-out processes hold (reading a
  request head, or subscribers), the main process's ``strato_connections_open`` counting those
  handed to it;
- ``strato_relay_fanout_connections_refused_total{reason}``: connections refused over a cap
  (``max_connections``, ``max_connections_per_ip``) or closed without a request head in time
  (``header_timeout``); see :mod:`strato.serve.limits`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.multiprocess import MultiProcessCollector


class FanoutMetrics:
    """One process's fan-out metrics, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.subscribers = Gauge(
            "strato_relay_fanout_subscribers",
            "Connected subscribeRepos consumers of the fan-out processes",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.frames_sent = Counter(
            "strato_relay_fanout_frames_sent",
            "Frames written whole to consumers",
            registry=registry,
        )
        self.bytes_sent = Counter(
            "strato_relay_fanout_bytes_sent", "Bytes written to consumers", registry=registry
        )
        self.consumers_cut = Counter(
            "strato_relay_fanout_consumers_cut",
            "Consumer connections ended by the server, by reason",
            ("reason",),
            registry=registry,
        )
        self.consumers_lagging = Counter(
            "strato_relay_fanout_consumers_lagging",
            "Live subscribers that fell behind and were demoted to replay from the log",
            registry=registry,
        )
        self.queued_bytes = Gauge(
            "strato_relay_fanout_queued_bytes",
            "Bytes the fan-out writers hold queued for subscribers",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.head = Gauge(
            "strato_relay_fanout_head_seq",
            "The last seq handed to live consumers",
            registry=registry,
            multiprocess_mode="livemax",
        )

        self.connections_open = Gauge(
            "strato_relay_fanout_connections_open",
            "Connections the fan-out processes hold (request heads being read, subscribers)",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.connections_refused = Counter(
            "strato_relay_fanout_connections_refused",
            "Connections refused by the fan-out processes (over a cap, or no request head in "
            "time), by reason",
            ("reason",),
            registry=registry,
        )

    def consumer_cut(self, reason: str) -> None:
        self.consumers_cut.labels(reason).inc()

    def connections_held(self, count: int) -> None:
        """The number of connections this process holds (for its connection guard)."""
        self.connections_open.set(count)

    def connection_refused(self, reason: str) -> None:
        """One connection refused, or closed before its request, for ``reason``."""
        self.connections_refused.labels(reason).inc()


def add_worker_collector(registry: CollectorRegistry, directory: str) -> None:
    """Expose in ``registry`` the metrics the workers write to ``directory``."""
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
