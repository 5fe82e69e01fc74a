"""Consumers of every process in one list: the fan-out workers' table rows (any rows with the
table's fields) beside the main process's subscriptions, over the admin method and goat's
path; a worker's consumer has its asked-for cursor, and the frames sent to it as the worker
publishes them (a real relay with one worker and a real subscriber)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from relay_admin_net import AdminNet, add_and_connect, admin_net, crawled, wait_for
from strato.relay.consumers import Consumer, Consumers, fanout_consumers
from websockets.sync.client import connect


@dataclass(frozen=True)
class Row:
    pid: int
    serial: int
    remote: str
    cursor: int | None
    connected_at: float
    user_agent: str
    events_sent: int | None = None


ROWS = [
    Row(4242, 2, "10.0.0.2:5000", None, 1_764_000_000.25, "live-only/1"),
    Row(4242, 1, "10.0.0.1:5000", 17, 1_764_000_000.0, "replayer/2"),
    Row(77, 9, "10.0.0.3:5000", 0, 1_764_000_001.0, "backfill/3"),
]


@pytest.fixture
def net(tmp_path: Path) -> Iterator[AdminNet]:
    with admin_net(tmp_path) as net:
        yield net


def test_worker_rows_become_consumers_listed_after_the_main_process() -> None:
    main = Consumer(5, "127.0.0.1:1", "ua", 1.0, 3, 3, "main")
    listed = Consumers(lambda: [main], fanout_consumers(lambda: ROWS)).all()
    assert [(c.source, c.id) for c in listed] == [
        ("main", 5), ("worker 4242", 1), ("worker 4242", 2), ("worker 77", 9),
    ]  # fmt: skip
    replayer = listed[1]
    assert (replayer.remote_addr, replayer.cursor, replayer.events_sent) == (
        "10.0.0.1:5000",
        17,
        None,
    )


def test_fanout_consumers_over_http(net: AdminNet) -> None:
    net.admin.consumers.add_source(fanout_consumers(lambda: ROWS[:1]))
    [consumer] = net.call("listConsumers").json()["consumers"]
    assert consumer == {
        "id": 2,
        "remoteAddr": "10.0.0.2:5000",
        "userAgent": "live-only/1",
        "connectedAt": "2025-11-24T16:00:00.250Z",
        "source": "worker 4242",
    }
    [row] = net.path("GET", "/admin/consumers/list").json()
    assert (row["id"], row["events_consumed"], row["source"]) == (2, None, "worker 4242")


def test_a_workers_consumer_is_listed_with_the_frames_sent_to_it(tmp_path: Path) -> None:
    with admin_net(tmp_path, workers=1) as net:
        add_and_connect(net)
        net.write_posts("carol.test", 3)
        crawled(net)
        head = net.relay.ctx.sequencer.head()
        assert head >= 3
        with connect(f"{net.relay.stream_url}?cursor=0", user_agent_header="counted/1") as ws:
            for _ in range(head):
                ws.recv(timeout=30)
            seen: list[dict[str, object]] = []

            def counted() -> bool:
                seen[:] = net.call("listConsumers").json()["consumers"]
                return [consumer.get("eventsSent") for consumer in seen] == [head]

            wait_for(counted)
        [consumer] = seen
        assert str(consumer["source"]).startswith("worker ")
        assert consumer["userAgent"] == "counted/1"
