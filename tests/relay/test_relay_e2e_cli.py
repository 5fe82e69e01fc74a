"""The commands end to end, as child processes: ``strato relay`` crawling a PDS, ``strato
firehose tail`` printing its events as JSON lines (from a cursor, into ``| head``, stopped by
Ctrl-C), and ``strato up`` bringing up PLC + PDS + relay, where a post on the PDS appears on
the relay's firehose."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from pds_net import PASSWORD, LocalPds, run_plc
from prometheus_client.parser import text_string_to_metric_families
from relay_e2e_net import (
    POST,
    Collector,
    did_of,
    event_key,
    pds_events,
    post,
    read_stream,
    wait_for,
)
from relay_net import run_addressed_pds
from strato_proc import (
    free_port,
    free_ports,
    interruptible_children,
    start,
    stop,
    strato_env,
    wait_until_up,
)


@dataclass
class RelayProcess:
    url: str
    stream_url: str
    process: subprocess.Popen[str]
    log: Path


@pytest.fixture
def pds(tmp_path: Path) -> Iterator[LocalPds]:
    with (
        run_plc(tmp_path / "plc") as plc_url,
        run_addressed_pds(tmp_path / "pds", plc_url) as pds,
    ):
        yield pds


@pytest.fixture
def relay(request: pytest.FixtureRequest, tmp_path: Path, pds: LocalPds) -> Iterator[RelayProcess]:
    """``strato relay`` crawling ``pds``; an indirect parameter is its ``--workers``."""
    port = free_port()
    log = tmp_path / "relay.log"
    argv = ["relay", "--port", str(port), "--data-dir", str(tmp_path / "relay")]
    if hasattr(request, "param"):
        argv += ["--workers", str(request.param)]
    argv += ["--plc-url", pds.plc_url, "--local-network", "--crawl", pds.settings.hostname]
    process = start(log, *argv, "--log-format", "json")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, f"{url}/xrpc/_health", log)
        wait_for(lambda: f"relay running on {url}" in log.read_text(), "the relay's workers")
        wait_for(lambda: pds.subscriber_count >= 1, "the relay to subscribe")
        stream = f"ws://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos"
        yield RelayProcess(url, stream, process, log)
    finally:
        assert stop(process) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"relay running on " + url} <= {line["msg"] for line in lines}  # structured logs


def tail(*argv: str) -> subprocess.Popen[str]:
    interruptible_children()  # it is stopped with Ctrl-C
    return subprocess.Popen(
        [sys.executable, "-m", "strato", "firehose", "tail", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=strato_env(),
        text=True,
    )


def lines(stream: IO[str] | None, count: int) -> list[dict[str, Any]]:
    assert stream is not None
    return [json.loads(stream.readline()) for _ in range(count)]


def test_tail_prints_the_relays_events_as_json_lines(pds: LocalPds, relay: RelayProcess) -> None:
    alice = pds.create_account("alice.test")
    revs = [post(pds, alice, f"post {n}") for n in range(3)]
    upstream = pds_events(pds)
    count = len(upstream)
    read_stream(relay.stream_url, count)  # the relay has them all

    process = tail(relay.url, "--cursor", "0")
    try:
        printed = lines(process.stdout, count)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        out, err = process.communicate(timeout=30)
    assert (process.returncode, out, err) == (0, "", "")
    assert [event["seq"] for event in printed] == list(range(1, count + 1))
    ours = [(e["type"], e.get("repo") or e.get("did"), e.get("rev")) for e in printed]
    assert ours == [event_key(frame) for frame in upstream]
    commits = [event for event in printed if event["type"] == "#commit"]
    assert [event["rev"] for event in commits[-3:]] == revs
    for event, frame in zip(printed, upstream, strict=True):
        if event["type"] == "#commit":
            assert event["blocksSize"] == len(frame.body["blocks"])
            assert "blocks" not in event
            assert event["commit"] == {"$link": str(frame.body["commit"])}
            assert event["repo"] == did_of(frame)

    # --cursor: seq > cursor; --blocks prints them whole
    process = tail(relay.stream_url, "--cursor", str(count - 2), "--blocks")
    try:
        last_two = lines(process.stdout, 2)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert [event["seq"] for event in last_two] == [count - 1, count]
    assert last_two[-1]["blocks"] == {"$bytes": _b64(upstream[-1].body["blocks"])}

    # a FutureCursor: one line on stderr, status 1
    future = subprocess.run(
        [sys.executable, "-m", "strato", "firehose", "tail", relay.url, "--cursor", "999"],
        capture_output=True, text=True, env=strato_env(), timeout=60, check=False,
    )  # fmt: skip
    assert (future.returncode, future.stdout) == (1, "")
    assert future.stderr == (
        f"strato: error: {relay.stream_url} ended the stream with FutureCursor: "
        "Cursor in the future.\n"
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def test_tail_into_head(pds: LocalPds, relay: RelayProcess) -> None:
    bob = pds.create_account("bob.test")
    post(pds, bob)
    count = len(pds_events(pds))
    read_stream(relay.stream_url, count)
    command = (
        f"{sys.executable} -m strato firehose tail {relay.url} --cursor 0 | head -n 2; "
        'echo "status ${PIPESTATUS[0]}"'
    )
    shell = subprocess.Popen(
        ["bash", "-c", command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=strato_env(),
        text=True,
    )
    assert shell.stdout is not None
    first = [json.loads(shell.stdout.readline()) for _ in range(2)]
    assert [event["seq"] for event in first] == [1, 2]
    # head has gone; the next event the tail writes finds the pipe closed, and it ends quietly
    post(pds, bob, "after head")
    out, err = shell.communicate(timeout=60)
    assert (out, err) == ("status 0\n", "")


@dataclass
class Up:
    process: subprocess.Popen[str]
    pds_url: str
    relay_url: str
    banner: str


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    plc_port, pds_port, relay_port = free_ports(3)
    log = tmp_path / "up.log"
    argv = ["up", "--data-dir", str(tmp_path / "net"), "--plc-port", str(plc_port)]
    argv += ["--pds-port", str(pds_port), "--relay-port", str(relay_port)]
    process = start(log, *argv, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        banner = []
        for line in process.stdout:
            banner.append(line)
            if "Ctrl-C stops everything" in line:
                break
        assert "Ctrl-C" in "".join(banner[-1:]), log.read_text()
        yield Up(
            process,
            f"http://localhost:{pds_port}",
            f"http://localhost:{relay_port}",
            "".join(banner),
        )
    finally:
        assert stop(process) == 0


def test_up_a_post_on_the_pds_appears_on_the_relay(up: Up) -> None:
    with httpx.Client(base_url=up.pds_url, timeout=30) as client:
        made = client.post(
            "/xrpc/com.atproto.server.createAccount",
            json={"handle": "zoe.test", "password": PASSWORD},
        )
        assert made.status_code == 200, made.text
        session = made.json()
        created = client.post(
            "/xrpc/com.atproto.repo.createRecord",
            headers={"Authorization": f"Bearer {session['accessJwt']}"},
            json={
                "repo": session["did"],
                "collection": "app.bsky.feed.post",
                "record": {**POST, "text": "up!"},
            },
        )
        assert created.status_code == 200, created.text
        rev = created.json()["commit"]["rev"]
        head = client.get("/xrpc/com.atproto.sync.getLatestCommit", params={"did": session["did"]})
    assert head.json()["rev"] == rev
    stream = up.relay_url.replace("http://", "ws://") + "/xrpc/com.atproto.sync.subscribeRepos"
    reader = Collector(stream, cursor=0)
    try:
        wait_for(
            lambda: any(f.t == "#commit" and f.body["rev"] == rev for f in reader.frames),
            "the post on the relay's firehose",
        )
    finally:
        reader.stop()
    seen = reader.frames
    assert [frame.seq for frame in seen] == list(range(1, len(seen) + 1))
    assert {did_of(frame) for frame in seen} == {session["did"]}
    status = httpx.get(
        f"{up.relay_url}/xrpc/com.atproto.sync.getRepoStatus", params={"did": session["did"]}
    )
    assert (status.status_code, status.json()["rev"]) == (200, rev)


def _subscribers(relay: RelayProcess) -> float:
    text = httpx.get(f"{relay.url}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "strato_firehose_subscribers":
                return sample.value
    return 0.0


# Served by the fan-out in the main process or in a worker, which closes the stream with 1001
# (going away: a normal end for websockets) when the relay stops.
@pytest.mark.parametrize("relay", [0, 1], indirect=True)
def test_tail_ends_with_an_error_when_the_relay_stops(relay: RelayProcess) -> None:
    process = tail(relay.url)
    wait_for(lambda: _subscribers(relay) == 1, "the tail to connect")
    assert stop(relay.process) == 0
    out, err = process.communicate(timeout=30)
    assert (process.returncode, out) == (1, "")
    assert err == f"strato: error: {relay.stream_url} closed the stream\n"
