"""Fan-out worker processes: two workers (separate processes, one port through SO_REUSEPORT)
serve subscribers from one LMDB log that this test process writes, as the ingest process does.
Every subscriber gets every event, byte-identical and in order, whichever worker serves it; the
consumer table lists the consumers of both workers; the workers' metrics add up in
multiprocess mode; stopping the workers closes every consumer with 1001 and empties the
table; workers whose ingest process dies (SIGKILL) exit on their own; a request for another
path accepted by a worker is answered by the main process's app (hand-off)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strato.firehose import SUBSCRIBE_REPOS_PATH, TABLES, LmdbEventLog, Retention, encode_message
from strato.firehose.fanout.consumers import ConsumerRegistry
from strato.firehose.fanout.handoff import HandoffReceiver, uvicorn_handler
from strato.firehose.fanout.metrics import add_worker_collector
from strato.firehose.fanout.workers import (
    FanoutWorkers,
    LogSpec,
    WorkerError,
    bind_reuseport,
    run_workers,
)
from strato.storage import Store
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TIMEOUT = 30.0
#: Connections opened until both workers serve some (2 workers: all on one has odds 2^-39).
MAX_CONNECTIONS = 40


def append(store: Store, sequencer: LmdbEventLog, count: int) -> list[bytes]:
    frames: list[bytes] = []
    with store.write() as txn:
        for _ in range(count):

            def build(seq: int) -> bytes:
                frame = encode_message("#info", {"name": "n", "message": str(seq)})
                frames.append(frame)
                return frame

            sequencer.append(txn, [build])
    return frames


def test_two_workers_serve_one_log_written_by_a_third_process(tmp_path: Path) -> None:
    spec = LogSpec(tmp_path / "log", "relay", 1)
    store = Store.open(spec.path, name="relay", schema_version=1, tables=TABLES, sync=False)
    sequencer = LmdbEventLog(store, retention=Retention(None, None))
    history = append(store, sequencer, 3)
    listener = bind_reuseport("127.0.0.1", 0, listen=False)
    port = listener.getsockname()[1]
    metrics_dir = tmp_path / "metrics"
    workers = run_workers(spec, tmp_path / "data", listener, 2, metrics_dir=metrics_dir)
    registry = ConsumerRegistry.open(tmp_path / "data", "relay")
    try:
        workers.wait_ready()
        asyncio.run(
            _serve_and_check(
                workers, registry, store=store, sequencer=sequencer, history=history, port=port
            )
        )
        prometheus = CollectorRegistry()
        add_worker_collector(prometheus, str(metrics_dir))
        sent = prometheus.get_sample_value("strato_firehose_frames_sent_total")
        assert sent is not None
        assert sent > 0
    finally:
        workers.stop()
        listener.close()
    assert all(proc.returncode == 0 for proc in workers.procs)
    assert registry.list() == []
    registry.close()
    store.close()


async def _serve_and_check(
    workers: FanoutWorkers,
    registry: ConsumerRegistry,
    *,
    store: Store,
    sequencer: LmdbEventLog,
    history: list[bytes],
    port: int,
) -> None:
    url = f"ws://127.0.0.1:{port}{SUBSCRIBE_REPOS_PATH}?cursor=0"
    clients: list[ClientConnection] = []
    while {consumer.pid for consumer in registry.list()} != set(workers.pids):
        assert len(clients) < MAX_CONNECTIONS, "every connection went to one worker"
        client = await connect(url)
        clients.append(client)
        for frame in history:  # the replay, whichever worker serves it
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == frame
        await _until(lambda: len(registry.list()) == len(clients))
    listed = registry.list()
    assert len(listed) == len(clients)
    assert {(consumer.remote, consumer.cursor) for consumer in listed} == {("127.0.0.1", 0)}
    prometheus = CollectorRegistry()
    assert workers.metrics_dir is not None
    add_worker_collector(prometheus, str(workers.metrics_dir))
    assert prometheus.get_sample_value("strato_firehose_subscribers") == len(clients)
    live = append(store, sequencer, 20)
    workers.notify()
    for client in clients:
        got = [await asyncio.wait_for(client.recv(), TIMEOUT) for _ in live]
        assert got == live
    await asyncio.get_running_loop().run_in_executor(None, workers.stop)
    for client in clients:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.recv(), TIMEOUT)
        assert client.close_code == 1001


async def _until(predicate: object) -> None:
    async def poll() -> None:
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), TIMEOUT)


def test_a_worker_that_cannot_open_the_log_is_reported(tmp_path: Path) -> None:
    listener = bind_reuseport("127.0.0.1", 0, listen=False)
    workers = run_workers(LogSpec(tmp_path / "missing", "relay", 1), tmp_path, listener, 1)
    try:
        with pytest.raises(WorkerError, match="exited"):
            workers.wait_ready()
    finally:
        workers.stop()
        listener.close()


def test_the_listener_must_allow_reuseport(tmp_path: Path) -> None:
    plain = socket.create_server(("127.0.0.1", 0))
    with pytest.raises(ValueError, match="SO_REUSEPORT"):
        run_workers(LogSpec(tmp_path, "relay", 1), tmp_path, plain, 1)
    plain.close()


PARENT = """
import sys
from pathlib import Path
from strato.firehose.fanout.workers import LogSpec, bind_reuseport, run_workers
listener = bind_reuseport("127.0.0.1", 0, listen=False)
workers = run_workers(LogSpec(Path(sys.argv[1]), "relay", 1), Path(sys.argv[2]), listener, 2)
workers.wait_ready()
print(" ".join(map(str, workers.pids)), flush=True)
sys.stdin.read()
"""


def _ended(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def test_workers_exit_when_the_ingest_process_dies(tmp_path: Path) -> None:
    spec = LogSpec(tmp_path / "log", "relay", 1)
    Store.open(spec.path, name="relay", schema_version=1, tables=TABLES).close()
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(spec.path), str(tmp_path / "data")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert parent.stdout is not None
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(pids) == 2
    parent.kill()  # SIGKILL: no clean-up of its own; the wake pipes reach end of file
    parent.communicate()
    deadline = time.monotonic() + TIMEOUT
    while not all(_ended(pid) for pid in pids):
        assert time.monotonic() < deadline, "workers outlived the ingest process"
        time.sleep(0.02)
    registry = ConsumerRegistry.open(tmp_path / "data", "relay")
    assert registry.list() == []
    registry.close()


async def _hello(request: Request) -> JSONResponse:
    assert request.client is not None
    return JSONResponse({"served_by": os.getpid(), "client": request.client.host})


def test_a_worker_hands_other_requests_to_the_main_process(tmp_path: Path) -> None:
    spec = LogSpec(tmp_path / "log", "relay", 1)
    Store.open(spec.path, name="relay", schema_version=1, tables=TABLES).close()

    async def main() -> None:
        app = Starlette(routes=[Route("/xrpc/_health", _hello)])
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
        own = socket.create_server(("127.0.0.1", 0))
        serving = asyncio.create_task(server.serve(sockets=[own]))
        while not server.started:
            await asyncio.sleep(0.01)
        receiver = HandoffReceiver(tmp_path / "fanout.sock", uvicorn_handler(server))
        receiver.start()
        listener = bind_reuseport("127.0.0.1", 0, listen=False)
        workers = run_workers(spec, tmp_path, listener, 1, handoff_path=receiver.path)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, workers.wait_ready)
            port = listener.getsockname()[1]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                answer = await http.get("/xrpc/_health")
            # Accepted by the worker, answered by this process's app.
            assert answer.json() == {"served_by": os.getpid(), "client": "127.0.0.1"}
        finally:
            await loop.run_in_executor(None, workers.stop)
            receiver.stop()
            server.should_exit = True
            await serving
            own.close()
            listener.close()

    asyncio.run(main())
