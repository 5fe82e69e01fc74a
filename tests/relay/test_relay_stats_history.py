"""The relay's figures over time (:mod:`strato.relay.stats_history`), over its real metrics
registry with a clock the test turns: each interval is what the counters grew by and how long
it lasted, drops only for the reasons that dropped, frames sent once the fan-out counts them,
the lag of the hosts furthest behind; the ring keeps its capacity and no more. (Over HTTP,
with a real relay: ``test_relay_admin_hosts.py``.)"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from strato.firehose.fanout.metrics import FanoutMetrics
from strato.relay.metrics import RelayMetrics
from strato.relay.stats_history import (
    LAG_HOSTS,
    Counters,
    StatsHistory,
    read_counters,
)
from strato.service.metrics import ServerMetrics


class Clock:
    """A monotonic clock and a wall clock that move when told."""

    def __init__(self) -> None:
        self.now = 1_764_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    """A history over a fresh registry, its first sample taken at ``clock.now``."""

    server: ServerMetrics
    relay: RelayMetrics
    clock: Clock
    history: StatsHistory

    def after(self, seconds: float) -> None:
        """Sample ``seconds`` later."""
        self.clock.now += seconds
        self.history.sample()


def rig(capacity: int = 121) -> Rig:
    server = ServerMetrics("relay")
    relay = RelayMetrics(server)
    clock = Clock()

    def read() -> Counters:
        return read_counters(server, relay)

    return Rig(server, relay, clock, StatsHistory(read, capacity=capacity, clock=clock, wall=clock))


def test_an_interval_is_what_the_counters_grew_by() -> None:
    made = rig()
    made.relay.events_in.labels("a.test").inc(3)
    made.relay.drop("bad_signature", 2)
    made.after(5)
    made.relay.events_in.labels("a.test").inc(7)
    made.relay.events_in.labels("b.test").inc(5)
    made.relay.events_forwarded.labels("#commit").inc(9)
    made.relay.events_forwarded.labels("#identity").inc(1)
    made.relay.drop("account_takendown")
    made.relay.lag.labels("a.test").set(0.25)
    made.after(4.5)

    first, second = made.history.intervals()
    assert (first.end, first.seconds, first.received, first.appended) == (
        1_764_000_005.0, 5.0, 3, 0,
    )  # fmt: skip
    assert (first.drops, first.lag, first.sent) == ({"bad_signature": 2}, {}, None)
    assert (second.end, second.seconds, second.received, second.appended) == (
        1_764_000_009.5, 4.5, 12, 10,
    )  # fmt: skip
    assert second.drops == {"account_takendown": 1}  # bad_signature dropped none in it
    assert second.lag == {"a.test": 0.25}


def test_frames_sent_count_once_the_fanout_counts_them() -> None:
    made = rig()
    fanout = FanoutMetrics(made.server.registry)  # as the service starts its fan-out
    fanout.frames_sent.inc(4)
    made.after(5)
    fanout.frames_sent.inc(6)
    made.after(5)
    assert [interval.sent for interval in made.history.intervals()] == [4, 6]


def test_without_a_fanout_frames_sent_are_unknown() -> None:
    made = rig()
    made.after(5)
    [interval] = made.history.intervals()
    assert interval.sent is None


def test_lag_of_the_hosts_furthest_behind() -> None:
    made = rig()
    for n in range(LAG_HOSTS + 4):
        made.relay.lag.labels(f"h{n:02}.test").set(n / 10)
    made.after(5)
    [interval] = made.history.intervals()
    assert interval.lag == {f"h{n:02}.test": n / 10 for n in range(4, LAG_HOSTS + 4)}


def test_the_ring_keeps_its_capacity() -> None:
    made = rig(capacity=3)
    for n in range(1, 11):
        made.relay.events_in.labels("a.test").inc(n)
        made.after(5)
    assert len(made.history.samples()) == 3
    assert [interval.received for interval in made.history.intervals()] == [9, 10]


def test_a_sample_within_a_millisecond_is_not_kept() -> None:
    made = rig()
    made.after(0.0004)
    assert made.history.intervals() == []
    made.after(0.001)
    [interval] = made.history.intervals()
    assert interval.seconds >= 0.001


def test_a_history_holds_two_samples_at_least() -> None:
    with pytest.raises(ValueError, match="two samples"):
        StatsHistory(lambda: Counters(0, 0, None, {}, {}), capacity=1)
