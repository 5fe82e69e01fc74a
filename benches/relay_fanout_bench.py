"""Relay fan-out: deliveries/s of ~2.8 KB event frames to 50 and 250 WebSocket subscribers on
loopback, strato's Rust frame writer beside ``websockets.broadcast`` in the same harness.

Every run uses the same frames (``--frame-bytes`` each, a ``#commit``-shaped frame with random
``blocks``) and the same counting clients: raw sockets that do the WebSocket handshake and then
only count bytes (every message on the wire has the same length, so bytes give frames), spread
over ``--client-procs`` processes that share their counts with the producer through shared
memory. The producer keeps at most ``--window`` frames per subscriber in flight (published minus
delivered), so no server builds an unbounded backlog; the rate is (frames x subscribers) over
the time from the first frame published to the last byte counted; each run is repeated
``--repeat`` times and the best is shown.

- ``websockets.broadcast``: a ``websockets`` asyncio server on uvloop (no compression, no pings);
  the producer calls ``broadcast(connections, frame)`` for each frame in the server's loop;
- ``FanoutWriter, 1 process``: the Rust writer; the producer calls ``writer.broadcast(batch, tag)``;
- ``relay fan-out, N workers`` (``--workers``, default 1 and 2): the whole path: N worker processes
  (:func:`strato.firehose.fanout.workers.run_workers`) on one port (SO_REUSEPORT), the producer
  appends the frames to the LMDB log in write transactions of ``--batch`` events and wakes the
  workers, which read the log and broadcast through their writers.

Then the wake-up of the workers: latency from a commit to the frame at a subscriber of one
worker (one event every 2 ms), woken by the ingest process's pipe or found by polling alone,
and what ``notify()`` costs the writer.

    python benches/relay_fanout_bench.py [--subscribers 50,250] [--frames 20000] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ctypes
import functools
import multiprocessing as mp
import os
import resource
import select
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path
from typing import Any

import uvloop
from benchlib import add_run_flags, build_profile, environment, refuse_debug, render
from strato._core import FanoutWriter
from strato.firehose import (
    SUBSCRIBE_REPOS_PATH,
    TABLES,
    LmdbEventLog,
    Retention,
    encode_message,
)
from strato.firehose.fanout.handshake import head_end, parse_request, switching_protocols
from strato.firehose.fanout.server import TOO_SLOW_FRAME, FanoutOptions
from strato.firehose.fanout.wake import WakePipes
from strato.firehose.fanout.workers import LogSpec, bind_reuseport, run_workers
from strato.storage import Store
from websockets.asyncio.server import ServerConnection, broadcast, serve

GOAL_DELIVERIES = 500_000
GOAL_RATIO = 8.0


def make_frames(count: int, size: int) -> list[bytes]:
    """``count`` distinct frames of exactly ``size`` bytes."""
    frames = []
    for seq in range(1, count + 1):
        pad = size
        for _ in range(3):
            frame = encode_message(
                "#commit", {"seq": seq, "repo": "did:plc:bench", "blocks": os.urandom(pad)}
            )
            pad += size - len(frame)
        assert len(frame) == size, (len(frame), size)
        frames.append(frame)
    return frames


def wire_length(size: int) -> int:
    return size + (2 if size < 126 else 4 if size < 65536 else 10)


# -- counting clients ---------------------------------------------------------------------------


def _handshake(port: int) -> tuple[socket.socket, int]:
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {SUBSCRIBE_REPOS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    buffer = b""
    while head_end(buffer) < 0:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        buffer += chunk
    if not buffer.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(buffer[:200].decode(errors="replace"))
    return sock, len(buffer) - head_end(buffer)


def client_process(
    port: int, count: int, slot: int, *, counts: SynchronizedArray[Any], ready: Any, stop: Any
) -> None:
    """Open ``count`` subscribers and count the bytes they receive into ``counts[slot]``."""
    sockets = []
    total = 0
    for _ in range(count):
        sock, extra = _handshake(port)
        total += extra
        sock.setblocking(False)
        sockets.append(sock)
    poller = select.epoll()
    for sock in sockets:
        poller.register(sock.fileno(), select.EPOLLIN)
    by_fd = {sock.fileno(): sock for sock in sockets}
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    counts[slot] = total
    ready.set()
    while not stop.is_set():
        for fd, _ in poller.poll(0.05):
            sock = by_fd[fd]
            while True:
                try:
                    n = sock.recv_into(view)
                except BlockingIOError:
                    break
                if not n:
                    poller.unregister(fd)
                    break
                total += n
        counts[slot] = total
    for sock in sockets:
        sock.close()


class Clients:
    """``subscribers`` counting clients over ``procs`` processes."""

    def __init__(self, port: int, subscribers: int, procs: int) -> None:
        context = mp.get_context("spawn")
        self.counts = context.Array(ctypes.c_uint64, procs, lock=False)
        self.stop = context.Event()
        self.ready = [context.Event() for _ in range(procs)]
        shares = [subscribers // procs + (i < subscribers % procs) for i in range(procs)]
        self.procs = [
            context.Process(
                target=client_process,
                args=(port, share, i),
                kwargs={"counts": self.counts, "ready": self.ready[i], "stop": self.stop},
                daemon=True,
            )
            for i, share in enumerate(shares)
        ]
        for proc in self.procs:
            proc.start()

    def wait_ready(self) -> None:
        for event, proc in zip(self.ready, self.procs, strict=True):
            while not event.wait(0.1):
                if not proc.is_alive():
                    raise RuntimeError("a client process failed")

    def received(self) -> int:
        return sum(self.counts[:])

    def close(self) -> float:
        """Stop the clients; their CPU seconds."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.stop.set()
        for proc in self.procs:
            proc.join(10)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


# -- the runs -------------------------------------------------------------------------------------


class Pacer:
    """Keeps published frames at most ``window`` ahead of the slowest-on-average subscriber."""

    def __init__(self, clients: Clients, subscribers: int, wire: int, window: int) -> None:
        self.clients = clients
        self.subscribers = subscribers
        self.wire = wire
        self.window = window

    def behind(self, published: int) -> bool:
        delivered = self.clients.received() // self.wire
        return (published - self.window) * self.subscribers > delivered

    def done(self, published: int) -> bool:
        return self.clients.received() >= published * self.subscribers * self.wire


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Result:
    def __init__(self, name: str, subscribers: int, frames: int, seconds: float) -> None:
        self.name = name
        self.subscribers = subscribers
        self.frames = frames
        self.seconds = seconds
        self.server_cpu = 0.0
        self.client_cpu = 0.0
        #: The log writer's share of ``server_cpu`` (workers run only).
        self.producer_cpu = 0.0

    @property
    def rate(self) -> float:
        return self.frames * self.subscribers / self.seconds


def run_websockets(frames: list[bytes], subscribers: int, args: argparse.Namespace) -> Result:
    async def main() -> Result:
        connections: set[ServerConnection] = set()

        async def handler(connection: ServerConnection) -> None:
            connections.add(connection)
            try:
                await connection.wait_closed()
            finally:
                connections.discard(connection)

        async with serve(
            handler, "127.0.0.1", 0, ping_interval=None, compression=None, max_queue=None
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            clients = Clients(port, subscribers, args.client_procs)
            await asyncio.to_thread(clients.wait_ready)
            while len(connections) < subscribers:
                await asyncio.sleep(0.01)
            pacer = Pacer(clients, subscribers, wire_length(len(frames[0])), args.window)
            cpu = _cpu()
            start = time.perf_counter()
            for published, frame in enumerate(frames, 1):
                broadcast(connections, frame)
                while pacer.behind(published):
                    await asyncio.sleep(0.0005)
            while not pacer.done(len(frames)):
                await asyncio.sleep(0.0005)
            result = Result("websockets.broadcast, 1 process", subscribers, len(frames), 0)
            result.seconds = time.perf_counter() - start
            result.server_cpu = _cpu() - cpu
            result.client_cpu = clients.close()
            return result

    return uvloop.run(main())


def _accept_into(writer: FanoutWriter, listener: socket.socket, count: int) -> None:
    for _ in range(count):
        sock, _ = listener.accept()
        buffer = b""
        while head_end(buffer) < 0:
            buffer += sock.recv(4096)
        request = parse_request(buffer[: head_end(buffer)], path=SUBSCRIBE_REPOS_PATH)
        sock.sendall(switching_protocols(request.key, server="bench"))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer.add(sock.detach(), live=True)


def run_writer(frames: list[bytes], subscribers: int, args: argparse.Namespace) -> Result:
    writer = FanoutWriter(
        live_backlog_frames=args.window * 4,
        live_backlog_bytes=1 << 40,
        stall_timeout=60.0,
        close_grace=5.0,
        too_slow_frame=TOO_SLOW_FRAME,
    )
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    clients = Clients(listener.getsockname()[1], subscribers, args.client_procs)
    acceptor = threading.Thread(target=_accept_into, args=(writer, listener, subscribers))
    acceptor.start()
    clients.wait_ready()
    acceptor.join()
    while writer.stats()[2] < subscribers:
        time.sleep(0.01)
    pacer = Pacer(clients, subscribers, wire_length(len(frames[0])), args.window)
    cpu = _cpu()
    start = time.perf_counter()
    for at in range(0, len(frames), args.batch):
        writer.broadcast(frames[at : at + args.batch], at)
        while pacer.behind(at + args.batch):
            time.sleep(0.0005)
    while not pacer.done(len(frames)):
        time.sleep(0.0005)
    result = Result("FanoutWriter, 1 process", subscribers, len(frames), 0)
    result.seconds = time.perf_counter() - start
    result.server_cpu = _cpu() - cpu
    lagging = [event for event in writer.take_events() if event[0] == "lagging"]
    assert not lagging, f"{len(lagging)} subscribers demoted as lagging"
    result.client_cpu = clients.close()
    writer.shutdown()
    listener.close()
    return result


def _stored(frame: bytes, _seq: int) -> bytes:
    return frame


def run_workers_bench(
    frames: list[bytes], subscribers: int, args: argparse.Namespace, *, workers: int
) -> Result:
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory)
        log_spec = LogSpec(path=data / "log", name="bench-relay", schema_version=1)
        store = Store.open(
            log_spec.path, name=log_spec.name, schema_version=1, tables=TABLES, sync=False
        )
        sequencer = LmdbEventLog(store, retention=Retention(None, None))
        listener = bind_reuseport("127.0.0.1", 0, listen=False)
        port = listener.getsockname()[1]
        # every subscriber comes from 127.0.0.1: no per-address caps
        options = FanoutOptions(
            max_backlog_frames=args.window * 4, max_per_ip=100_000, max_connections_per_ip=0
        )
        pool = run_workers(log_spec, data, listener, workers, options=options)
        try:
            pool.wait_ready()
            clients = Clients(port, subscribers, args.client_procs)
            clients.wait_ready()
            pacer = Pacer(clients, subscribers, wire_length(len(frames[0])), args.window)
            cpu = _cpu()
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            for at in range(0, len(frames), args.batch):
                batch = frames[at : at + args.batch]
                with store.write() as txn:
                    for frame in batch:
                        sequencer.append(txn, [functools.partial(_stored, frame)])
                pool.notify()
                while pacer.behind(at + len(batch)):
                    time.sleep(0.0005)
            while not pacer.done(len(frames)):
                time.sleep(0.0005)
            noun = "worker" if workers == 1 else "workers"
            result = Result(f"relay fan-out, {workers} {noun}", subscribers, len(frames), 0)
            result.seconds = time.perf_counter() - start
            producer_cpu = _cpu() - cpu
            result.client_cpu = clients.close()
        finally:
            pool.stop()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        # The producer's own CPU plus the workers' (the clients' is counted apart).
        result.producer_cpu = producer_cpu
        result.server_cpu = producer_cpu + workers_cpu - result.client_cpu
        listener.close()
        store.close()
        return result


def run_wake_latency(frames: list[bytes], *, wake: bool, poll_interval: float) -> list[float]:
    """Milliseconds from each commit to its frame's last byte at a subscriber of one worker,
    one event every 2 ms; woken by the pipe (``wake``) or found by the pump's poll alone."""
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory)
        log_spec = LogSpec(path=data / "log", name="bench-relay", schema_version=1)
        store = Store.open(
            log_spec.path, name=log_spec.name, schema_version=1, tables=TABLES, sync=False
        )
        sequencer = LmdbEventLog(store, retention=Retention(None, None))
        listener = bind_reuseport("127.0.0.1", 0, listen=False)
        options = FanoutOptions(poll_interval=poll_interval)
        pool = run_workers(log_spec, data, listener, 1, options=options)
        try:
            pool.wait_ready()
            sock, extra = _handshake(listener.getsockname()[1])
            wire = wire_length(len(frames[0]))
            arrived: list[float] = []

            def read() -> None:
                total = extra
                while len(arrived) < len(frames):
                    chunk = sock.recv(1 << 16)
                    if not chunk:
                        return
                    total += len(chunk)
                    now = time.perf_counter()
                    arrived.extend(now for _ in range(total // wire - len(arrived)))

            reader = threading.Thread(target=read)
            reader.start()
            time.sleep(0.2)  # the subscriber is live
            committed = []
            for frame in frames:
                with store.write() as txn:
                    sequencer.append(txn, [functools.partial(_stored, frame)])
                committed.append(time.perf_counter())
                if wake:
                    pool.notify()
                time.sleep(0.002)
            reader.join(30)
            sock.close()
        finally:
            pool.stop()
        listener.close()
        store.close()
    return [(got - sent) * 1000 for got, sent in zip(arrived, committed, strict=True)]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def wake_rows(frames: list[bytes]) -> list[list[str]]:
    """The wake-up's cost for the writer and the latency it buys, against polling alone."""
    pipes = WakePipes()
    ends = [pipes.new()[0] for _ in range(4)]
    count = 20_000
    start = time.perf_counter()
    for _ in range(count):
        pipes.notify()
        for fd in ends:  # a worker drains its pipe
            os.read(fd, 4096)
    notify_us = (time.perf_counter() - start) / count * 1e6
    pipes.close()
    for fd in ends:
        os.close(fd)
    rows = [["wake-up", "events", "p50 ms", "p99 ms", "max ms"]]
    for name, wake, poll in (("pipe", True, 1.0), ("poll every 100 ms only", False, 0.1)):
        latencies = run_wake_latency(frames, wake=wake, poll_interval=poll)
        rows.append(
            [
                name,
                str(len(latencies)),
                f"{_percentile(latencies, 0.5):.2f}",
                f"{_percentile(latencies, 0.99):.2f}",
                f"{max(latencies):.2f}",
            ]
        )
    rows.append([f"notify() to 4 workers + their reads: {notify_us:.1f} µs", "", "", "", ""])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_flags(parser, "small runs (checks the harness, numbers not meaningful)")
    parser.add_argument("--subscribers", default="50,250")
    parser.add_argument("--frames", type=int, default=20_000, help="frames per strato run")
    parser.add_argument("--ws-frames", type=int, default=2_000, help="frames per websockets run")
    parser.add_argument("--frame-bytes", type=int, default=2_800)
    parser.add_argument("--window", type=int, default=512, help="frames in flight per subscriber")
    parser.add_argument("--batch", type=int, default=100, help="frames per broadcast / commit")
    parser.add_argument("--workers", default="1,2", help="worker counts to run")
    parser.add_argument("--client-procs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is shown")
    args = parser.parse_args(argv)
    profile = build_profile()
    if refuse_debug("relay_fanout_bench.py", profile, args.allow_debug):
        return 2
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.quick:
        args.frames, args.ws_frames, args.repeat = 2_000, 300, 1
    frames = make_frames(max(args.frames, args.ws_frames), args.frame_bytes)
    runs: list[tuple[str, Callable[[list[bytes], int, argparse.Namespace], Result], int]] = [
        ("ws", run_websockets, args.ws_frames),
        ("writer", run_writer, args.frames),
    ]
    runs += [
        (f"workers{n}", functools.partial(run_workers_bench, workers=n), args.frames)
        for n in (int(n) for n in args.workers.split(","))
    ]
    lines = environment(profile, ("strato", "websockets", "uvloop"))
    lines.append(
        f"frames: {args.frame_bytes} bytes; window {args.window} frames per subscriber;"
        f" batch {args.batch}; client processes {args.client_procs}; RLIMIT_NOFILE {hard}"
    )
    print("\n".join(lines), flush=True)
    rows = [
        [
            "run",
            "subscribers",
            "frames",
            "deliveries/s",
            "vs websockets",
            "CPU s: serving (log writer) / clients",
        ]
    ]
    for subscribers in (int(s) for s in args.subscribers.split(",")):
        baseline = None
        for key, run, count in runs:
            result = max(
                (run(frames[:count], subscribers, args) for _ in range(args.repeat)),
                key=lambda result: result.rate,
            )
            if key == "ws":
                baseline = result.rate
            ratio = f"{result.rate / baseline:.1f}x" if baseline else ""
            rows.append(
                [
                    result.name,
                    str(subscribers),
                    str(result.frames),
                    f"{result.rate:,.0f}",
                    ratio,
                    f"{result.server_cpu:.1f}"
                    + (f" ({result.producer_cpu:.1f})" if result.producer_cpu else "")
                    + f" / {result.client_cpu:.1f}",
                ]
            )
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    print(render(rows, args.markdown))
    print(render(wake_rows(frames[: 100 if args.quick else 1000]), args.markdown))
    print(
        f"goals: >= {GOAL_DELIVERIES:,} deliveries/s and >= {GOAL_RATIO:.0f}x websockets.broadcast"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
