"""Helpers shared by the firehose tests: synthetic ``subscribeRepos`` events, a settable clock,
and a test service (an LMDB event log and its fan-out, served as a PDS serves its firehose: the
HTTP server hands each upgrade to the Rust frame writer in its process) on a loopback port in a
thread, whose writer appends events from the test thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localnet import fanout_of, serve_app, serve_service
from starlette.applications import Starlette
from starlette.routing import Route
from strato import CID
from strato.car import write_car
from strato.dagcbor import encode
from strato.firehose import TABLES, LmdbEventLog, Retention, encode_message
from strato.firehose.fanout.consumers import Consumer
from strato.firehose.fanout.server import FanoutOptions, FanoutServer
from strato.firehose.fanout.service import Stream, stream_routes, stream_service
from strato.firehose.fanout.workers import LogSpec
from strato.service.limits import ConnectionLimits
from strato.service.metrics import ServerMetrics
from strato.storage import Store
from strato.syntax import TID

#: 2025-01-01T00:00:00Z in microseconds.
EPOCH = 1_735_689_600 * 1_000_000
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
TIME = "2025-01-01T00:00:00.000Z"


@dataclass
class Clock:
    """A clock the test moves by hand (µs)."""

    now: int = EPOCH

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000)


def commit_body(seq: int, *, did: str = DID, padding: int = 0) -> dict[str, Any]:
    """A ``#commit`` payload with a real CAR slice (a commit-shaped root block, plus a record
    of ``padding`` bytes) and one create op."""
    rev = str(TID.from_parts(EPOCH + seq, 0))
    record = encode({"$type": "app.bsky.feed.post", "text": "x" * padding, "createdAt": TIME})
    record_cid = CID.compute(record)
    commit = encode({"did": did, "rev": rev, "version": 3, "data": record_cid, "prev": None})
    commit_cid = CID.compute(commit)
    return {
        "seq": seq,
        "rebase": False,
        "tooBig": False,
        "repo": did,
        "commit": commit_cid,
        "rev": rev,
        "since": None,
        "blocks": write_car([commit_cid], [(commit_cid, commit), (record_cid, record)]),
        "ops": [{"action": "create", "path": f"app.bsky.feed.post/{rev}", "cid": record_cid}],
        "blobs": [],
        "time": TIME,
    }


def identity_body(seq: int, *, did: str = DID) -> dict[str, Any]:
    return {"seq": seq, "did": did, "time": TIME, "handle": "alice.test"}


def account_body(seq: int, *, did: str = DID) -> dict[str, Any]:
    return {"seq": seq, "did": did, "time": TIME, "active": True}


BODIES: dict[str, Callable[[int], dict[str, Any]]] = {
    "#commit": commit_body,
    "#identity": identity_body,
    "#account": account_body,
}


STORE = "firehose-test"


def open_log(
    path: Path, clock: Clock | None = None, retention: Retention | None = None
) -> LmdbEventLog:
    store = Store.open(path, name=STORE, schema_version=1, tables=TABLES, sync=False)
    return LmdbEventLog(store, retention=retention, clock=clock or Clock())


class FirehoseService:
    """An event log and its ``subscribeRepos`` fan-out in one service, beside a Starlette app
    (the 426 route, ``/metrics``), held to ``limits``; the test thread is the writer
    (:meth:`append`). The options are the fan-out's (``max_backlog_frames``: the lag after
    which a subscriber that fell behind is cut)."""

    def __init__(
        self,
        path: Path,
        *,
        retention: Retention | None = None,
        limits: ConnectionLimits | None = None,
        **options: Any,
    ) -> None:
        self.clock = Clock()
        self.sequencer = open_log(path / "db", self.clock, retention)
        self.metrics = ServerMetrics("firehose-test")
        self.app = Starlette(
            routes=[*stream_routes(), Route("/metrics", self.metrics.endpoint)],
        )
        stream = Stream(
            self.sequencer, LogSpec(path / "db", STORE, 1), path, FanoutOptions(**options)
        )
        self.service = stream_service(
            "firehose-test",
            self.app,
            "127.0.0.1",
            0,
            stream=stream,
            limits=limits if limits is not None else ConnectionLimits(),
            metrics=self.metrics,
        )

    @property
    def fanout(self) -> FanoutServer:
        """The fan-out running in the service's process."""
        return fanout_of(self.service)

    @property
    def subscriber_count(self) -> int:
        """Subscribers being served (upgraded, their stream started)."""
        return self.fanout.connection_count

    def consumers(self) -> list[Consumer]:
        """The consumers the fan-out lists (with the frames sent to each)."""
        return self.fanout.consumers()

    def append(self, t: str = "#commit", count: int = 1, **kwargs: Any) -> list[int]:
        """Append ``count`` events of type ``t`` in one transaction, then notify; their seqs."""
        build = BODIES[t]
        with self.sequencer.store.write() as txn:
            seqs = [
                self.sequencer.append(txn, [lambda seq: encode_message(t, build(seq, **kwargs))])
                for _ in range(count)
            ]
        self.sequencer.notify()
        return seqs

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@contextmanager
def serve_stream(service: FirehoseService, **options: Any) -> Iterator[str]:
    """Run ``service`` on 127.0.0.1 (any free port) in a thread (``options``: of
    :func:`localnet.serve_service`); yields ``host:port``."""
    with serve_service(service.service, **options) as (url, _):
        yield url.removeprefix("http://")


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` (a scripted upstream) on 127.0.0.1 (any free port) in a thread, with the
    websocket settings a firehose wants; yields ``host:port``."""
    with serve_app(app, ws="websockets-sansio", ws_per_message_deflate=False) as url:
        yield url.removeprefix("http://")


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)
