"""The PDS's firehose fan-out, one source tree against another in the same run: deliveries/s
of events written in advance to 100 live subscribers (the issue's goal: the new fan-out at
least 5x the old one), and a replay from cursor 0 of a stored log of 100,000 events.

Each run starts the real server, ``python -m strato pds``, from a source tree (``PYTHONPATH``
set to ``<tree>/python``; ``--old-tree`` and ``--new-tree``, the latter this checkout by
default) on a fresh data directory (no accounts; the PLC directory's URL is a closed port,
which the PDS never calls here). A writer process, started from the same tree, opens the PDS's
own LMDB store as the PDS does (``strato.pds.context.open_store``, then ``LmdbEventLog``) and
appends ``#commit``-shaped frames of ``--frame-bytes`` bytes (this script, ``--write``, run
with the tree's ``PYTHONPATH``), built before each write
transaction; the server finds them by polling its log (about every second: another process's
writes are not announced to it), so nothing the writer does is timed.

- replay: the writer stores ``--replay`` events (then, after ``--settle`` seconds, one more
  that a live subscriber must get: the server has published its log); one raw-socket client in
  a process of its own (:func:`wsclient.run_replay`) reads them all from ``cursor=0``
  (events/s, from before its connect to its last message);
- live fan-out: ``--subscribers`` raw-socket subscribers (no cursor; :class:`wsclient.Subscribers`
  over ``--client-procs`` processes, ten per loopback source address since the PDS admits 16
  per address) connect, a warm-up round of 10 events checks that every one is live, then
  ``--rounds`` rounds of ``--round-events`` events: the writer appends a round in one write
  transaction, and the round's time runs from its first message at any subscriber to its last
  message at the last subscriber (the server's wait for its poll is not counted). Rounds are
  bounded by the old broadcaster, which cuts a live subscriber with 1,000 frames queued and
  queues a whole poll's events at once. deliveries/s = subscribers x events / the rounds' time.
  Every subscriber must get every event once, in order: its message count, and the seqs of its
  first and last messages, are checked. The server's CPU time over the rounds is read from
  ``/proc/<pid>/stat`` (all its threads).

The clients parse WebSocket frame headers (about 0.5 µs of Python per message), on the same
cores as the server; ``--client-procs`` spreads them. Trees alternate (``--repeat`` runs of
each, old then new); the best run of each is shown. Then the harness's own ceiling: the same
clients and rounds against :class:`BareServer` (no log, no fan-out logic; ``--no-ceiling``
skips it). Refuses a strato debug build unless ``--allow-debug``.

    python benches/pds_fanout_bench.py --old-tree ../old [--subscribers 100] [--markdown]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchlib import add_run_flags, build_profile, environment, refuse_debug, render
from pds_bench import free_port, stop, wait_http
from strato.firehose import SUBSCRIBE_REPOS_PATH, LmdbEventLog, encode_message
from strato.pds.context import open_store
from wsclient import Subscribers, run_replay

HERE = Path(__file__).resolve().parent
#: Events of the warm-up round (untimed: every subscriber is live once it has them).
WARMUP = 10
#: The goal: deliveries/s of the new tree over the old one's, at this many subscribers.
GOAL_SUBSCRIBERS = 100
GOAL_RATIO = 5.0
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: A closed port: the PDS's PLC directory (nothing here creates an account).
CLOSED_PLC_URL = "http://127.0.0.1:9"


def commit_frame(seq: int, size: int, filler: bytes) -> bytes:
    """A ``#commit``-shaped frame of exactly ``size`` bytes (the blocks are filler)."""
    pad = max(size - 300, 0)
    for _ in range(3):
        frame = encode_message(
            "#commit",
            {
                "seq": seq,
                "rebase": False,
                "tooBig": False,
                "repo": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
                "rev": "3lbench22222222",
                "since": None,
                "blocks": filler[:pad],
                "ops": [],
                "blobs": [],
                "time": "2026-12-08T12:00:00.000Z",
            },
        )
        pad += size - len(frame)
    if len(frame) != size:
        raise ValueError(f"no frame of {size} bytes (got {len(frame)})")
    return frame


def _prebuilt(frames: dict[int, bytes], seq: int) -> bytes:
    return frames[seq]


def write_log(data_dir: Path, frame_bytes: int, txn_events: int) -> int:
    """The writer process: for each line ``N`` on stdin, append N frames (built first, for the
    seqs the log will assign) in write transactions of ``txn_events``; answer ``first last``."""
    store = open_store(data_dir)
    log = LmdbEventLog(store)
    filler = os.urandom(frame_bytes)
    try:
        for line in sys.stdin:
            count = int(line)
            head = log.head()
            frames = {
                seq: commit_frame(seq, frame_bytes, filler)
                for seq in range(head + 1, head + count + 1)
            }
            seqs = sorted(frames)
            for at in range(0, count, txn_events):
                chunk = seqs[at : at + txn_events]
                with store.write() as txn:
                    first = log.append(txn, [functools.partial(_prebuilt, frames)] * len(chunk))
                if first != chunk[0]:
                    raise RuntimeError(f"another writer: seq {first}, expected {chunk[0]}")
            print(f"{head + 1} {head + count}", flush=True)
    finally:
        store.close()
    return 0


# -- the server and the writer --------------------------------------------------------------


def tree_env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree / "python")}


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process so far, all its threads."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def pds_server(tree: Path, work: Path, python: str) -> Iterator[Server]:
    """``strato pds`` of ``tree`` on a fresh data directory in ``work``."""
    port = free_port()
    data_dir = work / "pds"
    command = [python, "-m", "strato", "pds", "--port", str(port), "--data-dir", str(data_dir)]
    command += ["--plc-url", CLOSED_PLC_URL, "--log-level", "warning"]
    env = tree_env(tree)
    env["STRATO_PDS_RATE_LIMITS"] = "false"
    env["STRATO_PDS_MAX_CONNECTIONS_PER_IP"] = "0"
    with (work / "pds.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    try:
        try:
            wait_http(f"http://127.0.0.1:{port}/xrpc/_health", process)
        except RuntimeError as error:
            raise RuntimeError(f"{error}: {(work / 'pds.log').read_text()[-2000:]}") from None
        yield Server(port, process, data_dir)
    finally:
        stop(process)


class LogWriter:
    """The writer process (:func:`write_log`) of ``tree`` on a running server's data dir."""

    def __init__(self, tree: Path, server: Server, args: argparse.Namespace) -> None:
        command = [args.python, str(Path(__file__).resolve()), "--write", str(server.data_dir)]
        command += ["--frame-bytes", str(args.frame_bytes), "--txn-events", str(args.txn_events)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=tree_env(tree)
        )

    def append(self, count: int) -> tuple[int, int]:
        """Append ``count`` events; their first and last seqs."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{count}\n".encode())
        self.process.stdin.flush()
        answer = self.process.stdout.readline().split()
        if len(answer) != 2:
            raise RuntimeError(f"the log writer failed (exit {self.process.wait()})")
        return int(answer[0]), int(answer[1])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- the measurements -------------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    subscribers: int
    events: int
    seconds: float
    server_cpu: float

    @property
    def rate(self) -> float:
        return self.subscribers * self.events / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.server_cpu / (self.subscribers * self.events) * 1e6


def settle(server: Server, writer: LogWriter, args: argparse.Namespace) -> int:
    """Wait until the server has published every stored event: ``--settle`` seconds, then one
    more event appended must reach a live subscriber (the old broadcaster cuts a subscriber
    that joins while its pump is more than 1,000 events behind, so the wait comes first).
    The head then."""
    time.sleep(args.settle)
    probe = Subscribers(server.port, SUBSCRIBE_REPOS_PATH, 1, 1)
    try:
        probe.wait_ready()
        time.sleep(1.0)  # the server registers a subscriber after its 101
        _, head = writer.append(1)
        probe.wait_all(1, args.round_timeout)
    finally:
        (outcome,) = probe.close()
    if (outcome.messages, outcome.last_seq, outcome.problem) != (1, head, ""):
        raise RuntimeError(f"the server did not publish its log up to {head}: {outcome}")
    return head


def measure_replay(server: Server, writer: LogWriter, args: argparse.Namespace) -> float:
    """Store ``--replay`` events, then replay the whole log from cursor 0: events/s."""
    writer.append(args.replay)
    head = settle(server, writer, args)
    result = run_replay(server.port, f"{SUBSCRIBE_REPOS_PATH}?cursor=0", head)
    seqs = (result.first_seq, result.last_seq, result.messages)
    if seqs != (1, head, head):
        raise RuntimeError(f"replay of {head} events gave seqs {seqs[0]}..{seqs[1]} in {seqs[2]}")
    return result.rate


def measure_live(
    port: int,
    append: Callable[[int], tuple[int, int]],
    cpu_seconds: Callable[[], float],
    subscribers: int,
    args: argparse.Namespace,
) -> Live:
    """The warm-up round, then ``args.rounds`` timed rounds to ``subscribers`` subscribers of
    the server on ``port``, each round's events given by ``append`` (which returns their first
    and last seqs); the server's CPU time over the rounds from ``cpu_seconds``."""
    clients = Subscribers(port, SUBSCRIBE_REPOS_PATH, subscribers, args.client_procs)
    seconds = cpu = 0.0
    try:
        clients.wait_ready()
        time.sleep(1.0)  # the server registers a subscriber after its 101
        clients.start_round(0)
        first, last = append(WARMUP)
        clients.wait_all(WARMUP, args.round_timeout)
        received = WARMUP
        for _ in range(args.rounds):
            clients.start_round(received)
            before = cpu_seconds()
            _, last = append(args.round_events)
            received += args.round_events
            seconds += clients.wait_all(received, args.round_timeout)
            cpu += cpu_seconds() - before
    finally:
        outcomes = clients.close()
    wrong = [o for o in outcomes if (o.messages, o.first_seq, o.last_seq, o.problem)
             != (received, first, last, "")]  # fmt: skip
    if wrong:
        raise RuntimeError(
            f"{len(wrong)} of {subscribers} subscribers did not get events {first}..{last}"
            f" ({received}) once each: {wrong[0]}"
        )
    return Live(subscribers, args.rounds * args.round_events, seconds, cpu)


def run_tree(tree: Path, args: argparse.Namespace) -> dict[str, float]:
    """Every measurement on one fresh server of ``tree``."""
    figures: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="pds-fanout-") as tmp,
        pds_server(tree, Path(tmp), args.python) as server,
    ):
        writer = LogWriter(tree, server, args)
        try:
            if args.replay:
                figures[replay_key(args)] = measure_replay(server, writer, args)
            for subscribers in args.subscribers:
                live = measure_live(
                    server.port, writer.append, server.cpu_seconds, subscribers, args
                )
                figures[live_key(subscribers)] = live.rate
                figures[cpu_key(subscribers)] = live.cpu_us
        finally:
            writer.close()
    return figures


class BareServer:
    """The harness's own ceiling: no log and no fan-out logic, in this process. It answers the
    handshakes, and sends each round's frames, framed and joined once, to every subscriber
    with one ``sendall`` each (a thread per subscriber)."""

    def __init__(self, frame_bytes: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.port = int(self.listener.getsockname()[1])
        self.connections: list[socket.socket] = []
        self.frame_bytes = frame_bytes
        self.filler = os.urandom(frame_bytes)
        self.head = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:  # closed
                return
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(4096)
            key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))  # fmt: skip
            accept = base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest())
            self.connections.append(sock)
            sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade"
                b"\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )

    def append(self, count: int) -> tuple[int, int]:
        first, self.head = self.head + 1, self.head + count
        data = b"".join(
            websocket_frame(commit_frame(seq, self.frame_bytes, self.filler))
            for seq in range(first, self.head + 1)
        )
        senders = [threading.Thread(target=sock.sendall, args=(data,)) for sock in self.connections]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        return first, self.head

    def close(self) -> None:
        self.listener.close()
        for sock in self.connections:
            sock.close()


def websocket_frame(payload: bytes) -> bytes:
    """A server's binary WebSocket frame."""
    size = len(payload)
    if size < 126:
        return bytes((0x82, size)) + payload
    if size < 1 << 16:
        return bytes((0x82, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x82, 127)) + size.to_bytes(8, "big") + payload


def measure_ceiling(args: argparse.Namespace) -> dict[str, float]:
    """The live rounds against :class:`BareServer`, by subscriber count."""
    figures = {}
    for subscribers in args.subscribers:
        server = BareServer(args.frame_bytes)
        try:
            live = measure_live(server.port, server.append, time.process_time, subscribers, args)
        finally:
            server.close()
        figures[live_key(subscribers)] = live.rate
    return figures


def replay_key(args: argparse.Namespace) -> str:
    return f"replay from cursor 0, {args.replay:,} events (events/s)"


def live_key(subscribers: int) -> str:
    return f"live fan-out, {subscribers} subscribers (deliveries/s)"


def cpu_key(subscribers: int) -> str:
    return f"server CPU per delivery, {subscribers} subscribers (µs)"


# -- the report -------------------------------------------------------------------------------


def best(values: list[float], key: str) -> float:
    return min(values) if key.startswith("server CPU") else max(values)


def report(
    results: dict[str, dict[str, list[float]]], labels: Sequence[str], markdown: bool
) -> tuple[str, dict[str, dict[str, float]]]:
    """The table (each tree's best, the new/old ratio, the goal) and the figures shown."""
    head = ["measurement", *labels]
    if len(labels) == 2:
        head += ["new/old", "goal", "status"]
    lines: list[Sequence[str]] = [head]
    shown: dict[str, dict[str, float]] = {}
    for key in next(iter(results.values())):
        values = {label: best(results[label][key], key) for label in labels}
        shown[key] = values
        line = [key, *(f"{values[label]:,.2f}" if values[label] < 100 else
                       f"{values[label]:,.0f}" for label in labels)]  # fmt: skip
        if len(labels) == 2:
            ratio = values["new"] / values["old"]
            goal = status = ""
            if key == live_key(GOAL_SUBSCRIBERS):
                goal = f">= {GOAL_RATIO:g}x"
                status = "met" if ratio >= GOAL_RATIO else "NOT MET"
            line += [f"{ratio:.2f}x", goal, status]
        lines.append(line)
    return render(lines, markdown), shown


def commit_of(tree: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip()[:72] or "not a git checkout"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_flags(parser, "10 subscribers, 3 rounds of 200, replay of 5,000 (checks the harness)")
    parser.add_argument("--old-tree", type=Path, help="the baseline source tree (optional)")
    parser.add_argument(
        "--new-tree", type=Path, default=HERE.parent, help="the tree measured (default: this one)"
    )
    parser.add_argument("--subscribers", default=str(GOAL_SUBSCRIBERS), help="e.g. 1,10,100")
    parser.add_argument("--rounds", type=int, default=25, help="timed rounds per subscriber count")
    parser.add_argument("--round-events", type=int, default=800, help="events per round (<1000)")
    parser.add_argument("--round-timeout", type=float, default=60.0, help="seconds per round")
    parser.add_argument(
        "--frame-bytes", type=int, default=2800, help="bytes per frame (a createRecord's: ~3 KB)"
    )
    parser.add_argument("--replay", type=int, default=100_000, help="events replayed (0: none)")
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds for the server to publish the replay log"
    )
    parser.add_argument("--txn-events", type=int, default=5000, help="events per write txn")
    parser.add_argument("--client-procs", type=int, default=2, help="processes of subscribers")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each tree (best shown)")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the servers")
    parser.add_argument(
        "--no-ceiling", action="store_true", help="skip the harness's ceiling (a bare server)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write is not None:
        return write_log(args.write, args.frame_bytes, args.txn_events)
    profile = build_profile()
    if refuse_debug("pds_fanout_bench.py", profile, args.allow_debug):
        return 2
    if args.quick:
        args.subscribers, args.rounds, args.round_events = "10", 3, 200
        args.replay, args.repeat = 5000, 1
    args.subscribers = [int(n) for n in args.subscribers.split(",") if n]
    trees = {"new": args.new_tree.resolve()}
    if args.old_tree is not None:
        trees = {"old": args.old_tree.resolve(), **trees}
    for label, tree in trees.items():
        if not (tree / "python" / "strato").is_dir():
            parser.error(f"--{label}-tree {tree}: no python/strato there")
    results: dict[str, dict[str, list[float]]] = {label: {} for label in trees}
    for run in range(args.repeat):
        for label, tree in trees.items():
            figures = run_tree(tree, args)
            for key, value in figures.items():
                results[label].setdefault(key, []).append(value)
            summary = ", ".join(f"{key} {value:,.2f}" for key, value in figures.items())
            print(f"run {run + 1} {label}: {summary}", file=sys.stderr, flush=True)
    ceiling = {} if args.no_ceiling else measure_ceiling(args)
    extra = [f"{label} tree: {tree} ({commit_of(tree)})" for label, tree in trees.items()]
    extra.append(
        f"frames: {args.frame_bytes} bytes; rounds: {args.rounds} x {args.round_events} events;"
        f" client processes {args.client_procs}; best of {args.repeat} runs"
    )
    for line in environment(profile, ("strato", "uvicorn", "websockets"), extra):
        print(line)
    print()
    table, shown = report(results, list(trees), args.markdown)
    print(table)
    for key, rate in ceiling.items():
        print(
            f"\nthe harness's ceiling (same clients and rounds, a bare server): {key} {rate:,.0f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"trees": {k: str(v) for k, v in trees.items()},
                                         "values": shown, "ceiling": ceiling}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
