"""Firehose (``subscribeRepos``) throughput over real WebSockets on loopback: replay from
cursor 0 of a stored log, and live fan-out to 1, 10 and 100 subscribers.

The server runs in a subprocess (uvicorn, the websockets sans-I/O protocol, no per-message
compression): an LMDB event log, the broadcaster and the endpoint, plus a ``POST /bench/append``
route whose writer appends synthetic ``#commit`` frames (``--frame-bytes`` each) in write
transactions of ``--batch`` events and notifies the broadcaster after each. Clients (the
``websockets`` asyncio client, in this process) count frames and decode the last one to check
its seq; every subscriber must receive every event once, in order.

- replay: the log holds ``--replay`` events; one client connects with ``cursor=0`` and reads
  them all (events/s and MB/s);
- live: N subscribers connect without a cursor, then ``--live`` events are appended; the time
  from the first append to the last frame at the last subscriber gives events/s (per
  subscriber) and frames/s (all subscribers).

Client and server share the machine, so with few cores the clients' own parsing is part of what
is measured. Refuses to run on a strato debug build unless ``--allow-debug``.

    python benches/firehose_bench.py [--replay 100000] [--live 20000] [--quick] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from benchlib import add_run_flags, build_profile, environment, refuse_debug, render
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strato.dagcbor import decode_multi
from strato.firehose import (
    SUBSCRIBE_REPOS_PATH,
    TABLES,
    Broadcaster,
    FirehoseMetrics,
    LmdbEventLog,
    SubscribeReposEndpoint,
    encode_message,
)
from strato.metrics import ServerMetrics
from strato.storage import Store
from websockets.asyncio.client import connect

SUBSCRIBERS = (1, 10, 100)


def frame_body(seq: int, size: int) -> dict[str, object]:
    """A ``#commit``-shaped payload of about ``size`` bytes (the blocks are filler)."""
    return {
        "seq": seq,
        "rebase": False,
        "tooBig": False,
        "repo": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
        "rev": "3lbench22222222",
        "since": None,
        "blocks": b"\x00" * max(size - 200, 0),
        "ops": [],
        "blobs": [],
        "time": "2025-01-01T00:00:00.000Z",
    }


def open_log(path: Path) -> LmdbEventLog:
    store = Store.open(path, name="firehose-bench", schema_version=1, tables=TABLES, sync=False)
    return LmdbEventLog(store)


def append(sequencer: LmdbEventLog, count: int, batch: int, size: int) -> None:
    """Append ``count`` events in transactions of ``batch`` events."""
    done = 0
    while done < count:
        with sequencer.store.write() as txn:
            for _ in range(min(batch, count - done)):
                sequencer.append(
                    txn, [lambda seq: encode_message("#commit", frame_body(seq, size))]
                )
                done += 1


# -- the server subprocess ---------------------------------------------------------------------


def serve(data_dir: Path, port: int, batch: int, size: int) -> None:
    sequencer = open_log(data_dir)
    broadcaster = Broadcaster(
        sequencer, FirehoseMetrics(ServerMetrics("bench")), queue_size=100_000
    )
    endpoint = SubscribeReposEndpoint(broadcaster, max_per_ip=1000)

    async def append_route(request: Request) -> Response:
        count = int(request.query_params["count"])

        def write() -> None:
            done = 0
            while done < count:
                step = min(batch, count - done)
                append(sequencer, step, step, size)
                broadcaster.notify()
                done += step

        threading.Thread(target=write).start()
        return JSONResponse({"head": sequencer.head()})

    async def subscribers(request: Request) -> Response:
        return JSONResponse({"subscribers": broadcaster.subscriber_count})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await broadcaster.start()
        yield
        await broadcaster.stop()

    app = Starlette(
        routes=[
            *endpoint.routes(),
            Route("/bench/append", append_route, methods=["POST"]),
            Route("/bench/subscribers", subscribers),
        ],
        lifespan=lifespan,
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
    )


# -- the clients -------------------------------------------------------------------------------


async def read_until(url: str, last_seq: int, ready: asyncio.Event | None = None) -> int:
    """Read frames until the one with ``last_seq``, checking that seqs go up by one; returns
    how many were read."""
    count = 0
    previous = None
    async with connect(url, max_size=None, compression=None, max_queue=64) as ws:
        if ready is not None:
            ready.set()
        while True:
            _, body = decode_multi(await ws.recv(decode=False))
            seq = body["seq"]
            assert previous is None or seq == previous + 1, f"seq {seq} after {previous}"
            previous = seq
            count += 1
            if seq == last_seq:
                return count


async def replay(base: str, head: int) -> float:
    started = time.perf_counter()
    count = await read_until(f"ws://{base}{SUBSCRIBE_REPOS_PATH}?cursor=0", head)
    elapsed = time.perf_counter() - started
    assert count == head, f"replay read {count} frames, expected {head}"
    return elapsed


async def live(base: str, subscribers: int, events: int) -> float:
    async with httpx.AsyncClient(base_url=f"http://{base}") as http:
        start_head = int((await http.post("/bench/append?count=0")).json()["head"])
        target = start_head + events
        ready = [asyncio.Event() for _ in range(subscribers)]
        url = f"ws://{base}{SUBSCRIBE_REPOS_PATH}"
        tasks = [asyncio.create_task(read_until(url, target, r)) for r in ready]
        for event in ready:
            await event.wait()
        while (await http.get("/bench/subscribers")).json()["subscribers"] < subscribers:
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        await http.post(f"/bench/append?count={events}")
        counts = await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    assert all(count == events for count in counts), f"live counts {set(counts)} != {events}"
    return elapsed


def wait_up(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://{base}/bench/subscribers")
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("bench server did not start")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replay", type=int, default=100_000, help="events replayed from 0")
    parser.add_argument("--live", type=int, default=20_000, help="live events per round")
    parser.add_argument("--batch", type=int, default=50, help="events per write transaction")
    parser.add_argument("--frame-bytes", type=int, default=1000, help="approximate frame size")
    parser.add_argument("--port", type=int, default=28583, help="the server's loopback port")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    add_run_flags(parser, "10k replay, 2k live events")
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.port, args.batch, args.frame_bytes)
        return 0
    profile = build_profile()
    if refuse_debug("firehose_bench.py", profile, args.allow_debug):
        return 2
    if args.quick:
        args.replay, args.live = 10_000, 2_000
    base = f"127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "log"
        append(open_log(data), args.replay, 1000, args.frame_bytes)
        command = [sys.executable, __file__, "--serve", str(data), "--port", str(args.port)]
        command += ["--batch", str(args.batch), "--frame-bytes", str(args.frame_bytes)]
        server = subprocess.Popen(command)
        try:
            wait_up(base)
            rows = [["measurement", "events", "seconds", "events/s", "frames/s", "MB/s"]]
            seconds = asyncio.run(replay(base, args.replay))
            mb = args.replay * args.frame_bytes / seconds / 1e6
            rate = args.replay / seconds
            rows.append(["replay from cursor 0", f"{args.replay}", f"{seconds:.2f}",
                         f"{rate:,.0f}", f"{rate:,.0f}", f"{mb:.1f}"])  # fmt: skip
            for subscribers in SUBSCRIBERS:
                events = max(args.live // subscribers * 10, 500) if subscribers > 10 else args.live
                seconds = asyncio.run(live(base, subscribers, events))
                rate = events / seconds
                rows.append([f"live, {subscribers} subscribers", f"{events}", f"{seconds:.2f}",
                             f"{rate:,.0f}", f"{rate * subscribers:,.0f}",
                             f"{rate * subscribers * args.frame_bytes / 1e6:.1f}"])  # fmt: skip
        finally:
            server.terminate()
            server.wait()
    extra = [f"frame bytes: {args.frame_bytes}, events per write transaction: {args.batch}"]
    for line in environment(profile, ("strato", "uvicorn", "websockets", "lmdb"), extra):
        print(line)
    print()
    print(render(rows, args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
