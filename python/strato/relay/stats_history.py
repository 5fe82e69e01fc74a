"""The relay's recent figures over time, for the admin page's charts: :class:`StatsHistory`.

A ring of the last :data:`CAPACITY` samples of the relay's counters (:class:`Counters`: upstream
events received, events verified and appended to the log, frames sent to subscribers, drops by
reason, and each host's lag), taken every :data:`INTERVAL` seconds by a chore of the app's
lifespan. It answers as intervals between consecutive samples (:class:`Interval`: what each
counter grew by, over how long, and the lag at its end), so a freshly opened admin page draws
the last ten minutes at once (``dev.strato.relay.admin.getStatsHistory``).

Memory is bounded: :data:`CAPACITY` samples, each with one count per drop reason (a fixed set)
and the lag of at most :data:`LAG_HOSTS` hosts, those furthest behind. It is held in memory
only: a restart starts it afresh, as it does the counters.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from strato.relay.metrics import RelayMetrics
from strato.service.metrics import ServerMetrics

#: Seconds between samples.
INTERVAL: Final = 5.0
#: Samples kept: 120 intervals, ten minutes at :data:`INTERVAL`.
CAPACITY: Final = 121
#: Hosts whose lag a sample keeps (those furthest behind).
LAG_HOSTS: Final = 8
#: A sample this soon after the last one (seconds) is not kept: an interval lasts at least 1 ms.
MIN_GAP: Final = 0.001
#: The fan-out's count of frames sent, summed over its processes in the app's registry.
FRAMES_SENT: Final = "strato_firehose_frames_sent_total"


@dataclass(frozen=True, slots=True)
class Counters:
    """The relay's counters at one moment: upstream events received (every host), upstream
    events verified and appended to the log, frames sent to subscribers (None: no fan-out counts
    them in this registry), events dropped by reason, and the lag in seconds of the hosts
    furthest behind (between an event's time and its commit here, as of each host's last
    event)."""

    received: int
    appended: int
    sent: int | None
    drops: Mapping[str, int]
    lag: Mapping[str, float]


def read_counters(server: ServerMetrics, relay: RelayMetrics) -> Counters:
    """The counters now, from the app's registry (``server``) and the relay's metrics."""
    lag = relay.lag_seconds()
    furthest = sorted(lag.items(), key=lambda item: (-item[1], item[0]))[:LAG_HOSTS]
    sent = server.registry.get_sample_value(FRAMES_SENT)
    return Counters(
        received=sum(relay.received().values()),
        appended=relay.appended(),
        sent=None if sent is None else int(sent),
        drops=relay.drop_counts(),
        lag=dict(furthest),
    )


@dataclass(frozen=True, slots=True)
class Sample:
    """Counters as read at ``wall`` (unix time) and ``mono`` (the monotonic clock)."""

    wall: float
    mono: float
    counters: Counters


@dataclass(frozen=True, slots=True)
class Interval:
    """What the counters grew by between two samples: ``seconds`` long, ending at ``end``
    (unix time); ``sent`` None where the later sample had no count; ``drops`` only the
    reasons that dropped events in it; ``lag`` the hosts' lag at its end."""

    end: float
    seconds: float
    received: int
    appended: int
    sent: int | None
    drops: dict[str, int]
    lag: dict[str, float]


def between(before: Sample, after: Sample) -> Interval:
    """The interval from ``before`` to ``after``, a later sample of the same counters."""
    old, new = before.counters, after.counters
    drops = {
        reason: count - old.drops.get(reason, 0)
        for reason, count in sorted(new.drops.items())
        if count > old.drops.get(reason, 0)
    }
    return Interval(
        end=after.wall,
        seconds=after.mono - before.mono,
        received=new.received - old.received,
        appended=new.appended - old.appended,
        # A fan-out that starts counting starts from zero.
        sent=None if new.sent is None else new.sent - (old.sent or 0),
        drops=drops,
        lag=dict(new.lag),
    )


class StatsHistory:
    """The last ``capacity`` samples of the counters ``read`` returns; the first is taken now.
    :meth:`sample` may be called from any thread."""

    def __init__(
        self,
        read: Callable[[], Counters],
        *,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if capacity < 2:
            raise ValueError("a history needs room for two samples")
        self._read = read
        self._clock = clock
        self._wall = wall
        self._samples: deque[Sample] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.sample()

    def sample(self) -> None:
        """Read the counters into the ring (the oldest sample goes when it is full)."""
        taken = Sample(self._wall(), self._clock(), self._read())
        with self._lock:
            if self._samples and taken.mono - self._samples[-1].mono < MIN_GAP:
                return
            self._samples.append(taken)

    def samples(self) -> list[Sample]:
        """The samples held, oldest first."""
        with self._lock:
            return list(self._samples)

    def intervals(self) -> list[Interval]:
        """The intervals between consecutive samples, oldest first."""
        held = self.samples()
        return [between(before, after) for before, after in itertools.pairwise(held)]
