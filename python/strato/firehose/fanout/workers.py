"""Starting, waking and stopping fan-out worker processes (the writing process's side).

Each worker (:mod:`strato.firehose.fanout.worker`) is a separate Python process, so serving costs
spread over every core: it opens the service's LMDB log read-only (LMDB readers are
multi-process), binds its own listening socket to the service's address with ``SO_REUSEPORT``
(the kernel spreads new connections over the processes listening there), and serves
``subscribeRepos`` through its own Rust writer. Workers are started with ``subprocess`` rather
than ``fork``, since the parent holds LMDB environments and threads that a fork would copy.

    listener = bind_reuseport(settings.host, settings.port)   # uvicorn serves the app on it
    receiver = HandoffReceiver(data_dir / "fanout.sock", uvicorn_handler(uvicorn_server))
    receiver.start()                                          # in the main event loop
    workers = run_workers(LogSpec(path, "relay", SCHEMA), data_dir, listener, n,
                          metrics_dir=data_dir / "metrics", handoff_path=receiver.path)
    workers.wait_ready()
    ...                         # after each commit of the log: workers.notify()
    workers.stop()              # SIGTERM: each closes its consumers with 1001 and exits

The consumer table (:class:`~strato.firehose.fanout.consumers.ConsumerRegistry` under the data
directory) lists every worker's consumers; with ``metrics_dir`` the workers write their metrics
there (prometheus_client multiprocess mode) for
:func:`~strato.firehose.fanout.metrics.add_worker_collector`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from prometheus_client import multiprocess

from strato.firehose.fanout.server import FanoutOptions
from strato.firehose.fanout.wake import WakePipes
from strato.storage.private import make_dir

#: What a worker prints on its standard output once it serves.
READY_LINE: Final = b"ready\n"


class WorkerError(Exception):
    """A worker process that did not start."""


@dataclass(frozen=True)
class LogSpec:
    """How a worker opens the service's event log: the LMDB directory and the service name and
    schema version the service's store was created with."""

    path: Path
    name: str
    schema_version: int


def bind_reuseport(
    host: str, port: int, *, listen: bool = True, backlog: int = 1024
) -> socket.socket:
    """A TCP socket bound with ``SO_REUSEPORT``, so workers can bind the same address. The
    kernel spreads connections over every socket *listening* there: a process that will not
    accept on it (the main process when only workers serve the port) passes
    ``listen=False``, which keeps the port reserved without taking connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class FanoutWorkers:
    """The running workers. :meth:`restart_exited` replaces any that has died (the main
    process accepts nothing on the port itself, so a worker lost is a share of the port's
    connections refused until it is back)."""

    def __init__(
        self,
        spawn: Callable[[], tuple[subprocess.Popen[bytes], int]],
        pipes: WakePipes,
        metrics_dir: Path | None,
    ) -> None:
        self._spawn = spawn
        self._pipes = pipes
        self.metrics_dir = metrics_dir
        self._writers: dict[int, int] = {}
        self._ready: set[int] = set()
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            self._start_one()

    def _start_one(self) -> subprocess.Popen[bytes]:
        proc, write_end = self._spawn()
        self.procs.append(proc)
        self._writers[proc.pid] = write_end
        return proc

    def restart_exited(self) -> list[tuple[int, int]]:
        """Start a new worker for each that has exited; ``(old pid, new pid)`` of each."""
        restarted = []
        for proc in [proc for proc in self.procs if proc.poll() is not None]:
            self._forget(proc)
            self.procs.remove(proc)
            replacement = self._start_one()
            restarted.append((proc.pid, replacement.pid))
        return restarted

    def _forget(self, proc: subprocess.Popen[bytes]) -> None:
        self._ready.discard(proc.pid)
        if proc.stdout is not None:
            proc.stdout.close()
        write_end = self._writers.pop(proc.pid, None)
        if write_end is not None:
            self._pipes.drop(write_end)
        if self.metrics_dir is not None:
            multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
                proc.pid, str(self.metrics_dir)
            )

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until every worker serves; :class:`WorkerError` if one exits or times out."""
        deadline = time.monotonic() + timeout
        for proc in list(self.procs):
            if proc.pid in self._ready:
                continue
            assert proc.stdout is not None
            os.set_blocking(proc.stdout.fileno(), False)
            line = b""
            while not line.endswith(b"\n"):
                if proc.poll() is not None:
                    raise WorkerError(f"fan-out worker {proc.pid} exited with {proc.returncode}")
                if time.monotonic() > deadline:
                    raise WorkerError(f"fan-out worker {proc.pid} did not start in {timeout} s")
                with contextlib.suppress(BlockingIOError, TypeError):
                    line += proc.stdout.read(64) or b""
                time.sleep(0.01)
            if line != READY_LINE:
                raise WorkerError(f"fan-out worker {proc.pid} said {line!r}")
            self._ready.add(proc.pid)

    def notify(self) -> None:
        """New events are durable in the log: wake every worker. Safe from any thread."""
        self._pipes.notify()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after ``timeout``) and wait for them."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self._forget(proc)
        self._pipes.close()


def run_workers(
    log: LogSpec,
    data_dir: Path,
    listener: socket.socket,
    count: int,
    *,
    options: FanoutOptions | None = None,
    metrics_dir: Path | None = None,
    handoff_path: Path | None = None,
) -> FanoutWorkers:
    """Start ``count`` workers serving ``subscribeRepos`` on ``listener``'s address (bound
    with :func:`bind_reuseport`) from the log ``log``; consumers are registered under
    ``data_dir``. Requests for other paths go to the
    :class:`~strato.firehose.fanout.handoff.HandoffReceiver` listening at ``handoff_path``
    (None: they are answered 404). Returns at once; :meth:`FanoutWorkers.wait_ready` waits."""
    if count < 1:
        raise ValueError("at least one worker")
    if not listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT):
        raise ValueError("the listening socket must be bound with SO_REUSEPORT")
    host, port = listener.getsockname()[:2]
    env = dict(os.environ)
    if metrics_dir is not None:
        make_dir(metrics_dir)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    pipes = WakePipes()

    def spawn() -> tuple[subprocess.Popen[bytes], int]:
        wake_fd, write_end = pipes.new()
        spec = {
            "log": {"path": str(log.path), "name": log.name, "schema_version": log.schema_version},
            "data_dir": str(data_dir),
            "host": host,
            "port": port,
            "wake_fd": wake_fd,
            "handoff_path": None if handoff_path is None else str(handoff_path),
            "options": asdict(options if options is not None else FanoutOptions()),
        }
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "strato.firehose.fanout.worker", json.dumps(spec)],
                stdout=subprocess.PIPE,
                pass_fds=(wake_fd,),
                env=env,
                # What a worker writes under the data directory (its metrics files, made by
                # prometheus_client with the default mode) is for the owner only.
                umask=0o077,
            )
        except BaseException:
            pipes.drop(write_end)
            raise
        finally:
            os.close(wake_fd)
        return proc, write_end

    workers = FanoutWorkers(spawn, pipes, metrics_dir)
    try:
        workers.start(count)
    except BaseException:
        workers.stop(timeout=5)
        raise
    return workers
