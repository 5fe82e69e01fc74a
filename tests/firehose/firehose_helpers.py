"""Helpers shared by the firehose tests: synthetic ``subscribeRepos`` events, a settable clock,
and a test service (LMDB event log + broadcaster + ``subscribeRepos`` endpoint) served by uvicorn
on a loopback port in a thread, whose writer appends events from the test thread."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localnet import serve_app
from starlette.applications import Starlette
from starlette.routing import Route
from strato import CID
from strato.car import write_car
from strato.dagcbor import encode
from strato.firehose import (
    TABLES,
    Broadcaster,
    FirehoseMetrics,
    LmdbEventLog,
    Retention,
    SubscribeReposEndpoint,
    encode_message,
)
from strato.metrics import ServerMetrics
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


def open_log(
    path: Path, clock: Clock | None = None, retention: Retention | None = None
) -> LmdbEventLog:
    store = Store.open(path, name="firehose-test", schema_version=1, tables=TABLES, sync=False)
    return LmdbEventLog(store, retention=retention, clock=clock or Clock())


class FirehoseService:
    """An event log, its broadcaster and the ``subscribeRepos`` endpoint in one Starlette app;
    the test thread is the writer (:meth:`append`)."""

    def __init__(
        self,
        path: Path,
        *,
        queue_size: int = 1000,
        max_per_ip: int = 16,
        cut_grace: float = 10.0,
        retention: Retention | None = None,
        trusted_proxies: int = 0,
    ) -> None:
        self.clock = Clock()
        self.sequencer = open_log(path, self.clock, retention)
        self.metrics = ServerMetrics("firehose-test")
        self.broadcaster = Broadcaster(
            self.sequencer, FirehoseMetrics(self.metrics), queue_size=queue_size
        )
        self.endpoint = SubscribeReposEndpoint(
            self.broadcaster,
            max_per_ip=max_per_ip,
            cut_grace=cut_grace,
            trusted_proxies=trusted_proxies,
        )
        self.app = Starlette(
            routes=[*self.endpoint.routes(), Route("/metrics", self.metrics.endpoint)],
            lifespan=self._lifespan,
        )

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.broadcaster.start()
        yield
        await self.broadcaster.stop()

    def append(self, t: str = "#commit", count: int = 1, **kwargs: Any) -> list[int]:
        """Append ``count`` events of type ``t`` in one transaction, then notify; their seqs."""
        build = BODIES[t]
        with self.sequencer.store.write() as txn:
            seqs = [
                self.sequencer.append(txn, [lambda seq: encode_message(t, build(seq, **kwargs))])
                for _ in range(count)
            ]
        self.broadcaster.notify()
        return seqs

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 (any free port) in a thread, with the websocket settings a
    firehose wants; yields ``host:port``."""
    with serve_app(app, ws="websockets-sansio", ws_per_message_deflate=False) as url:
        yield url.removeprefix("http://")


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)
