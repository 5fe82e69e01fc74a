"""strato's PDS against millipds over HTTP and WebSockets on loopback, with the same harness in
the same run: createRecord at concurrency 1/16/64 and getRecord at 16 (load from ``wrk``),
``getRepo`` of 10k- and 100k-record repositories, firehose replay from cursor 0 (100,000
events by default, read by a raw-socket client in a process of its own: :mod:`wsclient`) and
live fan-out to 1/10/100 subscribers, and each server's memory (VmHWM/VmRSS from ``/proc``).
``--phases`` picks some of them (``--phases replay``: the firehose replay goal alone).

Each server runs as its own subprocess on a fresh data directory, one after the other, alone on
the machine while it is measured; both flush every transaction before answering (strato: LMDB
with sync on; millipds: SQLite in WAL mode with ``synchronous=FULL``, its default). A strato
PLC directory (``python -m strato plc``) serves both: strato's PDS creates its accounts' did:plc
there, and millipds's accounts get theirs from ``strato did create`` (millipds takes a DID and a
signing key from the command line and does not create DIDs itself).

millipds is not a dependency of strato: install it in a venv of its own and name that venv with
``--millipds-venv`` (or ``MILLIPDS_VENV``); without it only strato is measured. ``wrk`` must be
on the PATH (``make bench-pds`` installs Debian's). Phases that a server does not serve (an
unknown method) are reported as not measured. Refuses to run on a strato debug build unless
``--allow-debug``.

    python benches/pds_bench.py --millipds-venv /path/to/venv [--duration 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from benchlib import build_profile, environment, refuse_debug, render
from strato.car import read_car
from strato.syntax import TID
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from wsclient import frame_seq, run_replay

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "pds_wrk.lua"
PASSWORD = "benchmark password 1"
COLLECTION = "app.bsky.feed.post"
SUBSCRIBE = "/xrpc/com.atproto.sync.subscribeRepos"
CREATE_CONCURRENCY = (1, 16, 64)
GET_CONCURRENCY = 16
SUBSCRIBERS = (1, 10, 100)
#: Accounts: the one written to by the load, and one per getRepo size.
MAIN_HANDLE = "bench.test"
WRITES_PER_CALL = 200
#: createRecord connections of wrk while it fills the log for the replay.
TOP_UP_CONNECTIONS = 32
PHASES = ("writes", "replay", "live", "repos")


def repo_handle(size: int) -> str:
    return f"repo{size}.test"


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=2.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


MEMORY_FIELDS = ("VmHWM", "VmRSS", "RssAnon", "RssFile")


def memory_mib(pid: int) -> dict[str, float]:
    """``MEMORY_FIELDS`` of ``pid`` in MiB: the peak resident set, the resident set now, and
    its anonymous (heap) and file-backed (mapped files: LMDB's map) parts."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in MEMORY_FIELDS:
            values[key] = int(rest.split()[0]) / 1024
    return values


@dataclass
class Account:
    did: str
    handle: str
    token: str


@dataclass
class Peer:
    """A running PDS: its URL, its process (the one whose memory is read) and its accounts."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    accounts: dict[str, Account] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def main(self) -> Account:
        return self.accounts[MAIN_HANDLE]


def create_session(url: str, handle: str) -> Account:
    response = httpx.post(
        f"{url}/xrpc/com.atproto.server.createSession",
        json={"identifier": handle, "password": PASSWORD},
        timeout=30.0,
    )
    response.raise_for_status()
    body = response.json()
    return Account(body["did"], body["handle"], body["accessJwt"])


@contextmanager
def plc_directory(work: Path, log: Path) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "strato", "plc", "--port", str(port)]
    command += ["--data-dir", str(work / "plc"), "--log-level", "warning"]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/_health", process)
        yield url
    finally:
        stop(process)


@contextmanager
def strato_pds(
    work: Path, plc_url: str, handles: Sequence[str], extra_path: str | None
) -> Iterator[Peer]:
    """``strato pds`` in a subprocess, with the per-IP and per-account rate limits and the
    per-IP connection cap off (the load comes from loopback addresses;
    ``STRATO_PDS_RATE_LIMITS=false``, ``STRATO_PDS_MAX_CONNECTIONS_PER_IP=0``); ``extra_path``
    goes first on its ``PYTHONPATH`` (to try other versions of packages, say, without a new
    venv)."""
    port = free_port()
    command = [sys.executable, "-m", "strato", "pds", "--port", str(port), "--plc-url", plc_url]
    command += ["--data-dir", str(work / "strato"), "--log-level", "warning"]
    env = {
        **os.environ,
        "STRATO_PDS_RATE_LIMITS": "false",
        "STRATO_PDS_MAX_CONNECTIONS_PER_IP": "0",
    }
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, env.get("PYTHONPATH")) if p)
    with (work / "strato.log").open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/xrpc/_health", process)
        peer = Peer("strato", url, process)
        for handle in handles:
            response = httpx.post(
                f"{url}/xrpc/com.atproto.server.createAccount",
                json={"handle": handle, "password": PASSWORD},
                timeout=30.0,
            )
            response.raise_for_status()
            peer.accounts[handle] = create_session(url, handle)
        yield peer
    finally:
        stop(process)


@contextmanager
def millipds(work: Path, venv: Path, plc_url: str, handles: Sequence[str]) -> Iterator[Peer]:
    """millipds from ``venv``: ``millipds init`` (dev preset: http) in its own working
    directory (its data lives in ``./data``), a did:plc per account from ``strato did create``
    with a k256 signing key that ``millipds account create`` is given, then ``millipds run``."""
    exe = str(venv / "bin" / "millipds")
    port = free_port()
    home = work / "millipds"
    home.mkdir()
    log = (work / "millipds.log").open("ab")
    try:

        def setup(*args: str) -> subprocess.CompletedProcess[bytes]:
            return subprocess.run(args, cwd=home, stdout=subprocess.PIPE, stderr=log, check=True)

        setup(exe, "init", f"localhost:{port}", "--dev")
        pds_url = f"http://localhost:{port}"
        for handle in handles:
            key = work / "millipds-keys" / f"{handle}.pem"
            did_command = [sys.executable, "-m", "strato", "did", "create", "--plc", plc_url]
            did_command += ["--handle", handle, "--pds", pds_url, "--signing-key", str(key)]
            did_command += ["--key-dir", str(key.parent)]
            did = setup(*did_command).stdout.decode().strip()
            setup(exe, "account", "create", did, handle, f"--unsafe_password={PASSWORD}",
                  f"--signing_key={key}")  # fmt: skip
        # As shipped, millipds logs every request (aiohttp's access log at INFO, CORS notes at
        # DEBUG); strato's servers log no access lines, so millipds runs with its root logger
        # at WARNING too (its own entry point, main(), with the level lowered after import).
        quiet = (
            "import logging, sys; import millipds.__main__ as m; "
            "logging.getLogger().setLevel(logging.WARNING); "
            "sys.argv = ['millipds', 'run', '--listen_port', sys.argv[1]]; m.main()"
        )
        process = subprocess.Popen(
            [str(venv / "bin" / "python"), "-c", quiet, str(port)], cwd=home, stdout=log,
            stderr=log,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/xrpc/_health", process)
            peer = Peer("millipds", url, process)
            for handle in handles:
                peer.accounts[handle] = create_session(url, handle)
            yield peer
        finally:
            stop(process)
    finally:
        log.close()


# -- wrk ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk_command(url: str, connections: int, duration: float) -> list[str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "30s"]
    return [*command, "-s", str(WRK_SCRIPT), url]


def wrk(url: str, connections: int, duration: float, env: dict[str, str], log: Path) -> WrkResult:
    """A wrk run of ``duration`` seconds."""
    command = wrk_command(url, connections, duration)
    result = subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return wrk_result(command, result.stdout + result.stderr, log)


def wrk_result(command: list[str], output: str, log: Path) -> WrkResult:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n{output}\n")
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    data = json.loads(line.removeprefix("BENCH "))
    errors = sum(data[k] for k in data if k.endswith("errors") or k == "timeouts")
    return WrkResult(
        data["requests"], data["duration_us"] / 1e6, errors, data["p50_us"] / 1e3,
        data["p99_us"] / 1e3,
    )  # fmt: skip


def create_env(account: Account, limit: int = 0) -> dict[str, str]:
    return {
        "BENCH_MODE": "create",
        "BENCH_DID": account.did,
        "BENCH_TOKEN": account.token,
        "BENCH_LIMIT": str(limit),
    }


# -- firehose -----------------------------------------------------------------------------------


async def current_seq(peer: Peer) -> int:
    """The seq of a new event: one createRecord, read by a live subscriber."""
    async with (
        connect(peer.ws_url + SUBSCRIBE, max_size=None, compression=None, close_timeout=1) as ws,
        httpx.AsyncClient(base_url=peer.url, timeout=30.0) as http,
    ):
        await asyncio.sleep(0.2)  # the server registers the subscriber after the handshake
        await create_record(http, peer.main, "seq probe")
        return frame_seq(await ws.recv(decode=False))


def top_up(peer: Peer, events: int, log: Path) -> int:
    """createRecords from wrk (``TOP_UP_CONNECTIONS`` at a time) until the log holds at least
    ``events`` events; the seq of the last one (a probe's, read by a live subscriber)."""
    head = asyncio.run(current_seq(peer))
    url = f"{peer.url}/xrpc/com.atproto.repo.createRecord"
    while head < events:
        with tempfile.TemporaryDirectory() as tmp:
            done = Path(tmp) / "done"
            env = {**os.environ, **create_env(peer.main, events - head)}
            env["BENCH_DONE_FILE"] = str(done)
            command = wrk_command(url, TOP_UP_CONNECTIONS, 3600)
            load = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            try:
                while not done.exists() and load.poll() is None:
                    time.sleep(0.2)
            finally:
                load.send_signal(signal.SIGINT)
                output, _ = load.communicate()
        result = wrk_result(command, output, log)
        say(peer, f"top-up: {result.requests:,} createRecords at {result.rate:,.0f}/s"
                  f" ({result.errors} errors)")  # fmt: skip
        if result.requests <= result.errors:
            raise RuntimeError(f"{peer.name}: the top-up's createRecords all failed")
        head = asyncio.run(current_seq(peer))
    return head


def replay(peer: Peer, events: int) -> tuple[float, int]:
    """Read from cursor 0 up to the event ``events`` (seqs start at 1 on both servers) with a
    raw-socket client in a process of its own (:func:`wsclient.run_replay`): seconds and
    payload bytes. The client only parses frame headers (its cost is part of the figure); the
    first and last messages are decoded to check that they are events 1 and ``events``."""
    result = run_replay(peer.port, f"{SUBSCRIBE}?cursor=0", events)
    seqs = (result.first_seq, result.last_seq, result.messages)
    if seqs != (1, events, events):
        raise RuntimeError(f"{peer.name}: replay gave seqs {seqs[0]}..{seqs[1]} in {seqs[2]}"
                           " messages")  # fmt: skip
    return result.seconds, result.wire_bytes


async def live(peer: Peer, subscribers: int, events: int, log: Path) -> tuple[float, str]:
    """``subscribers`` live subscribers, then ``events`` createRecords at concurrency 16 from
    wrk; seconds from the start of the load to the last subscriber's last event, and a note
    (empty, or how subscribers were cut off)."""
    connected = 0
    all_connected = asyncio.Event()
    finished: list[float] = []
    problems: list[str] = []

    async def subscriber(index: int) -> None:
        nonlocal connected
        seen = 0
        previous = None
        # ten subscribers per loopback address, as strato caps connections per client address
        source = (f"127.0.0.{2 + index // 10}", 0)
        try:
            async with connect(
                peer.ws_url + SUBSCRIBE, max_size=None, compression=None, max_queue=1024,
                close_timeout=1, local_addr=source,
            ) as ws:  # fmt: skip
                connected += 1
                if connected == subscribers:
                    all_connected.set()
                while seen < events:
                    seq = frame_seq(await ws.recv(decode=False))
                    if previous is not None and seq <= previous:
                        raise RuntimeError(f"seq {seq} after {previous}")
                    previous = seq
                    seen += 1
                finished.append(time.perf_counter())
        except (ConnectionClosed, InvalidStatus, RuntimeError) as err:
            problems.append(f"cut after {seen}: {err}")
            all_connected.set()

    tasks = [asyncio.create_task(subscriber(index)) for index in range(subscribers)]
    await asyncio.wait_for(all_connected.wait(), 60)
    if problems:
        raise RuntimeError(f"{peer.name}: subscribers could not connect: {problems[0]}")
    await asyncio.sleep(0.5)  # let the servers register the last subscribers
    # wrk stops sending after ``events`` answers but only exits at its deadline or on SIGINT
    command = wrk_command(f"{peer.url}/xrpc/com.atproto.repo.createRecord", 16, 600)
    started = time.perf_counter()
    load = subprocess.Popen(
        command, env={**os.environ, **create_env(peer.main, events)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), 600)
    finally:
        load.send_signal(signal.SIGINT)
        output, _ = load.communicate()
    result = wrk_result(command, output, log)
    if result.errors:
        problems.append(f"{result.errors} createRecord errors")
    note = f"{len(problems)} subscribers cut off ({problems[0]})" if problems else ""
    end = max(finished) if finished else time.perf_counter()
    return end - started, note


# -- repositories -------------------------------------------------------------------------------


def post(label: str) -> dict[str, Any]:
    return {
        "$type": COLLECTION,
        "text": f"{label}: a post of a repository built for the benchmark",
        "createdAt": "2026-11-24T12:00:00.000Z",
        "langs": ["en"],
    }


async def create_record(http: httpx.AsyncClient, account: Account, label: str) -> None:
    """One createRecord."""
    response = await http.post(
        "/xrpc/com.atproto.repo.createRecord",
        json={"repo": account.did, "collection": COLLECTION, "record": post(label)},
        headers={"Authorization": f"Bearer {account.token}"},
    )
    if response.status_code != 200:
        raise RuntimeError(f"createRecord: {response.status_code} {response.text[:300]}")


async def create_records(http: httpx.AsyncClient, account: Account, count: int, label: str) -> None:
    """``count`` posts in ``account``'s repo via applyWrites, 200 per call (one createRecord
    at a time if the server has no applyWrites)."""
    headers = {"Authorization": f"Bearer {account.token}"}
    # rkeys are TIDs made here: millipds gives several creates of one call the same TID
    writes = [
        {"$type": "com.atproto.repo.applyWrites#create", "collection": COLLECTION,
         "rkey": str(TID.next()), "value": post(f"{label} {i}")}
        for i in range(count)
    ]  # fmt: skip
    for start in range(0, count, WRITES_PER_CALL):
        body = {"repo": account.did, "writes": writes[start : start + WRITES_PER_CALL]}
        response = await http.post("/xrpc/com.atproto.repo.applyWrites", json=body, headers=headers)
        if response.status_code in (404, 501):
            for i in range(start, count):
                await create_record(http, account, f"{label} {i}")
            return
        if response.status_code != 200:
            raise RuntimeError(f"applyWrites: {response.status_code} {response.text[:300]}")


async def load_repo(peer: Peer, handle: str, size: int) -> float:
    async with httpx.AsyncClient(base_url=peer.url, timeout=120.0) as http:
        started = time.perf_counter()
        await asyncio.gather(
            *(create_records(http, peer.accounts[handle], size // 8, f"part {i}") for i in range(8))
        )
        return time.perf_counter() - started


async def get_repo(peer: Peer, did: str) -> tuple[float, bytes]:
    async with httpx.AsyncClient(base_url=peer.url, timeout=300.0) as http:
        chunks = []
        started = time.perf_counter()
        async with http.stream("GET", "/xrpc/com.atproto.sync.getRepo", params={"did": did}) as r:
            if r.status_code != 200:
                raise RuntimeError(f"getRepo: {r.status_code} {(await r.aread())[:300]!r}")
            async for chunk in r.aiter_raw():
                chunks.append(chunk)
        return time.perf_counter() - started, b"".join(chunks)


def serves(peer: Peer, method: str, **params: str) -> bool:
    """Whether ``peer`` has the XRPC ``method`` (not a 404 nor MethodNotImplemented)."""
    response = httpx.get(f"{peer.url}/xrpc/{method}", params=params, timeout=30.0)
    return response.status_code not in (404, 405, 501)


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Figures:
    """One server's results, by measurement name (None: not measured)."""

    values: dict[str, float | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def say(peer: Peer, text: str) -> None:
    print(f"  {peer.name} {text}", file=sys.stderr)


def measure_peer(peer: Peer, args: argparse.Namespace, work: Path) -> Figures:
    """The phases of ``--phases`` on ``peer``, in order (the replayed log is the writes' own,
    topped up)."""
    figures = Figures()
    log = work / f"{peer.name}-wrk.log"
    if "writes" in args.phases:
        measure_writes(peer, args, log, figures)
    if "replay" in args.phases:
        measure_replay(peer, args, log, figures)
    if "live" in args.phases:
        measure_live(peer, args, log, figures)
    for name, mib in memory_mib(peer.process.pid).items():
        figures.values[f"memory after writes {name} MiB"] = mib
    for size in args.sizes if "repos" in args.phases else ():
        measure_get_repo(peer, size, args.repeat, figures)
    for name, mib in memory_mib(peer.process.pid).items():
        figures.values[f"memory at end {name} MiB"] = mib
    return figures


def note_wrk(figures: Figures, key: str, result: WrkResult) -> None:
    figures.values[f"{key} req/s"] = result.rate
    figures.values[f"{key} p50 ms"] = result.p50_ms
    figures.values[f"{key} p99 ms"] = result.p99_ms
    if result.errors:
        figures.notes[f"{key} req/s"] = f"{result.errors} errors"


def measure_writes(peer: Peer, args: argparse.Namespace, log: Path, figures: Figures) -> None:
    """createRecord at each concurrency, then getRecord of one record at 16."""
    create_url = f"{peer.url}/xrpc/com.atproto.repo.createRecord"
    for connections in CREATE_CONCURRENCY:
        result = wrk(create_url, connections, args.duration, create_env(peer.main), log)
        note_wrk(figures, f"createRecord c={connections}", result)
        say(peer, f"createRecord c={connections}: {result.rate:,.0f} req/s")
    rkey = str(TID.next())  # app.bsky.feed.post's record key type is tid
    response = httpx.post(
        create_url,
        json={"repo": peer.main.did, "collection": COLLECTION, "rkey": rkey,
              "record": post("read me")},
        headers={"Authorization": f"Bearer {peer.main.token}"},
        timeout=30.0,
    )  # fmt: skip
    response.raise_for_status()
    get_url = (
        f"{peer.url}/xrpc/com.atproto.repo.getRecord"
        f"?repo={peer.main.did}&collection={COLLECTION}&rkey={rkey}"
    )
    result = wrk(get_url, GET_CONCURRENCY, args.duration, {"BENCH_MODE": "get"}, log)
    note_wrk(figures, f"getRecord c={GET_CONCURRENCY}", result)
    say(peer, f"getRecord: {result.rate:,.0f} req/s")


def measure_replay(peer: Peer, args: argparse.Namespace, log: Path, figures: Figures) -> None:
    """Replay from cursor 0 (best of ``--repeat``), the log topped up first."""
    values, notes = figures.values, figures.notes
    head = top_up(peer, args.replay, log)
    times = []
    for _ in range(args.repeat):
        seconds, size = replay(peer, args.replay)
        times.append(seconds)
    values["replay events/s"] = args.replay / min(times)
    values["replay MB/s"] = size / min(times) / 1e6
    values["log events at replay"] = head
    notes["replay events/s"] = f"{args.replay} events, median {statistics.median(times):.3f} s"
    say(peer, f"replay: {args.replay} events in {min(times):.3f} s ({size / args.replay:,.0f}"
              " bytes per message)")  # fmt: skip


def measure_live(peer: Peer, args: argparse.Namespace, log: Path, figures: Figures) -> None:
    """Live fan-out to each count of ``SUBSCRIBERS``."""
    values, notes = figures.values, figures.notes
    for subscribers in SUBSCRIBERS:
        events = args.live // max(subscribers // 10, 1)
        seconds, note = asyncio.run(live(peer, subscribers, events, log))
        key = f"live {subscribers} subscribers events/s"
        values[key] = None if note else events / seconds
        if note:
            notes[key] = note
        say(peer, f"live x{subscribers}: {events / seconds:,.0f} events/s {note}")


def measure_get_repo(peer: Peer, size: int, repeat: int, figures: Figures) -> None:
    """Fill the account of ``size`` records, then time its whole export (best of
    ``repeat``); the CAR is read back with every hash checked."""
    key = f"getRepo {size // 1000}k ms"
    account = peer.accounts[repo_handle(size)]
    if not serves(peer, "com.atproto.sync.getRepo", did=account.did):
        figures.values[key] = None
        figures.notes[key] = "not served (yet)"
        return
    load = asyncio.run(load_repo(peer, repo_handle(size), size))
    say(peer, f"loaded {size} records in {load:.1f} s")
    figures.values[f"applyWrites {size // 1000}k records/s"] = size / load
    times = []
    for _ in range(repeat):
        seconds, car = asyncio.run(get_repo(peer, account.did))
        times.append(seconds)
    roots, blocks = read_car(car, verify=True)
    if len(roots) != 1 or len(blocks) < size:
        raise RuntimeError(f"{peer.name}: getRepo of {size} records has {len(blocks)} blocks")
    figures.values[key] = min(times) * 1e3
    figures.values[f"getRepo {size // 1000}k MB"] = len(car) / 1e6
    figures.notes[key] = f"median {statistics.median(times) * 1e3:.0f} ms"
    say(peer, f"getRepo {size}: {min(times) * 1e3:.0f} ms")


@dataclass(frozen=True)
class Goal:
    """A row: ``measurement`` with its ratio strato/millipds (``higher``: rates, sizes,
    memory) or millipds/strato (times), and the target for that ratio (at least; at most when
    ``at_most``)."""

    measurement: str
    higher: bool
    target: float | None = None
    at_most: bool = False


def goals(sizes: Sequence[int]) -> list[Goal]:
    rows = []
    for c in CREATE_CONCURRENCY:
        rows += [
            Goal(f"createRecord c={c} req/s", True, 3.0),
            Goal(f"createRecord c={c} p50 ms", False),
            Goal(f"createRecord c={c} p99 ms", False),
        ]
    rows += [
        Goal("getRecord c=16 req/s", True, 2.0),
        Goal("getRecord c=16 p50 ms", False),
        Goal("getRecord c=16 p99 ms", False),
    ]
    for size in sizes:
        rows += [
            Goal(f"applyWrites {size // 1000}k records/s", True),
            Goal(f"getRepo {size // 1000}k ms", False, 3.0),
            Goal(f"getRepo {size // 1000}k MB", True),
        ]
    rows += [
        Goal("log events at replay", True),
        Goal("replay events/s", True, 3.0),
        Goal("replay MB/s", True),
    ]
    rows += [Goal(f"live {n} subscribers events/s", True) for n in SUBSCRIBERS]
    rows += [
        *(Goal(f"memory after writes {name} MiB", True) for name in MEMORY_FIELDS),
        Goal("memory at end VmHWM MiB", True, 2.5, at_most=True),
        *(Goal(f"memory at end {name} MiB", True) for name in MEMORY_FIELDS[1:]),
    ]
    return rows


def report(results: dict[str, Figures], sizes: Sequence[int], markdown: bool) -> str:
    strato, peer = results["strato"], results.get("millipds")
    head = ["measurement", "strato", "millipds", "ratio", "goal", "status", "note"]
    lines: list[Sequence[str]] = [head]

    def fmt(value: float | None) -> str:
        if value is None:
            return "not measured"
        return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"

    for goal in goals(sizes):
        ours = strato.values.get(goal.measurement)
        theirs = peer.values.get(goal.measurement) if peer else None
        if ours is None and theirs is None and goal.measurement not in strato.notes:
            continue  # a phase not run (--phases)
        ratio = status = ""
        if ours and theirs:
            # rates: strato/millipds; times: millipds/strato; memory: strato/millipds
            value = ours / theirs if goal.higher else theirs / ours
            ratio = f"{value:.2f}x"
            if goal.target is not None:
                met = value <= goal.target if goal.at_most else value >= goal.target
                status = "met" if met else "NOT MET"
        target = ""
        if goal.target is not None:
            target = f"<= {goal.target:g}x" if goal.at_most else f">= {goal.target:g}x"
        notes = [n for n in (strato.notes.get(goal.measurement),
                             peer.notes.get(goal.measurement) if peer else None) if n]  # fmt: skip
        lines.append([goal.measurement, fmt(ours),
                      fmt(theirs) if peer else "skipped", ratio, target, status,
                      "; ".join(notes)])  # fmt: skip
    return render(lines, markdown)


def millipds_venv(option: str | None) -> Path | None:
    value = option or os.environ.get("MILLIPDS_VENV")
    if not value:
        return None
    path = Path(value)
    if not (path / "bin" / "millipds").exists():
        raise SystemExit(f"pds_bench.py: no millipds in {path} (expected {path}/bin/millipds)")
    return path


def run_all(args: argparse.Namespace, venv: Path | None) -> dict[str, Figures]:
    sizes = args.sizes if "repos" in args.phases else []
    handles = [MAIN_HANDLE, *(repo_handle(size) for size in sizes)]
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="pds-bench-") as tmp:
        work = Path(tmp)
        with plc_directory(work, work / "plc.log") as plc_url:
            starters: list[tuple[str, Callable[[], Any]]] = [
                ("strato", lambda: strato_pds(work, plc_url, handles, args.strato_extra_path))
            ]
            if venv is not None:
                starters.append(("millipds", lambda: millipds(work, venv, plc_url, handles)))
            for name, start in starters:
                print(f"{name}:", file=sys.stderr)
                with start() as peer:
                    results[name] = measure_peer(peer, args, work)
        if args.keep_logs:
            for log in work.glob("*.log"):
                shutil.copy(log, args.keep_logs)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--millipds-venv", help="a venv with millipds installed (default: $MILLIPDS_VENV)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument(
        "--sizes", default="10000,100000", help="getRepo repository sizes (records)"
    )
    parser.add_argument("--live", type=int, default=2000, help="live events (1 and 10 subscribers)")
    parser.add_argument("--replay", type=int, default=100_000, help="events replayed from cursor 0")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated phases to run, of {', '.join(PHASES)} (default all)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--repeat", type=int, default=3, help="replays and getRepos per size")
    parser.add_argument(
        "--strato-extra-path",
        metavar="DIR",
        help="put DIR first on the strato server's PYTHONPATH (e.g. a pip --target dir with "
        "other versions of its packages to try)",
    )
    parser.add_argument("--keep-logs", type=Path, help="copy the servers' logs to this directory")
    parser.add_argument("--quick", action="store_true", help="2 s wrk runs, 1k-record repos")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--allow-debug", action="store_true", help="run on a debug build")
    args = parser.parse_args(argv)
    profile = build_profile()
    if refuse_debug("pds_bench.py", profile, args.allow_debug):
        return 2
    if shutil.which("wrk") is None:
        print("pds_bench.py: wrk is not installed (make bench-pds installs it)", file=sys.stderr)
        return 2
    venv = millipds_venv(args.millipds_venv)
    if venv is None:
        print("pds_bench.py: no millipds venv given (--millipds-venv or MILLIPDS_VENV): "
              "measuring strato alone", file=sys.stderr)  # fmt: skip
    args.sizes = [int(size) for size in args.sizes.split(",") if size]
    args.phases = [phase for phase in args.phases.split(",") if phase]
    if unknown := set(args.phases) - set(PHASES):
        parser.error(f"unknown phases {sorted(unknown)}: choose among {', '.join(PHASES)}")
    if args.quick:
        args.duration, args.sizes, args.live, args.repeat, args.replay = 2.0, [1000], 200, 1, 500
    results = run_all(args, venv)
    wrk_version = subprocess.run(["wrk", "-v"], check=False, capture_output=True, text=True)
    extra = [
        f"wrk: {wrk_version.stdout.split()[1]}, one thread; {args.duration:g} s per run",
        f"millipds: {venv if venv else 'not measured'}",
        f"strato server extra path: {args.strato_extra_path or 'none'}",
    ]
    for line in environment(profile, ("strato", "uvicorn", "starlette", "httpx"), extra):
        print(line)
    print()
    print(report(results, args.sizes, args.markdown))
    if args.json:
        args.json.write_text(
            json.dumps(
                {name: {"values": f.values, "notes": f.notes} for name, f in results.items()}
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
