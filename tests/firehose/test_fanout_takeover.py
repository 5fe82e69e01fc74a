"""How a service's HTTP server hands ``subscribeRepos`` upgrades to the fan-out in its process
(:mod:`strato.service.protocol`'s takeover, :meth:`FanoutServer.adopt`), on raw sockets: on
uvloop and on asyncio's own loop; after a request on a kept-alive connection; behind a
pipelined request, whose answer goes out first; a percent-encoded path; a head too large; and
a takeover while the fan-out is not running."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop
from fanout_helpers import complete_messages
from firehose_helpers import FirehoseService, serve_stream, wait_for
from strato.firehose import SUBSCRIBE_REPOS_PATH, decode_frame
from strato.firehose.fanout.service import FanoutTakeover
from strato.service.limits import REFUSAL, ConnectionGuard

TIMEOUT = 20.0


def upgrade(path: str = SUBSCRIBE_REPOS_PATH, *, extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


def connect_raw(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    return sock


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP response head, and what came after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def read_response(sock: socket.socket) -> tuple[bytes, bytes, bytes]:
    """One whole HTTP response with a Content-Length: head, body, and what came after."""
    head, rest = read_head(sock)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest[:length], rest[length:]


def frames(sock: socket.socket, data: bytes, count: int) -> list[int | None]:
    """The seqs of ``count`` event frames read from ``sock`` (after ``data`` already read)."""
    while True:
        messages, _ = complete_messages(data)
        if len(messages) >= count:
            return [decode_frame(payload).seq for _, payload in messages[:count]]
        chunk = sock.recv(65536)
        assert chunk, "closed"
        data += chunk


@pytest.fixture
def service(tmp_path: Path) -> FirehoseService:
    return FirehoseService(tmp_path)


@pytest.fixture(params=["uvloop", "asyncio"])
def address(service: FirehoseService, request: pytest.FixtureRequest) -> Iterator[str]:
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop
    with serve_stream(service, loop_factory=factory) as address:
        yield address


def test_an_upgrade_is_taken_over_and_streams(service: FirehoseService, address: str) -> None:
    service.append(count=2)
    with connect_raw(address) as sock:
        sock.sendall(upgrade(f"{SUBSCRIBE_REPOS_PATH}?cursor=0"))
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert frames(sock, rest, 2) == [1, 2]
    wait_for(lambda: service.subscriber_count == 0)
    # Its slot, in the server's count, was given back when it closed.
    wait_for(lambda: service.metric("strato_connections_open", service="firehose-test") == 0)


def test_an_upgrade_after_a_request_on_a_kept_alive_connection(
    service: FirehoseService, address: str
) -> None:
    service.append()
    with connect_raw(address) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, rest = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert rest == b""
        sock.sendall(upgrade(f"{SUBSCRIBE_REPOS_PATH}?cursor=0"))
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert frames(sock, rest, 1) == [1]


def test_a_pipelined_request_is_answered_before_the_upgrade(
    service: FirehoseService, address: str
) -> None:
    service.append()
    with connect_raw(address) as sock:
        first = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(first + upgrade(f"{SUBSCRIBE_REPOS_PATH}?cursor=0"))
        head, body, rest = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"strato_firehose_head_seq" in body
        while b"\r\n\r\n" not in rest:
            rest += sock.recv(65536)
        upgraded, _, rest = rest.partition(b"\r\n\r\n")
        assert upgraded.startswith(b"HTTP/1.1 101 ")
        assert frames(sock, rest, 1) == [1]


def test_the_path_matches_percent_decoded(service: FirehoseService, address: str) -> None:
    service.append()
    encoded = SUBSCRIBE_REPOS_PATH.replace("subscribeRepos", "subscribeRepo%73")
    with connect_raw(address) as sock:
        sock.sendall(upgrade(f"{encoded}?cursor=0"))
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert frames(sock, rest, 1) == [1]


def test_a_head_too_large_for_the_fan_out_is_refused(
    service: FirehoseService, address: str
) -> None:
    """Over the fan-out's 8 KiB, refused once taken over."""
    with connect_raw(address) as sock:
        sock.sendall(upgrade(extra=f"X-Padding: {'p' * 9000}\r\n"))
        head, body, _ = read_response(sock)
    assert head.startswith(b"HTTP/1.1 431 ")
    assert b"request head too large" in body
    assert service.subscriber_count == 0


def test_a_head_too_large_for_the_server_is_refused_before_it_ends(
    service: FirehoseService, address: str
) -> None:
    """Over the server's 64 KiB, refused while it is still coming, whatever its path."""
    with connect_raw(address) as sock:
        sock.sendall(upgrade()[:-2] + b"X-Padding: " + b"p" * 70_000)
        head, body, _ = read_response(sock)
    assert head.startswith(b"HTTP/1.1 431 ")
    assert b"request head too large" in body
    refused = service.metric(
        "strato_connections_refused_total", service="firehose-test", reason="head_too_large"
    )
    assert refused == 1


def test_a_takeover_while_the_fan_out_is_not_running_is_refused() -> None:
    guard = ConnectionGuard(10, 0)
    slot = guard.admit("127.0.0.1")
    assert slot is not None
    ours, theirs = socket.socketpair()
    with theirs:
        FanoutTakeover()(ours, upgrade(), slot)
        assert theirs.recv(65536) == REFUSAL
        assert theirs.recv(65536) == b""
    assert guard.held == 0
