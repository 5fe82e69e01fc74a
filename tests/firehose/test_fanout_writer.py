"""The Rust fan-out writer (``strato._core.FanoutWriter``) over real sockets on 127.0.0.1:
frames arrive byte-identical and in order at every client (a real ``websockets`` client and
raw sockets), partial writes to slow readers, the demotion of a live consumer over its bound
with the tag of what it was given, the cut with the ``ConsumerTooSlow`` frame and close 1008,
pings, client and server closes, and the life cycle of the file descriptors it owns."""

from __future__ import annotations

import asyncio
import os
import socket
import struct

import pytest
from fanout_helpers import (
    TIMEOUT,
    WriterEvent,
    closed,
    events_until,
    listener,
    new_writer,
    parse_messages,
    raw_client,
    read_until_eof,
    wire,
    ws_client,
)
from strato._core import FanoutWriter
from strato.firehose import decode_frame, encode_error
from strato.firehose.fanout.server import TOO_SLOW_FRAME
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed


def payloads() -> list[bytes]:
    # Every header form: 7-bit, 16-bit and 64-bit lengths.
    sizes = [0, 1, 125, 126, 2800, 65535, 65536, 300_000] + [97 * i for i in range(40)]
    return [os.urandom(size) for size in sizes]


@pytest.mark.parametrize("clients", [1, 3, 20])
def test_every_client_gets_every_frame_byte_identical_in_order(clients: int) -> None:
    async def main() -> None:
        writer = new_writer()
        server = listener()
        conns = [await ws_client(writer, server) for _ in range(clients)]
        frames = payloads()
        writer.broadcast(frames[:5], 0)
        writer.broadcast(frames[5:], 5)
        for ws, _ in conns:
            got = [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in frames]
            assert got == frames
            await ws.close()
        await events_until(writer, lambda seen: len(closed(seen)) == clients)
        assert writer.stats()[2] == 0
        writer.shutdown()
        server.close()

    asyncio.run(main())


def test_replay_goes_to_one_connection_then_it_joins_the_live_set() -> None:
    async def main() -> None:
        writer = new_writer()
        server = listener()
        live, _ = await ws_client(writer, server)
        late, late_id = await ws_client(writer, server, live=False)
        writer.broadcast([b"before"], 0)  # not for `late`: it is not live yet
        writer.send(late_id, [b"replay-1", b"replay-2"])
        writer.go_live(late_id)
        writer.broadcast([b"after"], 1)
        assert [await live.recv() for _ in range(2)] == [b"before", b"after"]
        assert [await late.recv() for _ in range(3)] == [b"replay-1", b"replay-2", b"after"]
        events = await events_until(writer, lambda seen: ("drained", late_id, "", 0) in seen)
        assert ("drained", late_id, "", 0) in events
        writer.shutdown()
        server.close()

    asyncio.run(main())


def test_a_slow_reader_gets_every_byte_through_partial_writes() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        writer = new_writer()
        server = listener()
        sock, _ = await raw_client(writer, server, rcvbuf=4096)
        frames = [os.urandom(50_000 + i) for i in range(120)]  # ~6 MB, far over the buffers
        writer.broadcast(frames, 0)
        expected = b"".join(wire(frame) for frame in frames)
        received = bytearray()
        while len(received) < len(expected):
            received += await asyncio.wait_for(loop.sock_recv(sock, 1000), TIMEOUT)
        assert bytes(received) == expected
        assert writer.stats()[:2] == (120, len(expected))
        sock.close()
        writer.shutdown()
        server.close()

    asyncio.run(main())


async def stuck_and_fast(
    writer: FanoutWriter, server: socket.socket
) -> tuple[socket.socket, int, ClientConnection, int]:
    """Two live clients: one that reads nothing (a small receive buffer) and one that reads."""
    stuck, stuck_id = await raw_client(writer, server, rcvbuf=4096)
    fast, fast_id = await ws_client(writer, server)
    return stuck, stuck_id, fast, fast_id


async def demote(
    writer: FanoutWriter, stuck_id: int, fast: ClientConnection, frames: list[bytes]
) -> tuple[int, list[WriterEvent]]:
    """Broadcast ``frames`` 5 at a time, each batch tagged with the count broadcast before it,
    the ``fast`` client keeping up, until ``stuck_id`` is demoted; the count broadcast then."""
    events: list[WriterEvent] = []
    given = 0
    while not any(kind == "lagging" for kind, *_ in events):
        assert given < len(frames), "never demoted"
        writer.broadcast(frames[given : given + 5], given)
        for frame in frames[given : given + 5]:  # the fast client keeps up
            assert await asyncio.wait_for(fast.recv(), TIMEOUT) == frame
        given += 5
        events += writer.take_events()
    return given, events


def test_a_live_consumer_that_stops_reading_is_demoted_with_what_it_was_given() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        writer = new_writer(live_backlog_frames=10)
        server = listener()
        stuck, stuck_id, fast, _ = await stuck_and_fast(writer, server)
        frames = [i.to_bytes(4, "big") + os.urandom(64_000) for i in range(450)]
        given, events = await demote(writer, stuck_id, fast, frames[:400])
        ((_, demoted, _, tag),) = [event for event in events if event[0] == "lagging"]
        assert demoted == stuck_id
        assert 0 < tag < given
        for at in range(given, given + 50, 5):  # not for the demoted one
            writer.broadcast(frames[at : at + 5], at)
            for frame in frames[at : at + 5]:
                assert await asyncio.wait_for(fast.recv(), TIMEOUT) == frame
        given += 50
        # As the server does: the rest by replay, then live again once that is written.
        writer.send(stuck_id, frames[tag:given])
        expected = b"".join(wire(frame) for frame in frames[:given])
        received = bytearray()
        while len(received) < len(expected):
            received += await asyncio.wait_for(loop.sock_recv(stuck, 1 << 16), TIMEOUT)
        assert bytes(received) == expected  # every frame once, in order
        await events_until(writer, lambda seen: ("drained", stuck_id, "", 0) in seen)
        writer.go_live(stuck_id)
        writer.broadcast([b"live again"], given)
        assert await asyncio.wait_for(loop.sock_recv(stuck, 100), TIMEOUT) == wire(b"live again")
        assert await asyncio.wait_for(fast.recv(), TIMEOUT) == b"live again"
        stuck.close()
        await fast.close()
        writer.shutdown()
        server.close()

    asyncio.run(main())


def test_a_cut_consumer_gets_consumer_too_slow_and_close_1008() -> None:
    async def main() -> None:
        writer = FanoutWriter(
            live_backlog_frames=10,
            live_backlog_bytes=1 << 40,
            stall_timeout=60.0,
            close_grace=5.0,
            too_slow_frame=TOO_SLOW_FRAME,
        )
        server = listener()
        stuck, stuck_id, fast, fast_id = await stuck_and_fast(writer, server)
        frame = os.urandom(64_000)
        await demote(writer, stuck_id, fast, [frame] * 400)
        writer.cut(stuck_id)
        messages = parse_messages(await read_until_eof(stuck))
        *data, error, close = messages
        assert all(message == (0x2, frame) for message in data)  # whole frames, then the cut
        assert error[0] == 0x2
        cut = decode_frame(error[1])
        assert cut.is_error
        assert cut.body["error"] == "ConsumerTooSlow"
        assert error[1] == encode_error("ConsumerTooSlow", "Stream consumer too slow")
        assert close[0] == 0x8
        assert struct.unpack("!H", close[1][:2]) == (1008,)
        assert close[1][2:] == b"ConsumerTooSlow"
        stuck.close()
        events = await events_until(writer, lambda seen: stuck_id in closed(seen))
        assert closed(events)[stuck_id] == "too_slow"
        assert fast_id not in closed(events)
        writer.broadcast([b"still here"], 0)
        assert await asyncio.wait_for(fast.recv(), TIMEOUT) == b"still here"
        await fast.close()
        writer.shutdown()
        server.close()

    asyncio.run(main())


def test_pings_are_answered() -> None:
    async def main() -> None:
        writer = new_writer()
        server = listener()
        ws, _ = await ws_client(writer, server)
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, TIMEOUT)
        writer.broadcast([b"data after the pong"], 0)
        assert await ws.recv() == b"data after the pong"
        await ws.close()
        writer.shutdown()
        server.close()

    asyncio.run(main())


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_clients_that_leave_are_detached_and_their_fds_closed() -> None:
    async def main() -> None:
        writer = new_writer()
        server = listener()
        before = _open_fds()
        polite = [await ws_client(writer, server) for _ in range(4)]
        rude, rude_id = await raw_client(writer, server)
        # An abortive close (RST), as a crashed client's kernel sends.
        rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        rude.close()
        for ws, _ in polite:
            await ws.close()
        ids = [conn for _, conn in polite] + [rude_id]
        events = await events_until(writer, lambda seen: set(closed(seen)) == set(ids))
        reasons = closed(events)
        assert {reasons[conn] for _, conn in polite} == {"client"}
        assert reasons[rude_id] in {"client", "error"}
        assert writer.stats()[2] == 0
        writer.broadcast([b"nobody listens"], 0)  # no connection, no error
        assert _open_fds() == before
        writer.shutdown()
        server.close()

    asyncio.run(main())


def test_server_close_and_shutdown_send_their_codes_after_queued_frames() -> None:
    async def main() -> None:
        writer = new_writer()
        server = listener()
        refused, refused_id = await ws_client(writer, server, live=False)
        staying, _ = await ws_client(writer, server)
        writer.send(refused_id, [b"error frame"], notify_drained=False)
        writer.close(refused_id, 1008, "FutureCursor")
        assert await refused.recv() == b"error frame"
        with pytest.raises(ConnectionClosed):
            await refused.recv()
        assert refused.close_code == 1008
        assert refused.close_reason == "FutureCursor"
        writer.broadcast([b"last"], 0)
        await asyncio.get_running_loop().run_in_executor(None, writer.shutdown)
        assert await staying.recv() == b"last"
        with pytest.raises(ConnectionClosed):
            await staying.recv()
        assert staying.close_code == 1001
        assert "shutdown" in closed(writer.take_events()).values()
        server.close()

    asyncio.run(main())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="close_grace"):
        FanoutWriter(
            live_backlog_frames=1,
            live_backlog_bytes=1,
            stall_timeout=1.0,
            close_grace=-1.0,
            too_slow_frame=b"",
        )
    for stall in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="stall_timeout"):
            FanoutWriter(
                live_backlog_frames=1,
                live_backlog_bytes=1,
                stall_timeout=stall,
                close_grace=1.0,
                too_slow_frame=b"",
            )
    writer = new_writer()
    with pytest.raises(ValueError, match="fd"):
        writer.add(-1)
    r, w = os.pipe()
    os.close(w)
    # Not a socket: the writer still owns and closes it when the connection ends.
    conn = writer.add(r)
    writer.close(conn)
    writer.shutdown()
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(r)
