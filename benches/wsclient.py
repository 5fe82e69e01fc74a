"""Raw-socket ``subscribeRepos`` clients for the firehose benches, cheap enough not to be the
limit: the WebSocket handshake on a plain socket, then the server's frames parsed from their
headers only (messages counted, pings answered); the payloads of the first and the
last message are kept, and only those two are decoded, to check their seqs.

- :class:`Messages`: the parser of one server-to-client stream;
- :func:`run_replay`: one subscriber in a process of its own reading ``events`` messages from a
  cursor (a replay), timed from before its connect to its last message;
- :class:`Subscribers`: live subscribers spread over client processes, each one's message
  count and receive times in shared memory, so a producer can time rounds of events across all
  of them, and their first and last seqs at the end.

No ``strato`` code is used on the wire (only :func:`frame_seq` decodes a payload), so the same
clients measure any server: strato's PDS of any commit, millipds.
"""

from __future__ import annotations

import base64
import ctypes
import multiprocessing as mp
import os
import queue
import select
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from strato.dagcbor import decode_multi

#: Bytes read per ``recv``.
RECV_BYTES = 1 << 20
#: Subscribers per loopback source address (strato's PDS admits 16 per address).
PER_ADDRESS = 10
_BINARY, _CLOSE, _PING, _PONG = 0x82, 0x88, 0x89, 0x8A


class ProtocolError(RuntimeError):
    """The server sent something a ``subscribeRepos`` stream never carries."""


def frame_seq(payload: bytes) -> int:
    """The seq of an event message (its header and body decoded); an error frame raises."""
    header, body = decode_multi(payload)
    if header.get("op") != 1:
        raise ProtocolError(f"error frame: {body}")
    return int(body["seq"])


def source_address(index: int) -> str:
    """The loopback address subscriber ``index`` connects from, :data:`PER_ADDRESS` each."""
    return f"127.0.0.{2 + index // PER_ADDRESS}"


def handshake(
    port: int, path: str, *, source: str | None = None, timeout: float = 30.0
) -> tuple[socket.socket, bytes]:
    """A WebSocket connection to ``path`` on ``127.0.0.1:port`` (from ``source``, any port):
    the socket, blocking, and the bytes received after the 101 response's head."""
    sock = socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0) if source else None
    )
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: strato-bench\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    buffer = b""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed during the handshake: {buffer[:200]!r}")
        buffer += chunk
    if not buffer.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(buffer[: end + 4].decode(errors="replace").strip())
    sock.settimeout(None)
    return sock, buffer[end + 4 :]


def pong(payload: bytes) -> bytes:
    """A client's pong frame (masked, with a zero key: the payload goes as is)."""
    return bytes((_PONG, 0x80 | len(payload))) + b"\0\0\0\0" + payload


def _frame(buf: bytearray, pos: int) -> tuple[int, int]:
    """Where the payload of the (complete) frame at ``pos`` starts and ends."""
    marker = buf[pos + 1]
    if marker < 126:
        return pos + 2, pos + 2 + marker
    width = 2 if marker == 126 else 8
    start = pos + 2 + width
    return start, start + int.from_bytes(buf[pos + 2 : start], "big")


def _long_frame_end(buf: bytearray, pos: int, end: int) -> int:
    """The end of the frame at ``pos`` whose size takes 2 or 8 bytes; past ``end`` while its
    header is not all there."""
    marker = buf[pos + 1]
    if marker > 127:
        raise ProtocolError("a masked frame from the server")
    if end - pos < (4 if marker == 126 else 10):
        return end + 1
    return _frame(buf, pos)[1]


class Messages:
    """The binary messages of one server-to-client WebSocket stream (the server never masks nor
    fragments; control frames are answered or noted): ``count`` so far and their ``wire_bytes``
    (headers included), the payloads of the ``first`` and ``last`` ones, the pongs owed,
    whether a close came."""

    def __init__(self, initial: bytes = b"") -> None:
        self.buffer = bytearray(initial)
        self.count = 0
        self.wire_bytes = 0
        self.first: bytes | None = None
        self.last: bytes | None = None
        self.pongs: list[bytes] = []
        self.closed = False

    def feed(self, data: bytes | memoryview, limit: int = 0) -> int:
        """Parse ``data``; the number of messages it completed. With ``limit``, stop at that
        message (``count`` never passes it; the bytes after it are left unread)."""
        buf = self.buffer
        buf += data
        room = limit - self.count if limit else -1
        if not room:
            return 0
        end = len(buf)
        pos = count = control = 0
        last = -1
        # The loop runs once per frame per subscriber: only what each frame needs is in it
        # (the payloads of the first and last messages are found afterwards).
        while end - pos >= 2:
            size = buf[pos + 1]
            if size < 126:
                stop = pos + 2 + size
            elif size == 126 and end - pos >= 4:
                stop = pos + 4 + ((buf[pos + 2] << 8) | buf[pos + 3])
            else:
                stop = _long_frame_end(buf, pos, end)
            if stop > end:
                break
            if buf[pos] == _BINARY:
                count += 1
                last = pos
                if count == room:
                    pos = stop
                    break
            else:
                control += stop - pos
                self._control(buf[pos], bytes(buf[slice(*_frame(buf, pos))]))
            pos = stop
        if count:
            if self.first is None:
                self.first = self._first_payload(buf)
            self.last = bytes(buf[slice(*_frame(buf, last))])
            self.count += count
            self.wire_bytes += pos - control
        del buf[:pos]
        return count

    @staticmethod
    def _first_payload(buf: bytearray) -> bytes:
        pos = 0
        while buf[pos] != _BINARY:
            pos = _frame(buf, pos)[1]
        return bytes(buf[slice(*_frame(buf, pos))])

    def _control(self, first_byte: int, payload: bytes) -> None:
        if first_byte == _PING:
            self.pongs.append(payload)
        elif first_byte == _CLOSE:
            self.closed = True
        elif first_byte != _PONG:
            raise ProtocolError(f"unexpected frame (first byte {first_byte:#04x})")

    def answer(self, sock: socket.socket) -> None:
        """Send the pongs owed."""
        while self.pongs:
            sock.sendall(pong(self.pongs.pop(0)))

    def seqs(self) -> tuple[int | None, int | None]:
        """The seqs of the first and last messages (None: none yet)."""
        first = None if self.first is None else frame_seq(self.first)
        last = None if self.last is None else frame_seq(self.last)
        return first, last


# -- one replaying subscriber -----------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """What a replaying subscriber read: seconds from before its connect to its last message,
    the messages, their bytes on the wire (frame headers included), and the seqs of the first
    and last."""

    seconds: float
    messages: int
    wire_bytes: int
    first_seq: int | None
    last_seq: int | None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def _replay_process(port: int, path: str, events: int, out: Connection) -> None:
    try:
        started = time.perf_counter()
        sock, extra = handshake(port, path)
        stream = Messages()
        stream.feed(extra, events)
        buffer = bytearray(RECV_BYTES)
        view = memoryview(buffer)
        while stream.count < events:
            n = sock.recv_into(view)
            if not n:
                break
            stream.feed(view[:n], events)
            if stream.pongs:
                stream.answer(sock)
            if stream.closed:
                break
        # the clock stops at the last message: some servers (millipds) answer no close
        # handshake while they wait for live events, so the socket is just closed
        elapsed = time.perf_counter() - started
        sock.close()
        first, last = stream.seqs()
        out.send(Replay(elapsed, stream.count, stream.wire_bytes, first, last))
    except Exception as error:  # reported to the parent, which raises it
        out.send(f"{type(error).__name__}: {error}")
    finally:
        out.close()


def run_replay(port: int, path: str, events: int, timeout: float = 600.0) -> Replay:
    """Read ``events`` messages of ``path`` (with its cursor) in a process of its own."""
    context = mp.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_replay_process, args=(port, path, events, sender))
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise TimeoutError(f"replay of {events} events: nothing after {timeout} s")
        result = receiver.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()
    if isinstance(result, str):
        raise RuntimeError(f"replay client: {result}")
    assert isinstance(result, Replay)
    return result


# -- live subscribers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One live subscriber at the end: messages, first and last seqs, how it ended."""

    messages: int
    first_seq: int | None
    last_seq: int | None
    problem: str = ""


@dataclass(frozen=True)
class _Shared:
    """What live subscribers share with the producer (``time.monotonic_ns``: one clock for
    every process): per subscriber, the messages received (``counts``), when its count first
    passed ``base`` (``start_ns``) and when its last message came (``last_ns``)."""

    counts: Any
    start_ns: Any
    last_ns: Any
    base: Any


@dataclass(frozen=True)
class _Job:
    """One client process's subscribers and its signals."""

    port: int
    path: str
    indexes: Sequence[int]
    shared: _Shared
    ready: Any
    stop: Any
    results: Any


def _subscriber_process(job: _Job) -> None:
    """Subscribers ``job.indexes`` (each from its :func:`source_address`), counted until
    ``job.stop``; their outcomes go to ``job.results``."""
    sockets: dict[int, tuple[int, socket.socket, Messages]] = {}
    try:
        for index in job.indexes:
            sock, extra = handshake(job.port, job.path, source=source_address(index))
            sock.setblocking(False)
            stream = Messages()
            stream.feed(extra)
            job.shared.counts[index] = stream.count
            sockets[sock.fileno()] = (index, sock, stream)
    except OSError as error:
        job.results.put([f"subscriber {len(sockets) + 1} of a client process: {error}"])
        return
    problems = _count(job, sockets)
    outcomes = []
    for index, sock, stream in sockets.values():
        sock.close()
        try:
            first, last = stream.seqs()
        except ProtocolError as error:
            first = last = None
            problems.setdefault(index, str(error))
        outcomes.append(Outcome(stream.count, first, last, problems.get(index, "")))
    job.results.put(outcomes)


def _count(job: _Job, sockets: dict[int, tuple[int, socket.socket, Messages]]) -> dict[int, str]:
    """Read every socket until ``job.stop``; what went wrong, by subscriber."""
    shared = job.shared
    counts, start_ns, last_ns, base = shared.counts, shared.start_ns, shared.last_ns, shared.base
    problems: dict[int, str] = {}
    poller = select.epoll()
    for fd in sockets:
        poller.register(fd, select.EPOLLIN)
    view = memoryview(bytearray(RECV_BYTES))
    job.ready.set()
    while not job.stop.is_set():
        for fd, _ in poller.poll(0.05):
            index, sock, stream = sockets[fd]
            before = stream.count
            try:
                n = sock.recv_into(view)
                if n:
                    stream.feed(view[:n])
                    stream.answer(sock)
            except BlockingIOError:
                continue
            except (OSError, ProtocolError) as error:
                n, problems[index] = 0, str(error)
            if not n or stream.closed:
                poller.unregister(fd)
                problems.setdefault(index, "closed by the server")
            elif stream.count > before:
                now = time.monotonic_ns()
                if before <= base.value < stream.count:
                    start_ns[index] = now
                last_ns[index] = now
                counts[index] = stream.count
    poller.close()
    return problems


class Subscribers:
    """``count`` live subscribers of ``path`` over ``procs`` client processes."""

    def __init__(self, port: int, path: str, count: int, procs: int) -> None:
        context = mp.get_context("spawn")
        self.count = count
        self.shared = _Shared(
            counts=context.Array(ctypes.c_int64, count, lock=False),
            start_ns=context.Array(ctypes.c_int64, count, lock=False),
            last_ns=context.Array(ctypes.c_int64, count, lock=False),
            base=context.Value(ctypes.c_int64, 0, lock=False),
        )
        self.stop = context.Event()
        self.results: Any = context.Queue()
        procs = max(1, min(procs, count))
        self.ready = [context.Event() for _ in range(procs)]
        self.procs = [
            context.Process(
                target=_subscriber_process,
                args=(
                    _Job(
                        port,
                        path,
                        range(i, count, procs),
                        self.shared,
                        self.ready[i],
                        self.stop,
                        self.results,
                    ),
                ),
                daemon=True,
            )
            for i in range(procs)
        ]
        for proc in self.procs:
            proc.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every subscriber has its 101 response."""
        deadline = time.monotonic() + timeout
        for event, proc in zip(self.ready, self.procs, strict=True):
            while not event.wait(0.1):
                if not proc.is_alive() or time.monotonic() > deadline:
                    self.stop.set()
                    raise RuntimeError(f"subscribers could not connect: {self._problem()}")

    def _problem(self) -> str:
        try:
            return str(self.results.get(timeout=1)[0])
        except queue.Empty:
            return "a client process ended"

    def counts(self) -> list[int]:
        return list(self.shared.counts[:])

    def start_round(self, base: int) -> None:
        """Time the next round from the first message past ``base`` at any subscriber."""
        self.shared.base.value = base
        for index in range(self.count):
            self.shared.start_ns[index] = 0

    def wait_all(self, target: int, timeout: float) -> float:
        """Until every subscriber has ``target`` messages: the seconds from the first message
        of the round at any subscriber to the last one at the last subscriber."""
        deadline = time.monotonic() + timeout
        while min(self.counts()) < target:
            if time.monotonic() > deadline or not all(p.is_alive() for p in self.procs):
                counts = self.counts()
                behind = sum(1 for c in counts if c < target)
                raise RuntimeError(
                    f"{behind} of {self.count} subscribers short of {target} messages after"
                    f" {timeout} s (fewest {min(counts)}); server cut them or stalled"
                )
            time.sleep(0.002)
        starts = [ns for ns in self.shared.start_ns[:] if ns]
        return float(max(self.shared.last_ns[:]) - min(starts)) / 1e9

    def close(self) -> list[Outcome]:
        """Stop the clients; each subscriber's outcome."""
        self.stop.set()
        parts: list[list[Any]] = []
        deadline = time.monotonic() + 60
        while len(parts) < len(self.procs) and time.monotonic() < deadline:
            try:
                parts.append(self.results.get(timeout=0.5))
            except queue.Empty:
                if not any(proc.is_alive() for proc in self.procs):
                    break
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        outcomes: list[Outcome] = []
        for part in parts:
            if part and isinstance(part[0], str):
                raise RuntimeError(part[0])
            outcomes += part
        if len(parts) < len(self.procs):
            raise RuntimeError("a client process ended without its subscribers' outcomes")
        return outcomes
