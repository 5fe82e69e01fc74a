"""The relay's Prometheus metrics: :class:`RelayMetrics`, registered in the app's registry.

Ingest is counted per host (events in, lag, reconnects are the crawler's), drops per reason
(the :class:`strato.sync.ErrorCode` values and the pipeline's own reasons), verification time
per event, and the log's size; the firehose's own metrics count what goes out.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from strato.service.metrics import ServerMetrics


class RelayMetrics:
    """Ingest counters, registered in ``server.registry``."""

    def __init__(self, server: ServerMetrics) -> None:
        registry = server.registry
        self.events_in = Counter(
            "strato_relay_events_in",
            "Upstream events received, by host",
            ("host",),
            registry=registry,
        )
        self.events_forwarded = Counter(
            "strato_relay_events_forwarded",
            "Events appended to the relay's log, by type",
            ("type",),
            registry=registry,
        )
        self.drops = Counter(
            "strato_relay_events_dropped",
            "Upstream events dropped, by reason",
            ("reason",),
            registry=registry,
        )
        self.warnings = Counter(
            "strato_relay_verify_warnings",
            "Checks that failed but are set lenient, by reason",
            ("reason",),
            registry=registry,
        )
        self.verify_seconds = Histogram(
            "strato_relay_verify_seconds",
            "Verification time per event (a batch's share)",
            buckets=(1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1),
            registry=registry,
        )
        self.batch_events = Histogram(
            "strato_relay_batch_events",
            "Upstream events per committed batch",
            buckets=(1, 4, 16, 64, 256, 1024, 4096),
            registry=registry,
        )
        self.lag = Gauge(
            "strato_relay_host_lag_seconds",
            "Seconds between an upstream event's time and its commit here, by host",
            ("host",),
            registry=registry,
        )
        self.log_bytes = Gauge(
            "strato_relay_log_bytes", "Bytes of frames in the replay window", registry=registry
        )
        self.repairs = Counter(
            "strato_relay_repairs",
            "Account repairs run, by kind and outcome",
            ("kind", "outcome"),
            registry=registry,
        )
        self.ingest_stopped = Gauge(
            "strato_relay_ingest_stopped",
            "1 while ingest is stopped (disk full)",
            registry=registry,
        )

    def drop(self, reason: str, count: int = 1) -> None:
        self.drops.labels(reason).inc(count)

    def received(self) -> dict[str, int]:
        """Upstream events received so far, by host."""
        return {host: int(value) for host, value in by_label(self.events_in).items()}

    def appended(self) -> int:
        """Upstream events appended to the log so far."""
        return int(sum(by_label(self.events_forwarded).values()))

    def drop_counts(self) -> dict[str, int]:
        """Events dropped so far, by reason (those with drops), sorted by reason."""
        counts = by_label(self.drops)
        return {reason: int(counts[reason]) for reason in sorted(counts) if counts[reason]}

    def lag_seconds(self) -> dict[str, float]:
        """Each host's lag as of its last event, in seconds."""
        return by_label(self.lag)


def by_label(metric: MetricWrapperBase) -> dict[str, float]:
    """The values of a counter or gauge with one label, by label value (a counter's total)."""
    values: dict[str, float] = {}
    for family in metric.collect():
        for sample in family.samples:
            if sample.name in (family.name, f"{family.name}_total"):
                (label,) = sample.labels.values()
                values[label] = sample.value
    return values
