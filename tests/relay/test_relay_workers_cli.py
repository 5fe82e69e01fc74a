"""``strato relay --workers N`` as a child process crawling a PDS: the main process binds the
port without accepting on it; the workers accept every connection, serve subscribeRepos (from
a cursor and live, every subscriber the same bytes with the relay's seqs, in order) and hand
every other request (XRPC, admin, /metrics, /xrpc/_health) to the main process; the admin API
lists the workers' consumers and /metrics has their series; SIGTERM stops everything (the
subscribers get close 1001, no process is left); workers outlive no main process killed with
SIGKILL; a second relay on the same port is refused (the port is shared with the workers only),
so is a data directory too long for the hand-off socket's path; ``--workers 0`` serves
everything from the main process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pds_net import LocalPds, run_plc
from prometheus_client.parser import text_string_to_metric_families
from relay_e2e_net import did_of, event_key, pds_events, post, wait_for
from relay_net import run_addressed_pds
from strato.firehose import Frame, decode_frame
from strato_proc import free_port, start, stop, wait_until_up
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TOKEN = "relay-workers-admin-0123456789"
LIST_CONSUMERS = "/xrpc/dev.strato.relay.admin.listConsumers"
TIMEOUT = 30.0
#: Subscribers opened until both workers serve some (all on one: odds 2^-39).
MAX_SUBSCRIBERS = 40


@dataclass
class RelayProcess:
    url: str
    stream: str
    port: int
    process: subprocess.Popen[str]
    log: Path


@pytest.fixture
def pds(tmp_path: Path) -> Iterator[LocalPds]:
    with (
        run_plc(tmp_path / "plc") as plc_url,
        run_addressed_pds(tmp_path / "pds", plc_url) as pds,
    ):
        yield pds


@contextlib.contextmanager
def relay_process(tmp_path: Path, pds: LocalPds, workers: int) -> Iterator[RelayProcess]:
    """``strato relay --workers WORKERS`` crawling ``pds``, up and subscribed to it."""
    port = free_port()
    token = tmp_path / "admin-token"
    token.write_text(TOKEN)
    log = tmp_path / "relay.log"
    argv = ["relay", "--port", str(port), "--data-dir", str(tmp_path / "relay")]
    argv += ["--plc-url", pds.plc_url, "--local-network", "--crawl", pds.settings.hostname]
    argv += ["--admin-token-file", str(token), "--workers", str(workers)]
    process = start(log, *argv)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, f"{url}/xrpc/_health", log)  # one worker may answer already
        wait_for(lambda: f"relay running on {url}" in log.read_text(), "every worker to start")
        wait_for(lambda: pds.subscriber_count >= 1, "the relay to subscribe")
        stream = f"ws://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos"
        yield RelayProcess(url, stream, port, process, log)
    finally:
        stop(process)


def children(pid: int) -> set[int]:
    """The live child processes of ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def ended(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


def listening(port: int) -> set[int]:
    """The processes holding a socket that listens on TCP ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in _read_whole(table).splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{inode}]")
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and inodes & _sockets(entry):
            pids.add(int(entry.name))
    return pids


def _read_whole(path: str) -> str:
    """A /proc table in as few reads as possible: the kernel renders it anew for each read,
    so a table read in small pieces can skip rows when sockets come and go in between."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 22):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def _sockets(process: Path) -> set[str]:
    """What the descriptors of ``process`` link to (those closed meanwhile left out)."""
    links = set()
    with contextlib.suppress(FileNotFoundError, PermissionError, ProcessLookupError):
        for fd in (process / "fd").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                links.add(os.readlink(fd))
    return links


def metric(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"no {name} in /metrics")


def consumers(url: str) -> list[dict[str, object]]:
    answer = httpx.get(url + LIST_CONSUMERS, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    listed: list[dict[str, object]] = answer.json()["consumers"]
    return listed


async def receive(client: ClientConnection, count: int) -> list[bytes]:
    frames = []
    for _ in range(count):
        frame = await asyncio.wait_for(client.recv(), TIMEOUT)
        assert isinstance(frame, bytes)
        frames.append(frame)
    return frames


def raw_post(port: int, path: str, body: bytes, pause: float | None) -> bytes:
    """POST ``body`` over a plain socket: with the head in one write, or the head first and
    the body ``pause`` seconds later; the whole answer (the server closes)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        if pause is None:
            sock.sendall(head + body)
        else:
            sock.sendall(head)
            time.sleep(pause)
            sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_workers_serve_the_firehose_and_hand_everything_else_to_the_main_process(
    tmp_path: Path, pds: LocalPds
) -> None:
    with relay_process(tmp_path, pds, workers=2) as relay:
        workers = children(relay.process.pid)
        assert len(workers) == 2
        assert listening(relay.port) == workers  # the main process does not accept

        alice = pds.create_account("alice.test")
        revs = [post(pds, alice, f"post {n}") for n in range(3)]
        upstream = pds_events(pds)

        def status() -> httpx.Response:
            return httpx.get(
                f"{relay.url}/xrpc/com.atproto.sync.getRepoStatus", params={"did": alice["did"]}
            )

        wait_for(lambda: status().json().get("rev") == revs[-1], "the relay to ingest")
        # Everything below is accepted by a worker and answered by the main process.
        assert status().json() == {"did": alice["did"], "active": True, "rev": revs[-1]}
        hosts = httpx.get(f"{relay.url}/xrpc/com.atproto.sync.listHosts").json()["hosts"]
        assert [host["hostname"] for host in hosts] == [pds.settings.hostname]
        health = httpx.get(f"{relay.url}/xrpc/_health")
        assert (health.status_code, health.headers["server"]) == (
            200,
            "strato-relay/" + health.json()["version"] + " (atproto-relay)",
        )
        refused = httpx.get(relay.url + LIST_CONSUMERS)
        assert (refused.status_code, refused.json()["error"]) == (401, "AuthenticationRequired")
        assert consumers(relay.url) == []
        # A request with a body: the worker may have read some of it with the head, or none.
        for pause in (None, 0.2):
            answer = raw_post(relay.port, "/xrpc/com.atproto.sync.requestCrawl",
                              b'{"hostname": "not a host name"}', pause)  # fmt: skip
            assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
            assert b'"error":"BadRequest"' in answer

        asyncio.run(_subscribe(relay, pds, alice, upstream, workers))

        assert stop(relay.process) == 0
        deadline = time.monotonic() + TIMEOUT
        while not all(ended(pid) for pid in workers):
            assert time.monotonic() < deadline, "workers outlived the relay"
            time.sleep(0.02)
        assert listening(relay.port) == set()


async def _subscribe(
    relay: RelayProcess,
    pds: LocalPds,
    alice: dict[str, str],
    upstream: list[Frame],
    workers: set[int],
) -> None:
    count = len(upstream)
    replayers: list[ClientConnection] = []
    replayed: list[list[bytes]] = []
    # From cursor 0 until both workers serve some of them.
    while True:
        assert len(replayers) < MAX_SUBSCRIBERS, "every subscriber went to one worker"
        client = await connect(f"{relay.stream}?cursor=0")
        replayers.append(client)
        replayed.append(await receive(client, count))
        listed = await asyncio.to_thread(consumers, relay.url)
        if len(replayers) >= 3 and {c["source"] for c in listed} == {
            f"worker {p}" for p in workers
        }:
            break
    live = [await connect(relay.stream) for _ in range(2)]
    everyone = replayers + live

    # The replay: the PDS's events in its order, with the relay's seqs, the same bytes for all.
    assert all(frames == replayed[0] for frames in replayed)
    decoded = [decode_frame(frame) for frame in replayed[0]]
    assert [frame.seq for frame in decoded] == list(range(1, count + 1))
    assert [event_key(frame) for frame in decoded] == [event_key(f) for f in upstream]

    def listed_all() -> bool:
        return len(consumers(relay.url)) == len(everyone)

    await asyncio.to_thread(wait_for, listed_all, "the admin API to list every subscriber")
    listed = await asyncio.to_thread(consumers, relay.url)
    assert {c["source"] for c in listed} == {f"worker {pid}" for pid in workers}
    assert sorted((c.get("cursor", -1), c["remoteAddr"]) for c in listed) == sorted(
        [(0, "127.0.0.1")] * len(replayers) + [(-1, "127.0.0.1")] * len(live)
    )
    assert all("eventsSent" not in c for c in listed)

    # Live: new commits reach every subscriber, replayed or live-only, byte for byte.
    new_revs = [await asyncio.to_thread(post, pds, alice, f"live {n}") for n in range(2)]
    got = [await receive(client, 2) for client in everyone]
    assert all(frames == got[0] for frames in got)
    fresh = [decode_frame(frame) for frame in got[0]]
    assert [frame.seq for frame in fresh] == [count + 1, count + 2]
    assert [(frame.t, did_of(frame), frame.body["rev"]) for frame in fresh] == [
        ("#commit", alice["did"], rev) for rev in new_revs
    ]

    # The workers count frames as their writers report them written: soon after they arrive.
    delivered = len(replayers) * count + 2 * len(everyone)

    def counted() -> bool:
        text = httpx.get(f"{relay.url}/metrics").text
        return metric(text, "strato_firehose_frames_sent_total") == delivered

    await asyncio.to_thread(wait_for, counted, "the workers' metrics")
    text = (await asyncio.to_thread(httpx.get, f"{relay.url}/metrics")).text
    assert metric(text, "strato_firehose_subscribers") == len(everyone)
    assert metric(text, "strato_firehose_head_seq") == count + 2
    assert metric(text, "strato_firehose_bytes_sent_total") > 0

    # SIGTERM: every subscriber is closed with 1001 (going away).
    relay.process.send_signal(signal.SIGTERM)
    for client in everyone:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.recv(), TIMEOUT)
        assert client.close_code == 1001


def test_workers_exit_when_the_relay_is_killed(tmp_path: Path, pds: LocalPds) -> None:
    with relay_process(tmp_path, pds, workers=1) as relay:
        workers = children(relay.process.pid)
        assert len(workers) == 1
        relay.process.kill()  # SIGKILL: no clean-up
        relay.process.wait()
        deadline = time.monotonic() + TIMEOUT
        while not all(ended(pid) for pid in workers):
            assert time.monotonic() < deadline, "the worker outlived the relay"
            time.sleep(0.02)
        assert listening(relay.port) == set()


def test_a_worker_that_dies_is_replaced(tmp_path: Path, pds: LocalPds) -> None:
    with relay_process(tmp_path, pds, workers=1) as relay:
        (worker,) = children(relay.process.pid)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert time.monotonic() < deadline, "no worker took the dead one's place"
            fresh = children(relay.process.pid) - {worker}
            if fresh and listening(relay.port) == fresh:
                break
            time.sleep(0.05)
        # The port is served again: the firehose by the new worker, the rest through it.
        assert httpx.get(f"{relay.url}/xrpc/_health").status_code == 200
        assert relay.process.poll() is None


def test_an_upgrade_on_a_connection_handed_to_the_main_process_is_sent_to_a_new_one(
    tmp_path: Path, pds: LocalPds
) -> None:
    """A request a worker hands over keeps its connection in the main process; a firehose
    upgrade on it is answered 503 with Retry-After: 0 and closed: on a new connection a worker
    serves it."""
    upgrade = (
        b"GET /xrpc/com.atproto.sync.subscribeRepos HTTP/1.1\r\nHost: x\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with relay_process(tmp_path, pds, workers=1) as relay:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET /xrpc/_health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while b'"version"' not in answer:
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ")
            sock.sendall(upgrade)
            refused = b""
            while chunk := sock.recv(65536):
                refused += chunk
        head, _, body = refused.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ")
        assert b"Retry-After: 0" in head
        assert json.loads(body)["error"] == "TryAgain"
        with socket.create_connection(("127.0.0.1", relay.port), timeout=TIMEOUT) as sock:
            sock.sendall(upgrade)
            assert sock.recv(65536).startswith(b"HTTP/1.1 101 ")


def test_a_second_relay_on_the_port_is_refused(tmp_path: Path, pds: LocalPds) -> None:
    with relay_process(tmp_path, pds, workers=1) as relay:
        argv = ["relay", "--port", str(relay.port), "--data-dir", str(tmp_path / "second")]
        second = start(tmp_path / "second.log", *argv, "--plc-url", pds.plc_url)
        assert second.wait(timeout=TIMEOUT) == 1
        assert (tmp_path / "second.log").read_text() == (
            f"strato: error: relay cannot listen on 127.0.0.1:{relay.port}: "
            "Address already in use\n"
        )
        assert httpx.get(f"{relay.url}/xrpc/_health").status_code == 200


def test_no_workers_the_main_process_serves_everything(tmp_path: Path, pds: LocalPds) -> None:
    """The same fan-out in the main process: its consumers listed from ``main`` with what was
    sent to them, its metrics on the main ``/metrics``, no hand-off socket."""
    with relay_process(tmp_path, pds, workers=0) as relay:
        assert children(relay.process.pid) == set()
        assert listening(relay.port) == {relay.process.pid}
        bob = pds.create_account("bob.test")
        rev = post(pds, bob)
        upstream = pds_events(pds)

        async def check() -> None:
            async with connect(f"{relay.stream}?cursor=0") as client:
                frames = [decode_frame(f) for f in await receive(client, len(upstream))]
                assert [frame.seq for frame in frames] == list(range(1, len(upstream) + 1))
                assert frames[-1].body["rev"] == rev

                def counted() -> bool:  # the counts follow the writes within a moment
                    listed = consumers(relay.url)
                    text = httpx.get(f"{relay.url}/metrics").text
                    return (
                        [(c["source"], c.get("eventsSent")) for c in listed]
                        == [("main", len(upstream))]
                        and metric(text, "strato_firehose_subscribers") == 1
                        and metric(text, "strato_firehose_frames_sent_total") == len(upstream)
                    )

                await asyncio.to_thread(wait_for, counted, "the counts")

        asyncio.run(check())
        assert not (tmp_path / "relay" / "fanout.sock").exists()
        assert stop(relay.process) == 0


def test_a_data_dir_too_long_for_the_handoff_socket_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 110)
    log = tmp_path / "relay.log"
    process = start(log, "relay", "--port", str(free_port()), "--data-dir", str(data_dir))
    assert process.wait(timeout=TIMEOUT) == 1
    assert log.read_text().splitlines()[-1] == (
        f"strato: error: relay failed to start: cannot listen at {data_dir}/fanout.sock for the "
        "fan-out workers: AF_UNIX path too long (a shorter --data-dir, or --workers 0)"
    )
