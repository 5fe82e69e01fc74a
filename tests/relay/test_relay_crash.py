"""Crash safety: a relay (``strato relay``, a child process) ingesting a PDS that keeps writing
is killed with SIGKILL in the middle of ingest, several times, and restarted on the same data
directory. A consumer that reconnects with its cursor after each restart sees the relay's seqs
contiguous (no gap, no repeat) and every upstream commit exactly once; after the last restart
every commit the PDS made is on the relay: each upstream cursor resumed without loss. A
``strato firehose tail --reconnect`` running throughout prints the same events, once each."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pds_net import LocalPds, run_plc
from relay_e2e_net import Collector, pds_events, post, wait_for
from relay_net import run_addressed_pds
from strato.firehose import Frame
from strato_proc import (
    free_port,
    interruptible_children,
    start,
    stop,
    strato_env,
    wait_until_up,
)

ROUNDS = 4
#: Events the consumer sees in a round before the relay is killed.
PER_ROUND = 25


class Writer:
    """Posts on the PDS from a thread, round-robin over a few accounts, until stopped."""

    def __init__(self, pds: LocalPds, sessions: list[dict[str, Any]]) -> None:
        self.pds = pds
        self.sessions = sessions
        self.posts = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                post(self.pds, self.sessions[self.posts % len(self.sessions)], f"n{self.posts}")
                self.posts += 1
        except BaseException as err:  # reported by stop()
            self.error = err

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        if self.error is not None:
            raise self.error


class Relay:
    """``strato relay`` crawling the PDS, in a child process started again on the same data
    directory after each kill."""

    def __init__(self, tmp_path: Path, pds: LocalPds) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.stream = f"ws://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos"
        self.log = tmp_path / "relay.log"
        self.argv = ["relay", "--port", str(port), "--data-dir", str(tmp_path / "relay")]
        self.argv += ["--plc-url", pds.plc_url, "--local-network"]
        self.argv += ["--crawl", pds.settings.hostname]
        self.process = self.start()

    def start(self) -> subprocess.Popen[str]:
        self.process = start(self.log, *self.argv)
        wait_until_up(self.process, f"{self.url}/xrpc/_health", self.log)
        return self.process

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


class Tail:
    """``strato firehose tail --reconnect`` with its lines collected by a thread."""

    def __init__(self, url: str) -> None:
        command = [sys.executable, "-m", "strato", "firehose", "tail", url, "--cursor", "0"]
        interruptible_children()  # it is stopped with Ctrl-C
        self.process = subprocess.Popen(
            [*command, "--reconnect"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=strato_env(),
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.append(json.loads(line))

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGINT)
        _, err = self.process.communicate(timeout=30)
        self._thread.join(timeout=30)
        return self.process.returncode, err


@pytest.fixture
def pds(tmp_path: Path) -> Iterator[LocalPds]:
    with run_plc(tmp_path / "plc") as plc_url, run_addressed_pds(tmp_path / "pds", plc_url) as pds:
        yield pds


def commit_keys(frames: list[Frame]) -> list[tuple[str, str]]:
    return [(f.body["repo"], f.body["rev"]) for f in frames if f.t == "#commit"]


def crash_rounds(relay: Relay, seen: list[Frame]) -> None:
    """Read until the round's events are in, kill the relay, restart it; ``ROUNDS`` times."""
    for _ in range(ROUNDS):
        consumer = Collector(relay.stream, cursor=seen[-1].seq if seen else 0)
        try:
            consumer.wait(PER_ROUND)  # ingest is under way
        finally:
            relay.kill()
            consumer.stop()
        seen.extend(consumer.frames)
        relay.start()


def test_kill_9_during_ingest_loses_and_repeats_nothing(tmp_path: Path, pds: LocalPds) -> None:
    relay = Relay(tmp_path, pds)
    tail = Tail(relay.url)
    seen: list[Frame] = []
    writer: Writer | None = None
    try:
        # A new host is joined at its live head: the relay connects before anything is written.
        wait_for(lambda: pds.subscriber_count >= 1, "the relay to subscribe")
        sessions = [pds.create_account(f"user{n}.test") for n in range(3)]
        writer = Writer(pds, sessions)
        crash_rounds(relay, seen)
        writer.stop()
        made = commit_keys(pds_events(pds))
        assert len(made) >= ROUNDS * PER_ROUND // 2

        consumer = Collector(relay.stream, cursor=seen[-1].seq)
        try:
            wait_for(
                lambda: set(made) <= set(commit_keys(seen + consumer.frames)),
                "every upstream commit on the relay",
                timeout=60,
            )
        finally:
            consumer.stop()
        seen.extend(consumer.frames)
        wait_for(lambda: len(tail.events) >= len(seen), "the tail to catch up", timeout=60)
    finally:
        if writer is not None:
            writer.stop()
        tailed = tail.stop()
        code = stop(relay.process)
    assert code == 0, relay.log.read_text()

    assert [frame.seq for frame in seen] == list(range(1, len(seen) + 1))  # no gap, no repeat
    assert [key for key, n in Counter(commit_keys(seen)).items() if n > 1] == []
    assert set(commit_keys(seen)) == set(made)
    for session in sessions:  # each account's commits in order
        mine = [rev for did, rev in commit_keys(seen) if did == session["did"]]
        assert mine == sorted(mine)
    # the tail reconnected after every kill, from the last seq it printed
    assert tailed == (0, "")
    assert [event["seq"] for event in tail.events] == list(range(1, len(tail.events) + 1))
    assert [(e["type"], e.get("rev")) for e in tail.events[: len(seen)]] == [
        (frame.t, frame.body.get("rev")) for frame in seen
    ]
