"""Helpers for the fan-out tests: WebSocket connections upgraded by hand and handed to a
:class:`~strato._core.FanoutWriter`, raw counting clients, and the wire form of messages
computed independently of the writer."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Callable

from strato._core import FanoutWriter
from strato.firehose import SUBSCRIBE_REPOS_PATH, Frame, decode_frame
from strato.firehose.fanout.handshake import head_end, parse_request, switching_protocols
from websockets.asyncio.client import ClientConnection, connect

TIMEOUT = 20.0


def stream_url(address: str, cursor: object = None) -> str:
    """The ``subscribeRepos`` URL at ``address`` (``host:port``), with ``cursor`` if given."""
    query = "" if cursor is None else f"?cursor={cursor}"
    return f"ws://{address}{SUBSCRIBE_REPOS_PATH}{query}"


async def receive(ws: ClientConnection, count: int) -> list[Frame]:
    """The next ``count`` frames a ``websockets`` client receives, decoded."""
    frames = []
    for _ in range(count):
        data = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert isinstance(data, bytes)
        frames.append(decode_frame(data))
    return frames


def wire(payload: bytes, opcode: int = 0x2) -> bytes:
    """A server-to-client WebSocket message (RFC 6455 5.2), unmasked."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def complete_messages(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The whole messages at the start of a server's byte stream, as (opcode, payload), and the
    bytes they take."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 2 <= len(data):
        start = pos
        opcode, n = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if n >= 126:
            size = 2 if n == 126 else 8
            if pos + size > len(data):
                return out, start
            (n,) = struct.unpack_from("!H" if n == 126 else "!Q", data, pos)
            pos += size
        if pos + n > len(data):
            return out, start
        out.append((opcode, data[pos : pos + n]))
        pos += n
    return out, pos


def parse_messages(data: bytes) -> list[tuple[int, bytes]]:
    """Split a server's byte stream into (opcode, payload); the stream must end on a message."""
    out, used = complete_messages(data)
    assert used == len(data), "the stream ends inside a message"
    return out


def new_writer(**limits: float) -> FanoutWriter:
    return FanoutWriter(
        live_backlog_frames=int(limits.get("live_backlog_frames", 10_000)),
        live_backlog_bytes=int(limits.get("live_backlog_bytes", 1 << 40)),
        stall_timeout=limits.get("stall_timeout", 60.0),
        close_grace=limits.get("close_grace", 5.0),
        too_slow_frame=b"too slow",
    )


def listener() -> socket.socket:
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def accept_upgrade(writer: FanoutWriter, server: socket.socket, *, live: bool) -> int:
    """Accept one connection, answer its upgrade, hand it to ``writer``; its id."""
    loop = asyncio.get_running_loop()
    sock, _ = await loop.sock_accept(server)
    buffer = b""
    while head_end(buffer) < 0:
        buffer += await loop.sock_recv(sock, 4096)
    request = parse_request(buffer[: head_end(buffer)], path=SUBSCRIBE_REPOS_PATH)
    await loop.sock_sendall(sock, switching_protocols(request.key, server="test"))
    return writer.add(sock.detach(), live=live)


async def ws_client(
    writer: FanoutWriter, server: socket.socket, *, live: bool = True
) -> tuple[ClientConnection, int]:
    """A ``websockets`` client whose server side the writer holds."""
    port = server.getsockname()[1]
    accepted = asyncio.ensure_future(accept_upgrade(writer, server, live=live))
    client = await connect(
        f"ws://127.0.0.1:{port}{SUBSCRIBE_REPOS_PATH}", max_size=None, compression=None
    )
    return client, await accepted


async def raw_client(
    writer: FanoutWriter, server: socket.socket, *, rcvbuf: int | None = None, live: bool = True
) -> tuple[socket.socket, int]:
    """A plain socket that did the handshake (a small ``rcvbuf`` makes it a slow reader)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    accepted = asyncio.ensure_future(accept_upgrade(writer, server, live=live))
    await loop.sock_connect(sock, server.getsockname())
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        sock,
        (
            f"GET {SUBSCRIBE_REPOS_PATH} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    head = b""
    while head_end(head) < 0:
        head += await loop.sock_recv(sock, 1)  # byte by byte: nothing after the head is taken
    assert head.startswith(b"HTTP/1.1 101")
    return sock, await accepted


async def read_until_eof(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    data = bytearray()
    while chunk := await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), TIMEOUT):
        data += chunk
    return bytes(data)


#: A writer's event: (kind, connection id, close reason, lagging tag).
WriterEvent = tuple[str, int, str, int]


async def events_until(
    writer: FanoutWriter, done: Callable[[list[WriterEvent]], bool]
) -> list[WriterEvent]:
    """The writer's events until ``done`` holds for those seen (fails after TIMEOUT)."""
    seen: list[WriterEvent] = []

    async def wait() -> None:
        while not done(seen):
            seen.extend(writer.take_events())
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), TIMEOUT)
    return seen


def closed(events: list[WriterEvent]) -> dict[int, str]:
    return {conn: reason for kind, conn, reason, _ in events if kind == "closed"}
