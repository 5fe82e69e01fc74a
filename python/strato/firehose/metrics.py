"""The Prometheus metrics of an event stream (firehose), in a server's
:class:`~strato.metrics.ServerMetrics` registry:

- ``strato_firehose_subscribers``: connected subscribers (replaying or live);
- ``strato_firehose_frames_sent_total``: frames written to subscribers;
- ``strato_firehose_consumers_cut_total{reason}``: connections ended by the server, by reason
  (``ConsumerTooSlow``, ``FutureCursor``, ``InvalidRequest``, ``ConnectionLimit``);
- ``strato_firehose_head_seq``: the last seq handed to live subscribers.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from strato.metrics import ServerMetrics


class FirehoseMetrics:
    """The stream's counters and gauges, registered in ``server.registry``."""

    def __init__(self, server: ServerMetrics) -> None:
        registry = server.registry
        self.subscribers = Gauge(
            "strato_firehose_subscribers", "Connected event-stream subscribers", registry=registry
        )
        self.frames_sent = Counter(
            "strato_firehose_frames_sent", "Frames written to subscribers", registry=registry
        )
        self.consumers_cut = Counter(
            "strato_firehose_consumers_cut",
            "Subscriber connections ended by the server, by reason",
            ("reason",),
            registry=registry,
        )
        self.head = Gauge(
            "strato_firehose_head_seq", "The last seq handed to live subscribers", registry=registry
        )

    def consumer_cut(self, reason: str) -> None:
        self.consumers_cut.labels(reason).inc()
