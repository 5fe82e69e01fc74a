"""Relay benchmarks: simulated PDS hosts (:mod:`loadgen`) push valid signed sync 1.1
commits into a relay running as a subprocess, and counting subscribers on the relay's
``subscribeRepos`` measure what comes out.

- throughput: every host sends its share of ``--events`` as fast as its socket takes; the
  maximum sustained verified+persisted events/s is the events the relay's subscriber received
  over the time from the first frame sent to the last frame received;
- latency: then ``--rate`` events/s for ``--latency-seconds``; each frame's end-to-end latency
  is the time the subscriber received it minus the time its host sent it (the harness keeps the
  send time of every frame and the subscriber reads only the frame's ``rev``, unique across the
  dataset); p50, p99, max;
- disk: the relay's data directory (blocks in use) over the events it holds;
- rss: the relay's resident memory (its process and children) once it is also subscribed to
  idle hosts, ``--idle-hosts`` more than the active ones in all (connections that send nothing).

The relay is started as ``python -m strato relay --local-network --data-dir D --port P
--plc-url U`` with ``STRATO_RELAY_NEW_HOSTS_PER_DAY`` and ``STRATO_RELAY_DEFAULT_ACCOUNT_LIMIT``
raised so every simulated host and account is taken and no per-host rate limit binds; hosts
are added with ``requestCrawl``. Idle hosts run in child processes (5,000 each).
The accounts are written into a PLC directory's store before the directory (``python -m strato
plc``) starts. The dataset is generated once and cached under ``--cache`` (``benches/data/``).

``--direct`` runs the same phases with no relay: one counting subscriber per host, connected to
the host itself. That measures the harness's own ceiling (what the hosts and subscribers can
do on this machine), so a relay figure close to it means the harness, not the relay, was the
limit. Hosts and subscribers share this process and the machine's cores with the relay.

    python benches/relay_bench.py [--direct] [--quick] [--markdown] [--events 100000] ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvloop
from benchlib import add_run_flags, build_profile, environment, refuse_debug, render
from loadgen import (
    Dataset,
    DatasetSpec,
    HostFleet,
    SimulatedHost,
    load_dataset,
    raise_fd_limit,
    register_accounts_in_store,
)
from strato.firehose import SUBSCRIBE_REPOS_PATH
from strato.plc.store import PlcStore
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

DEFAULT_CACHE = Path(__file__).resolve().parent / "data" / "loadgen"
#: ``rev`` (a 3-character text) followed by the head of a 13-character text: a commit frame's
#: rev, found without decoding (the envelope's ``rev`` comes before ``blocks`` in canonical
#: key order, and the commit block inside ``blocks`` holds the same value).
_REV_KEY = b"\x63rev\x6d"
_REV_LENGTH = 13
#: Idle hosts per child process (see :class:`IdleHosts`).
IDLE_PER_PROCESS = 5000


def frame_rev(frame: bytes) -> bytes | None:
    """The ``rev`` of a ``#commit`` frame, or None."""
    at = frame.find(_REV_KEY)
    if at < 0:
        return None
    start = at + len(_REV_KEY)
    return frame[start : start + _REV_LENGTH]


# -- counting subscribers -------------------------------------------------------------------------


@dataclass
class Counter:
    """A subscriber that counts frames and bytes; with ``record`` on, it also notes each
    frame's rev and arrival time."""

    url: str
    frames: int = 0
    received_bytes: int = 0
    last_at: float = 0.0
    record: bool = False
    arrivals: list[tuple[bytes | None, float]] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with connect(self.url, max_size=None, compression=None, max_queue=1024) as ws:
            self.connected.set()
            with contextlib.suppress(ConnectionClosed):
                await self._count(ws)

    async def _count(self, ws: ClientConnection) -> None:
        async for message in ws:
            now = time.time()
            self.frames += 1
            self.received_bytes += len(message)
            self.last_at = now
            if self.record and isinstance(message, bytes):
                self.arrivals.append((frame_rev(message), now))


async def wait_for(counters: Sequence[Counter], total: int, idle: float) -> int:
    """Wait until the counters have ``total`` frames in all, or none came for ``idle``
    seconds; the frames counted."""
    seen, quiet_since = -1, time.monotonic()
    while True:
        count = sum(c.frames for c in counters)
        if count >= total:
            return count
        if count != seen:
            seen, quiet_since = count, time.monotonic()
        elif time.monotonic() - quiet_since > idle:
            return count
        await asyncio.sleep(0.02)


# -- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(log: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "strato", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **(env or {})},
        )


async def wait_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    async with httpx.AsyncClient(timeout=2.0) as http:
        for _ in range(600):
            if process.poll() is not None:
                raise SystemExit(f"{url} exited with {process.returncode}:\n{log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not come up:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tree_rss(pid: int, field: str = "VmRSS") -> int:
    """Resident bytes of ``pid`` and its descendants (Linux ``/proc``): ``VmRSS`` in all, or
    ``RssAnon`` (the processes' own memory, without the LMDB log's pages of page cache that
    each process maps)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1]) * 1024
    return total


def disk_bytes(path: Path) -> int:
    """Bytes of disk in use by the files under ``path`` (LMDB files are sparse)."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Results:
    rows: list[list[str]] = field(default_factory=list)

    def add(self, measure: str, value: str, note: str = "") -> None:
        self.rows.append([measure, value, note])


@dataclass
class Target:
    """Where counting subscribers connect: the relay's stream, or each host's (direct)."""

    relay_stream: str | None
    pid: int | None = None
    data_dir: Path | None = None
    relay_url: str | None = None

    def counters(self, hosts: Sequence[SimulatedHost]) -> list[Counter]:
        if self.relay_stream is not None:
            return [Counter(self.relay_stream)]
        return [Counter(host.stream_url) for host in hosts]


async def crawl(relay_url: str, hostnames: Sequence[str], admin_token: str | None) -> None:
    """requestCrawl each host, then, given the admin token, mark it trusted (the admin API):
    an ordinary host's rate limits (50 events/s + 1/s per 1,000 accounts) are far below a load
    test's."""
    gate = asyncio.Semaphore(32)
    admin = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    async with httpx.AsyncClient(base_url=relay_url, timeout=30.0) as http:

        async def one(hostname: str) -> None:
            async with gate:
                answer = await http.post(
                    "/xrpc/com.atproto.sync.requestCrawl", json={"hostname": hostname}
                )
                if answer.status_code != 200:
                    raise SystemExit(f"requestCrawl {hostname}: {answer.text}")
                if admin_token is None:
                    return
                trust = await http.post(
                    "/xrpc/dev.strato.relay.admin.setHostLimits",
                    json={"hostname": hostname, "trusted": True},
                    headers=admin,
                )
                if trust.status_code != 200:
                    raise SystemExit(f"setHostLimits {hostname}: {trust.text}")

        await asyncio.gather(*(one(hostname) for hostname in hostnames))


@dataclass
class Run:
    """One benchmark run: the hosts, where subscribers connect, and the results so far."""

    args: argparse.Namespace
    hosts: list[SimulatedHost]
    fleet: HostFleet
    target: Target
    counters: list[Counter]
    results: Results = field(default_factory=Results)
    received: int = 0

    async def throughput(self) -> None:
        """(a) every host sends as fast as its socket takes: first the warm-up events, in which
        the relay meets most accounts for the first time (each costs a DID document from the
        PLC directory), then the rest, the sustained rate with identities cached."""
        events = self.args.events
        accounts = self.args.hosts * self.args.accounts_per_host
        warmup = min(events // 2, 2 * accounts if self.args.warmup is None else self.args.warmup)
        got = 0
        for name, count in (("first contact", warmup), ("sustained", events - warmup)):
            if not count:
                continue
            started = time.time()
            self.fleet.play(None, count)
            arrived = await wait_for(self.counters, got + count, self.args.idle_timeout) - got
            last = max(c.last_at for c in self.counters)
            rate = arrived / (last - started) if last > started else 0.0
            note = f"{arrived:,} events" + ("" if arrived == count else f" of {count:,}")
            label = f"max {name} events/s (verified+persisted)"
            self.results.add(label, f"{rate:,.0f}", note)
            got += arrived
        frame_bytes = sum(c.received_bytes for c in self.counters) / max(got, 1)
        self.results.add("average frame bytes out", f"{frame_bytes:,.0f}")
        self.received = got

    async def latency(self, where: dict[bytes, tuple[int, int]]) -> None:
        """(b) ``--rate`` events/s; each frame's arrival against its host's send time."""
        rate, events = self.args.rate, int(self.args.rate * self.args.latency_seconds)
        for c in self.counters:
            c.record = True
        self.fleet.play(rate, events)
        want = self.received + events
        got = await wait_for(self.counters, want, self.args.idle_timeout) - self.received
        self.received += got
        delays = []
        for c in self.counters:
            for rev, arrived in c.arrivals:
                h, position = where.get(rev or b"", (-1, -1))
                sent = (self.hosts[h].send_times or {}).get(position) if h >= 0 else None
                if sent is not None:
                    delays.append(arrived - sent)
        if not delays:
            self.results.add(f"latency at {rate:,.0f} events/s", "-", "no events arrived")
            return
        delays.sort()
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        note = f"{len(delays)} events" + ("" if got == events else f" of {events}")
        label = f"at {rate:,.0f} events/s"
        self.results.add(f"latency p50 {label}", f"{statistics.median(delays) * 1e3:.1f} ms", note)
        self.results.add(f"latency p99 {label}", f"{p99 * 1e3:.1f} ms", note)
        self.results.add(f"latency max {label}", f"{delays[-1] * 1e3:.1f} ms")

    def disk(self) -> None:
        """(d) the relay's data directory over the events it holds."""
        if self.target.data_dir is None:
            return
        used = disk_bytes(self.target.data_dir)
        per_event = f"{used / max(self.received, 1):,.0f}"
        self.results.add("relay data dir bytes per event", per_event, f"{used / 1e6:,.1f} MB")

    async def memory(self, tasks: list[asyncio.Task[None]]) -> None:
        """(c) resident memory once ``--idle-hosts`` hosts in all are connected."""
        idle = IdleHosts(self.args.idle_hosts - len(self.hosts), self.args.host_name)
        try:
            hostnames = await idle.start()
            if self.target.relay_url is not None:
                await crawl(self.target.relay_url, hostnames, None)
            else:
                idle_counters = [
                    Counter(f"ws://{name}{SUBSCRIBE_REPOS_PATH}") for name in hostnames
                ]
                tasks += [asyncio.create_task(c.run()) for c in idle_counters]
            await idle.wait_connections(timeout=600.0)
            await asyncio.sleep(self.args.settle)
            pid = self.target.pid if self.target.pid is not None else os.getpid()
            who = "relay" if self.target.pid is not None else "harness (hosts + subscribers)"
            label = f"RSS with {len(self.hosts) + len(hostnames)} hosts ({len(hostnames)} idle)"
            self.results.add(label, f"{tree_rss(pid) / 2**20:,.0f} MiB", who)
            anon = f"{tree_rss(pid, 'RssAnon') / 2**20:,.0f} MiB"
            self.results.add(label.replace("RSS", "RssAnon", 1), anon, who)
        finally:
            await idle.stop()


class IdleHosts:
    """Idle simulated hosts in child processes (``--serve-idle``), :data:`IDLE_PER_PROCESS`
    each: a host holds two descriptors (its listening socket and its subscriber), so 10,000
    of them do not fit under one process's usual 20,000-descriptor hard limit."""

    def __init__(self, count: int, name: str) -> None:
        self.count = max(0, count)
        self.name = name
        self.children: list[asyncio.subprocess.Process] = []
        self.connected: list[int] = []
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> list[str]:
        """Start the children; every idle host's ``127.0.0.1:PORT``."""
        hostnames: list[str] = []
        for first in range(0, self.count, IDLE_PER_PROCESS):
            size = min(IDLE_PER_PROCESS, self.count - first)
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--serve-idle", str(size), "--host-name", self.name,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 22,
            )  # fmt: skip
            assert child.stdout is not None
            hostnames += (await child.stdout.readline()).decode().split()
            self.children.append(child)
            self.connected.append(0)
            self._readers.append(asyncio.create_task(self._read(len(self.children) - 1)))
        return hostnames

    async def _read(self, index: int) -> None:
        stdout = self.children[index].stdout
        assert stdout is not None
        while line := await stdout.readline():
            self.connected[index] = int(line)

    async def wait_connections(self, timeout: float) -> None:
        """Wait until every idle host has a subscriber."""
        async with asyncio.timeout(timeout):
            while sum(self.connected) < self.count:
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        for child in self.children:
            if child.stdin is not None:
                child.stdin.close()
        for child in self.children:
            await child.wait()
        for reader in self._readers:
            reader.cancel()


async def serve_idle(count: int, name: str) -> None:
    """The child's side of :class:`IdleHosts`: start ``count`` idle hosts, print their
    hostnames on one line, then the number of connected subscribers every 0.2 s until stdin
    closes."""
    hosts = [SimulatedHost(name=name, keepalive=False) for _ in range(count)]
    async with HostFleet(hosts) as fleet:
        print(" ".join(host.hostname for host in hosts), flush=True)
        closed = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        while not closed.done():
            print(fleet.connections, flush=True)
            await asyncio.wait([closed], timeout=0.2)


async def measure(args: argparse.Namespace, dataset: Dataset, tmp: Path) -> Results:
    hosts = dataset.hosts(name=args.host_name, track_send_times=True)
    where: dict[bytes, tuple[int, int]] = {}
    for h, frames in enumerate(dataset.host_frames):
        for position, frame in enumerate(frames):
            rev = frame_rev(frame)
            if rev is not None:
                where[rev] = (h, position)
    async with HostFleet(hosts) as fleet, contextlib.AsyncExitStack() as stack:
        if args.direct:
            target = Target(None)
        else:
            target = await relay_target(args, dataset, hosts, tmp, stack)
        counters = target.counters(hosts)
        tasks = [asyncio.create_task(c.run()) for c in counters]
        try:
            await asyncio.gather(*(c.connected.wait() for c in counters))
            await fleet.wait_connections(1)
            run = Run(args, hosts, fleet, target, counters)
            await run.throughput()
            await run.latency(where)
            run.disk()
            await run.memory(tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return run.results


async def relay_target(
    args: argparse.Namespace,
    dataset: Dataset,
    hosts: Sequence[SimulatedHost],
    tmp: Path,
    stack: contextlib.AsyncExitStack,
) -> Target:
    log = tmp / "servers.log"
    plc_dir, relay_dir = tmp / "plc", tmp / "relay"
    store = PlcStore.open(plc_dir, sync=False)
    try:
        endpoints = [hosts[account.host].url for account in dataset.accounts]
        register_accounts_in_store(store, dataset.accounts, endpoints, dataset.rotation_key)
    finally:
        store.close()
    plc_port, relay_port = free_port(), free_port()
    plc = start(log, "plc", "--port", str(plc_port), "--data-dir", str(plc_dir))
    stack.callback(stop, plc)
    plc_url = f"http://127.0.0.1:{plc_port}"
    await wait_up(plc, f"{plc_url}/_health", log)
    env = {
        "STRATO_RELAY_NEW_HOSTS_PER_DAY": str(10 * args.idle_hosts + 1000),
        "STRATO_RELAY_DEFAULT_ACCOUNT_LIMIT": str(max(1000, dataset.spec.accounts_per_host)),
        # the harness's requests and subscribers all come from 127.0.0.1
        "STRATO_RELAY_MAX_CONNECTIONS_PER_IP": "0",
    }
    token = secrets.token_hex(16)
    token_file = tmp / "admin-token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    command = [
        "relay", "--local-network", "--data-dir", str(relay_dir), "--port", str(relay_port),
        "--admin-token-file", str(token_file),
    ]  # fmt: skip
    relay = start(log, *command, "--plc-url", plc_url, env=env)
    stack.callback(stop, relay)
    relay_url = f"http://127.0.0.1:{relay_port}"
    await wait_up(relay, f"{relay_url}/xrpc/_health", log)
    await crawl(relay_url, [host.hostname for host in hosts], token)
    stream = f"ws://127.0.0.1:{relay_port}{SUBSCRIBE_REPOS_PATH}"
    return Target(stream, relay.pid, relay_dir, relay_url)


@contextlib.contextmanager
def workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--direct", action="store_true", help="no relay: the harness's ceiling")
    parser.add_argument("--hosts", type=int, default=100, help="active simulated hosts")
    parser.add_argument("--accounts-per-host", type=int, default=100)
    parser.add_argument("--events", type=int, default=100_000, help="events of the throughput run")
    parser.add_argument(
        "--warmup",
        type=int,
        help="of those, the first ones timed apart as first contact (default: twice the "
        "accounts, at most half the events)",
    )
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s of the latency run")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--idle-hosts", type=int, default=10_000, help="hosts in all for RSS")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--host-name", default="localhost", help="what hosts are called (localhost, 127.0.0.1)"
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="dataset cache")
    parser.add_argument("--workdir", type=Path, help="keep the PLC and relay data here")
    parser.add_argument(
        "--idle-timeout", type=float, default=30.0, help="give up after this long with no frame"
    )
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before reading RSS")
    parser.add_argument("--serve-idle", type=int, help=argparse.SUPPRESS)
    add_run_flags(parser, "10 hosts, 10k events, 5 s of latency, 1,000 hosts for RSS")
    args = parser.parse_args(argv)
    if args.serve_idle is not None:
        uvloop.run(serve_idle(args.serve_idle, args.host_name))
        return 0
    profile = build_profile()
    if refuse_debug("relay_bench.py", profile, args.allow_debug):
        return 2
    if args.quick:
        args.hosts, args.events, args.latency_seconds, args.idle_hosts = 10, 10_000, 5.0, 1000
    raise_fd_limit(4 * max(args.idle_hosts, args.hosts) + 1024)
    spec = DatasetSpec(
        hosts=args.hosts,
        accounts_per_host=args.accounts_per_host,
        events=args.events + int(args.rate * args.latency_seconds),
        seed=args.seed,
    )
    began = time.perf_counter()
    dataset = load_dataset(spec, args.cache)
    loaded = time.perf_counter() - began
    with workdir(args.workdir) as tmp:
        results = uvloop.run(measure(args, dataset, tmp))
    mode = "direct (no relay: the harness's ceiling)" if args.direct else "relay subprocess"
    extra = [
        f"mode: {mode}",
        f"dataset: {spec.hosts} hosts x {spec.accounts_per_host} accounts, {spec.events} events, "
        f"{dataset.frame_bytes / max(spec.events, 1):,.0f} B/frame, loaded in {loaded:.1f} s "
        f"({dataset.path})",
    ]
    for line in environment(profile, ("strato", "websockets", "uvicorn", "lmdb"), extra):
        print(line)
    print()
    print(render([["measure", "value", "note"], *results.rows], args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
