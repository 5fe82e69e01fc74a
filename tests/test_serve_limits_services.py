"""The issue's test on the real services: more idle connections than the per-IP cap, and
slowloris connections trickling a head, from 127.0.0.1 to every port of ``strato up`` (the PLC
directory, the PDS, the relay with its fan-out worker) and of a relay with ``--workers 0``,
while a client on 127.0.0.2 keeps being served: requests succeed, firehose subscriptions open;
a request body that stops coming closed on every port. The limits reach ``strato up`` through
its options and its ``STRATO_UP_*`` variables."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from serve_limits_helpers import (
    OTHER,
    Connections,
    client_from,
    serving_service,
    trickle,
    until_closed,
)
from strato.relay.app import create_app
from strato.relay.service import relay_service
from strato.relay.settings import RelaySettings
from strato_proc import free_ports, start, stop, strato_env
from websockets.asyncio.client import connect

PER_IP = 4
IDLE = 6
#: Where the slowloris connections come from (127.0.0.1's slots are all taken).
SLOW = "127.0.0.3"
STREAM = "/xrpc/com.atproto.sync.subscribeRepos"


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def flood(connections: Connections) -> list[asyncio.Task[bytes]]:
    """:data:`IDLE` idle connections from 127.0.0.1 and two trickling a head from
    :data:`SLOW`; a task per connection ending with what the server sent before closing it."""
    tasks = []
    for _ in range(IDLE):
        reader, _ = await connections.open()
        tasks.append(asyncio.create_task(until_closed(reader)))
    for _ in range(2):
        tasks.append(asyncio.create_task(trickle(*await connections.open(SLOW))))
    return tasks


async def refused_and_timed_out(tasks: list[asyncio.Task[bytes]]) -> tuple[int, list[bytes]]:
    """How many idle connections were refused with a 503 (the others are closed by the head
    timeout), and what the trickling ones got."""
    answers = await asyncio.gather(*tasks)
    refused = sum(answer.startswith(b"HTTP/1.1 503 ") for answer in answers[:IDLE])
    return refused, list(answers[IDLE:])


@pytest.fixture
def up(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``strato up`` on free ports, 4 connections per IP, heads within 1 s, idle 1 s; its
    URLs."""
    ports = dict(zip(("plc", "pds", "relay"), free_ports(3), strict=True))
    log = tmp_path / "up.log"
    argv = ["up", "--data-dir", str(tmp_path / "net"), "--header-timeout", "1"]
    argv += ["--keepalive-timeout", "1"]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    env = strato_env(STRATO_UP_MAX_CONNECTIONS_PER_IP=str(PER_IP))
    process = start(log, *argv, env=env, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "Ctrl-C stops everything" in line:
                break
        else:
            raise AssertionError(log.read_text())
        yield {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    finally:
        assert stop(process) == 0, log.read_text()


def test_up_serves_another_address_while_one_floods_every_port(up: dict[str, str]) -> None:
    health = {"plc": "/_health", "pds": "/xrpc/_health", "relay": "/xrpc/_health"}

    async def scenario() -> None:
        floods = {name: Connections(url) for name, url in up.items()}
        try:
            tasks = {name: await flood(connections) for name, connections in floods.items()}
            async with client_from(OTHER) as client:
                for name, url in up.items():
                    assert (await client.get(url + health[name])).status_code == 200, name
            for name in ("pds", "relay"):
                ws_url = up[name].replace("http://", "ws://") + STREAM
                async with connect(ws_url, local_addr=(OTHER, 0)) as subscriber:
                    assert subscriber.response is not None
                    assert subscriber.response.status_code == 101
            for name, flooding in tasks.items():
                refused, trickled = await refused_and_timed_out(flooding)
                assert refused >= IDLE - PER_IP, name
                assert trickled == [b"", b""], name
            async with client_from(OTHER) as client:
                plc = (await client.get(up["plc"] + "/metrics")).text
                relay = (await client.get(up["relay"] + "/metrics")).text
        finally:
            for connections in floods.values():
                await connections.close_all()
        refusals = "strato_connections_refused_total"
        assert metric(plc, refusals, service="plc", reason="max_connections_per_ip") == 2
        assert metric(plc, refusals, service="plc", reason="header_timeout") == PER_IP + 2
        refusals = "strato_firehose_connections_refused_total"
        assert metric(relay, refusals, reason="max_connections_per_ip") == 2
        assert metric(relay, refusals, reason="header_timeout") == PER_IP + 2

    asyncio.run(scenario())


def test_a_request_body_that_stops_coming_is_closed_on_every_port(
    up: dict[str, str], tmp_path: Path
) -> None:
    """A head, then a tenth of the body it announced, then nothing: closed once silent for the
    keep-alive timeout (the relay's by its main process, where the worker handed it), without
    an answer and without a server error in the log."""
    posts = {
        "plc": "/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
        "pds": "/xrpc/com.atproto.server.createSession",
        "relay": "/xrpc/com.atproto.sync.requestCrawl",
    }

    async def scenario() -> dict[str, str]:
        flows = {name: Connections(url) for name, url in up.items()}
        try:
            cut = []
            for name, connections in flows.items():
                reader, writer = await connections.open(SLOW)
                head = f"POST {posts[name]} HTTP/1.1\r\nHost: x\r\n"
                head += "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                writer.write(head.encode() + b'{"hostname"')
                cut.append(until_closed(reader))
            assert await asyncio.gather(*cut) == [b"", b"", b""]
            async with client_from(OTHER) as client:
                return {name: (await client.get(url + "/metrics")).text for name, url in up.items()}
        finally:
            for connections in flows.values():
                await connections.close_all()

    metrics = asyncio.run(scenario())
    for name, text in metrics.items():
        labels = {"service": name, "reason": "body_timeout"}
        assert metric(text, "strato_connections_refused_total", **labels) == 1, name
    log = (tmp_path / "up.log").read_text()
    assert "Traceback" not in log, log


def test_a_relay_without_workers_serves_another_address_while_one_floods_it(
    tmp_path: Path,
) -> None:
    settings = RelaySettings(
        data_dir=tmp_path / "relay", port=0, plc_url="http://127.0.0.1:9", sync=False,
        workers=0, header_timeout=1, max_connections_per_ip=PER_IP,
    )  # fmt: skip
    service = relay_service(settings, create_app(settings))

    async def scenario() -> None:
        async with serving_service(service) as connections:
            url = connections.url
            flooding = await flood(connections)
            async with client_from(OTHER) as client:
                assert (await client.get(url + "/xrpc/_health")).status_code == 200
            async with connect(url.replace("http://", "ws://") + STREAM, local_addr=(OTHER, 0)):
                pass
            refused, trickled = await refused_and_timed_out(flooding)
            assert (refused, trickled) == (IDLE - PER_IP, [b"", b""])
            async with client_from(OTHER) as client:
                metrics = (await client.get(url + "/metrics")).text
        labels = {"service": "relay", "reason": "header_timeout"}
        assert metric(metrics, "strato_connections_refused_total", **labels) == PER_IP + 2

    asyncio.run(scenario())
