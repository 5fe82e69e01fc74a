"""The Prometheus metrics of the relay's upstream side, in a server's
:class:`~strato.service.metrics.ServerMetrics` registry:

- ``strato_relay_hosts_connected`` (gauge; alias ``relay_connected_inbound``, the reference's
  name that dashboards use): open upstream subscriptions;
- ``strato_relay_host_reconnects_total{host,reason}``: connections opened to a host after its
  first, by how the connection (or attempt) before ended: one of the error reasons below,
  ``closed`` (by the host, without an error) or ``throttled`` (closed to wait for its limits);
- ``strato_relay_host_backoff_seconds{host}``: the wait before the next connection to a host,
  as last chosen (it doubles after each connection that did not stay up, see
  :mod:`strato.relay.crawler`);
- ``strato_relay_host_errors_total{host,reason}``: connections ended or refused, by reason
  (``frame_too_big``, ``text_frame``, ``connect_failed``, ``connection_lost``,
  ``upstream_error``, ``future_cursor``, ``relay_loop``, ``address_refused``,
  ``internal_error``);
- ``strato_relay_host_throttled_total{host}``: times a host's event rate hit its limits.

Frames and events per host are the ingest pipeline's (``strato.relay.metrics``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from strato.service.metrics import ServerMetrics


class HostMetrics:
    """The crawler's counters and gauges, registered in ``server.registry``."""

    def __init__(self, server: ServerMetrics) -> None:
        registry = self.registry = server.registry
        self.connected = Gauge(
            "strato_relay_hosts_connected", "Open upstream subscriptions", registry=registry
        )
        self.connected_alias = Gauge(
            "relay_connected_inbound",
            "Open upstream subscriptions (the reference relay's name)",
            registry=registry,
        )
        self.reconnects = Counter(
            "strato_relay_host_reconnects",
            "Connections opened to a host after its first, by how the one before ended",
            ("host", "reason"),
            registry=registry,
        )
        self.backoff = Gauge(
            "strato_relay_host_backoff_seconds",
            "The wait before the next connection to a host, as last chosen",
            ("host",),
            registry=registry,
        )
        self.errors = Counter(
            "strato_relay_host_errors",
            "Upstream connections ended or refused, by host and reason",
            ("host", "reason"),
            registry=registry,
        )
        self.throttled = Counter(
            "strato_relay_host_throttled",
            "Times a host's event rate reached its limits",
            ("host",),
            registry=registry,
        )

    def set_connected(self, count: int) -> None:
        self.connected.set(count)
        self.connected_alias.set(count)

    def error(self, host: str, reason: str) -> None:
        self.errors.labels(host, reason).inc()
