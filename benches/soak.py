"""Soak: ``strato up`` for a long while under a bounded write loop and many firehose subscribers,
some of which never read; the memory of every process it runs, sampled each minute, must stay
flat once warmed up.

What runs (all on 127.0.0.1, ``strato up`` as a subprocess with a fresh data directory):

- writes: ``--accounts`` accounts created over HTTP, then ``--rate`` ``createRecord`` calls per
  second in all, round robin; an account past ``--keep`` posts deletes its oldest, so the
  repositories stop growing and only the event logs do (pruned by their retention). The
  accounts and the rate are chosen within the PDS's rate limits (per address and per account),
  the writes coming from :data:`WRITE_SOURCES` loopback addresses;
- subscribers: ``--subscribers`` websocket subscribers, ``--pds-subscribers`` of them on the PDS
  and the rest on the relay; ``--stalled`` of them (spread over both) complete the handshake and
  never read a byte, so the servers' backlogs and slow-consumer cuts are exercised; the others
  count the frames they receive and reconnect from their last seq if cut. They come from
  127.0.0.2, 127.0.0.3, ..., :data:`PER_SOURCE` per address, under the servers' limit of
  subscribers per address (16);
- samples: each ``--sample-seconds`` (60) the ``VmRSS``, ``RssAnon``, ``RssFile`` and
  ``RssShmem`` of the ``strato up`` process and each of its child processes (the relay's fan-out
  worker), and their open file descriptors.

The verdict: over the samples after ``--warmup`` minutes, each process's largest ``RssAnon``
is within 10% of its smallest (``RssAnon`` is the process's own memory; ``RssFile`` counts the
LMDB maps' pages in the page cache, which grow with the logs by design, so it is reported, not
judged). It also checks that every write was acknowledged and every reading subscriber kept up.

    python benches/soak.py [--minutes 30] [--rate 20] [--subscribers 100] [--stalled 10]
                           [--quick] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvloop
from benchlib import build_profile, environment, refuse_debug
from loadgen import raise_fd_limit
from strato.dagcbor import decode_multi
from strato.firehose import SUBSCRIBE_REPOS_PATH
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

#: Subscribers per source address (the servers take 16 from one address).
PER_SOURCE = 10
#: The source addresses of the writes, each with its share of the accounts.
WRITE_SOURCES = 10
#: The share of the span after warm-up by which a process's RssAnon may vary.
FLAT_WITHIN = 0.10
_STATUS_FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")


@dataclass
class Sample:
    """One process's memory (kB, from ``/proc/PID/status``) and open descriptors at a time."""

    minute: float
    pid: int
    name: str
    kb: dict[str, int]
    fds: int


@dataclass
class Counters:
    """What the load did, for the report."""

    writes_ok: int = 0
    write_errors: dict[str, int] = field(default_factory=dict)
    deletes_ok: int = 0
    received: dict[int, int] = field(default_factory=dict)
    reconnects: dict[int, int] = field(default_factory=dict)
    stalled_cut: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_tree(root: int) -> list[tuple[int, str]]:
    """``root`` and its descendants, as ``(pid, command name)``."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        names[int(entry.name)] = name
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append((pid, names.get(pid, "?")))
        todo.extend(children.get(pid, []))
    return found


def read_sample(minute: float, pid: int, name: str) -> Sample | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\x00", b" ").decode()
    except OSError:
        return None
    kb = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in _STATUS_FIELDS:
            kb[key] = int(value.split()[0])
    label = "strato up" if " up " in f"{cmdline} " else name
    if "fanout" in cmdline or "worker" in cmdline:
        label = "relay fan-out worker"
    return Sample(minute, pid, label, kb, fds)


async def wait_healthy(client: httpx.AsyncClient, urls: Sequence[str], deadline: float) -> None:
    pending = list(urls)
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"soak: {pending} did not become healthy")
        url = pending[0]
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(url)).status_code == 200:
                pending.pop(0)
                continue
        await asyncio.sleep(0.2)


async def create_accounts(client: httpx.AsyncClient, pds: str, count: int) -> list[tuple[str, str]]:
    """``(did, access token)`` of ``count`` new accounts."""
    made = []
    for index in range(count):
        response = await client.post(
            f"{pds}/xrpc/com.atproto.server.createAccount",
            json={"handle": f"soak{index}.test", "password": f"soak-password-{index}"},
        )
        response.raise_for_status()
        body = response.json()
        made.append((body["did"], body["accessJwt"]))
    return made


async def write_loop(
    clients: list[httpx.AsyncClient],
    *,
    pds: str,
    accounts: list[tuple[str, str]],
    rate: float,
    keep: int,
    stop_at: float,
    counters: Counters,
) -> None:
    """``rate`` creates per second in all until ``stop_at``; deletes keep each account at
    ``keep`` posts."""
    posted: dict[str, list[str]] = {did: [] for did, _ in accounts}
    interval = 1.0 / rate
    next_at = time.monotonic()
    index = 0
    while time.monotonic() < stop_at:
        turn = index % len(accounts)
        did, token = accounts[turn]
        client = clients[turn % len(clients)]
        index += 1
        headers = {"Authorization": f"Bearer {token}"}
        record = {
            "$type": "app.bsky.feed.post",
            "text": f"soak post {index}",
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        }
        try:
            response = await client.post(
                f"{pds}/xrpc/com.atproto.repo.createRecord",
                json={"repo": did, "collection": "app.bsky.feed.post", "record": record},
                headers=headers,
            )
            if response.status_code == 200:
                counters.writes_ok += 1
                posted[did].append(response.json()["uri"].rsplit("/", 1)[1])
            else:
                key = f"{response.status_code} {response.json().get('error', '')}"
                counters.write_errors[key] = counters.write_errors.get(key, 0) + 1
            if len(posted[did]) > keep:
                rkey = posted[did].pop(0)
                response = await client.post(
                    f"{pds}/xrpc/com.atproto.repo.deleteRecord",
                    json={"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey},
                    headers=headers,
                )
                if response.status_code == 200:
                    counters.deletes_ok += 1
                else:
                    key = f"delete {response.status_code} {response.json().get('error', '')}"
                    counters.write_errors[key] = counters.write_errors.get(key, 0) + 1
        except httpx.HTTPError as err:
            key = type(err).__name__
            counters.write_errors[key] = counters.write_errors.get(key, 0) + 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def reader(url: str, ident: int, source: str, counters: Counters) -> None:
    """Reads every frame until cancelled; reconnects from the last seq seen when cut."""
    cursor: int | None = None
    counters.received[ident] = 0
    counters.reconnects[ident] = 0
    while True:
        target = url if cursor is None else f"{url}?cursor={cursor}"
        try:
            async with connect(
                target, max_size=None, compression=None, local_addr=(source, 0)
            ) as ws:
                async for message in ws:
                    assert isinstance(message, bytes)
                    _, body = decode_multi(message)
                    if isinstance(body, dict) and isinstance(body.get("seq"), int):
                        cursor = body["seq"]
                    counters.received[ident] += 1
        except (ConnectionClosed, OSError):
            pass
        counters.reconnects[ident] += 1
        await asyncio.sleep(1.0)


async def stalled(host: str, port: int, source: str, stop_at: float, counters: Counters) -> None:
    """A subscriber that completes the websocket handshake and never reads again."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    # A small receive buffer: the kernel holds little, the server's backlog the rest.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    sock.bind((source, 0))
    await loop.sock_connect(sock, (host, port))
    await loop.sock_sendall(
        sock,
        f"GET {SUBSCRIBE_REPOS_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: c29hay1zb2FrLXNvYWstMQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode(),
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)
    await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    # A consumer the server cut reads to the end of its stream (or finds it reset, its unread
    # bytes dropped); a live one is still being sent frames.
    try:
        while await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), 2.0):
            pass
        counters.stalled_cut += 1
    except ConnectionError:
        counters.stalled_cut += 1
    except (TimeoutError, OSError):
        pass
    sock.close()


async def sampler(
    root: int, started: float, stop_at: float, every: float, samples: list[Sample]
) -> None:
    while True:
        minute = (time.monotonic() - started) / 60
        for pid, name in process_tree(root):
            sample = read_sample(minute, pid, name)
            if sample is not None and sample.kb:
                samples.append(sample)
                anon = sample.kb.get("RssAnon", 0) / 1024
                file_ = sample.kb.get("RssFile", 0) / 1024
                print(
                    f"  {minute:5.1f} min  {sample.name:<22} pid {pid:<7} RssAnon "
                    f"{anon:7.1f} MiB  RssFile {file_:7.1f} MiB  fds {sample.fds}",
                    flush=True,
                )
        if time.monotonic() + every > stop_at + 1:
            return
        await asyncio.sleep(every)


def verdict(samples: list[Sample], warmup: float) -> list[tuple[str, int, str]]:
    """Per process: ``(name, pid, text)`` with first/last/min/max after warm-up and flat or not."""
    rows = []
    for pid in sorted({s.pid for s in samples}):
        mine = [s for s in samples if s.pid == pid and s.minute >= warmup]
        if len(mine) < 2:
            continue
        anon = [s.kb["RssAnon"] / 1024 for s in mine]
        files = [s.kb["RssFile"] / 1024 for s in mine]
        fds = [s.fds for s in mine]
        flat = max(anon) <= min(anon) * (1 + FLAT_WITHIN)
        text = (
            f"RssAnon {anon[0]:.1f} -> {anon[-1]:.1f} MiB (min {min(anon):.1f}, max "
            f"{max(anon):.1f}, spread {100 * (max(anon) / min(anon) - 1):.1f}%: "
            f"{'flat' if flat else 'NOT FLAT'}); RssFile {files[0]:.1f} -> {files[-1]:.1f} MiB; "
            f"fds {fds[0]} -> {fds[-1]}"
        )
        rows.append((mine[0].name, pid, text))
    return rows


async def soak(args: argparse.Namespace) -> int:
    raise_fd_limit(4096)
    ports = {name: free_port() for name in ("plc", "pds", "relay")}
    data_dir = (
        Path(tempfile.mkdtemp(prefix="strato-soak-")) if args.data_dir is None else args.data_dir
    )
    command = [
        sys.executable, "-m", "strato", "up", "--data-dir", str(data_dir),
        "--plc-port", str(ports["plc"]), "--pds-port", str(ports["pds"]),
        "--relay-port", str(ports["relay"]),
    ]  # fmt: skip
    log = (data_dir / "soak-up.log").open("wb") if data_dir.exists() else subprocess.DEVNULL
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    pds = f"http://127.0.0.1:{ports['pds']}"
    relay = f"http://127.0.0.1:{ports['relay']}"
    counters = Counters()
    samples: list[Sample] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            # The writers come from several addresses too: the PDS allows each address 3,000
            # requests per 5 minutes, and each account 5,000 write points an hour.
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(
                        timeout=30.0,
                        transport=httpx.AsyncHTTPTransport(local_address=f"127.0.1.{n + 1}"),
                    )
                )
                for n in range(WRITE_SOURCES)
            ]
            client = clients[0]
            await wait_healthy(
                client, [f"{pds}/xrpc/_health", f"{relay}/xrpc/_health"], time.monotonic() + 60
            )
            accounts = await create_accounts(client, pds, args.accounts)
            started = time.monotonic()
            stop_at = started + args.minutes * 60
            relay_subscribers = args.subscribers - args.pds_subscribers
            stalled_on_pds = round(args.stalled * args.pds_subscribers / args.subscribers)
            plan = [("pds", ports["pds"], args.pds_subscribers, stalled_on_pds)]
            plan.append(("relay", ports["relay"], relay_subscribers, args.stalled - stalled_on_pds))
            ident = 0
            subscribers: list[asyncio.Task[None]] = []
            for _, port, total, stalls in plan:
                for index in range(total):
                    source = f"127.0.0.{2 + index // PER_SOURCE}"
                    if index < stalls:
                        job = stalled("127.0.0.1", port, source, stop_at, counters)
                    else:
                        url = f"ws://127.0.0.1:{port}{SUBSCRIBE_REPOS_PATH}"
                        job = reader(url, ident, source, counters)
                        ident += 1
                    subscribers.append(asyncio.create_task(job))
            await asyncio.gather(
                write_loop(
                    clients,
                    pds=pds,
                    accounts=accounts,
                    rate=args.rate,
                    keep=args.keep,
                    stop_at=stop_at,
                    counters=counters,
                ),
                sampler(process.pid, started, stop_at, args.sample_seconds, samples),
            )
            # The last frames reach the readers; the stalled ones look whether they were cut.
            await asyncio.sleep(5)
            for task in subscribers:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*subscribers, return_exceptions=True)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    return report(args, counters, samples)


def report(args: argparse.Namespace, counters: Counters, samples: list[Sample]) -> int:
    received = list(counters.received.values())
    lines = [
        f"soak: {args.minutes:g} min of `strato up`, {args.rate:g} writes/s over {args.accounts} "
        f"accounts (at most {args.keep} posts each), {args.subscribers} subscribers "
        f"({args.pds_subscribers} on the PDS, {args.stalled} stalled); warm-up {args.warmup:g} min",
        f"writes acknowledged {counters.writes_ok}, deletes {counters.deletes_ok}, errors "
        f"{counters.write_errors or 'none'}",
        f"frames per reading subscriber: min {min(received, default=0)}, max "
        f"{max(received, default=0)}; reconnects {sum(counters.reconnects.values())}; stalled "
        f"subscribers cut by the server {counters.stalled_cut} of {args.stalled}",
    ]
    rows = verdict(samples, args.warmup)
    flat = all("NOT FLAT" not in text for _, _, text in rows) and bool(rows)
    if args.markdown:
        lines.append("")
        lines.append("| process | after warm-up |")
        lines.append("|---|---|")
        lines.extend(f"| {name} | {text} |" for name, _, text in rows)
    else:
        lines.extend(f"{name} (pid {pid}): {text}" for name, pid, text in rows)
    lines.append(f"verdict: RssAnon {'flat' if flat else 'NOT flat'} within {FLAT_WITHIN:.0%}")
    print("\n".join([*environment(build_profile(), ["strato"]), *lines]))
    return 0 if flat and not counters.write_errors else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes not judged (5)")
    parser.add_argument("--rate", type=float, default=20.0, help="creates per second (20)")
    parser.add_argument("--accounts", type=int, default=50, help="accounts written to (50)")
    parser.add_argument("--keep", type=int, default=300, help="posts kept per account (300)")
    parser.add_argument("--subscribers", type=int, default=100, help="subscribers in all (100)")
    parser.add_argument("--pds-subscribers", type=int, default=10, help="of them on the PDS")
    parser.add_argument("--stalled", type=int, default=10, help="of them never reading (10)")
    parser.add_argument("--sample-seconds", type=float, default=60.0, help="sampling period")
    parser.add_argument("--data-dir", type=Path, help="keep the data here (default: a temp dir)")
    parser.add_argument(
        "--quick", action="store_true", help="3 minutes, 1 of warm-up, 10 s samples"
    )
    parser.add_argument("--markdown", action="store_true", help="the result as a markdown table")
    parser.add_argument("--allow-debug", action="store_true", help="run on a debug build")
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.warmup, args.sample_seconds = 3.0, 1.0, 10.0
    if refuse_debug("soak.py", build_profile(), args.allow_debug):
        return 2
    return uvloop.run(soak(args))


if __name__ == "__main__":
    sys.exit(main())
