"""The PDS's own Prometheus metrics, beside the HTTP and firehose ones in the same registry:
group commits (how many transactions, how many requests each carried, how many failed)."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

from strato.service.metrics import ServerMetrics

#: Requests per group transaction.
BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class WriterMetrics:
    """What the group-commit writer reports (:class:`strato.pds.writer.Writer`)."""

    def __init__(self, server: ServerMetrics) -> None:
        registry = server.registry
        self.batch_size = Histogram(
            "strato_pds_group_commit_requests",
            "Requests carried by one group-commit write transaction",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.refused = Counter(
            "strato_pds_group_commit_refused",
            "Requests whose writes were undone (the request raised), by error class",
            ("error",),
            registry=registry,
        )

    def committed(self, outcomes: list[tuple[bool, object]]) -> None:
        """One transaction committed with these requests' outcomes."""
        self.batch_size.observe(len(outcomes))
        for ok, value in outcomes:
            if not ok:
                self.refused.labels(type(value).__name__).inc()
