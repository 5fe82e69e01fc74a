"""A simulated PDS host: a ``websockets`` server on 127.0.0.1 that streams pre-encoded frames on
``com.atproto.sync.subscribeRepos`` and answers the few HTTP calls a relay makes to a host.

A host holds a list of frames (``seq`` = position + 1) of which the first :attr:`released` are
"written"; :meth:`SimulatedHost.release` and :meth:`SimulatedHost.play` (at a rate, or all at
once) move that mark. A subscriber is served as a PDS would:

- no ``cursor``: frames released from now on;
- ``cursor=N`` (N <= released): frames with ``seq > N``, then live;
- ``cursor`` past the released frames: an error frame ``FutureCursor``, then close (1008);
- a ``cursor`` that is not a non-negative integer: ``InvalidRequest``, then close.

HTTP (GET; each answer closes its connection, a websockets server's way):
``com.atproto.server.describeServer``, ``com.atproto.sync.getRepoStatus``,
``com.atproto.sync.getLatestCommit`` and ``com.atproto.sync.getRepo`` (the whole repository) for
the host's accounts, as of the frames released so far (a relay's repair path calls them), and
``/xrpc/_health``. An unknown DID is 400 ``RepoNotFound``.

Which frames change which repository is given with them (``owner``: the index of one of the
host's accounts, or -1 for a frame that is not one of its valid commits, such as a crafted bad
event); a repository is rebuilt on demand from the account's starting state plus the blocks of
its released frames. The ``Server`` header is ``strato-loadgen`` (not ``atproto-relay``: a
relay must accept to subscribe). Nothing is decoded or encoded while streaming, so many hosts
fit in one process (:class:`HostFleet`), also thousands of idle ones.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from strato.firehose import SUBSCRIBE_REPOS_PATH, decode_frame, encode_error, encode_message
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from loadgen.chain import AccountChain

SERVER_HEADER: Final = "strato-loadgen"
CAR_MEDIA_TYPE: Final = "application/vnd.ipld.car"
#: A subscriber sends nothing worth reading: its messages may be small.
_MAX_INCOMING: Final = 64 * 1024
_CLOSE_POLICY: Final = 1008


@dataclass(frozen=True)
class HostedAccount:
    """An account a host serves: its DID and a factory of its repository as it is before the
    host's first frame for it."""

    did: str
    base: Callable[[], AccountChain]


class SimulatedHost:
    """One simulated PDS (see the module docstring); ``async with`` starts and stops it."""

    def __init__(
        self,
        accounts: Sequence[HostedAccount] = (),
        frames: Sequence[bytes] = (),
        owners: Sequence[int] | None = None,
        *,
        port: int = 0,
        name: str = "127.0.0.1",
        track_send_times: bool = False,
        keepalive: bool = True,
    ) -> None:
        self.accounts = list(accounts)
        self._by_did = {account.did: i for i, account in enumerate(self.accounts)}
        self.frames: list[bytes] = []
        self._owners: list[int] = []
        self._positions: list[list[int]] = [[] for _ in self.accounts]
        self._status: dict[str, str] = {}
        self.port = port
        self.name = name
        self.keepalive = keepalive
        #: Frames released to subscribers (the host's log head is seq ``released``).
        self.released = 0
        #: Open subscriber connections, and frames sent over all of them.
        self.connections = 0
        self.sent = 0
        #: With ``track_send_times``: ``time.time()`` when each frame (by position) was first
        #: sent.
        self.send_times: dict[int, float] | None = {} if track_send_times else None
        self._changed = asyncio.Event()
        self._server: Server | None = None
        self._player: asyncio.Task[None] | None = None
        self.add_frames(frames, owners)

    # -- the log --------------------------------------------------------------------------------

    def add_frames(self, frames: Sequence[bytes], owners: Sequence[int] | None = None) -> None:
        """Append pre-encoded frames (their ``seq`` must continue the log's); ``owners`` as in
        the module docstring (default: none of the host's repositories changes)."""
        if owners is not None and len(owners) != len(frames):
            raise ValueError("one owner per frame")
        for i, frame in enumerate(frames):
            owner = -1 if owners is None else owners[i]
            if owner >= 0:
                self._positions[owner].append(len(self.frames))
            self.frames.append(frame)
            self._owners.append(owner)

    def add_event(self, t: str, body: dict[str, Any], owner: int = -1) -> int:
        """Encode and append a message (``#commit``, ``#identity``...) with the next seq; the
        seq."""
        seq = len(self.frames) + 1
        self.add_frames([encode_message(t, {**body, "seq": seq})], [owner])
        return seq

    def add_raw(self, frame: bytes) -> int:
        """Append bytes as they are (a malformed or oversized frame) taking the next seq's
        place; the seq it stands for."""
        self.add_frames([frame])
        return len(self.frames)

    def owner_of(self, did: str) -> int:
        """The index of the host's account ``did``."""
        return self._by_did[did]

    def set_status(self, did: str, status: str | None) -> None:
        """What ``getRepoStatus`` says of ``did``: None active, else the status
        (``deactivated``, ``takendown``, ...)."""
        if status is None:
            self._status.pop(did, None)
        else:
            self._status[did] = status

    def release(self, count: int | None = None) -> None:
        """Release the next ``count`` frames (None: all) to subscribers."""
        target = len(self.frames) if count is None else min(len(self.frames), self.released + count)
        if target > self.released:
            self.released = target
            self._changed.set()
            self._changed = asyncio.Event()

    def play(self, rate: float | None = None, count: int | None = None) -> asyncio.Task[None]:
        """Release the next ``count`` frames (None: all not yet released) at ``rate`` per second
        (None: at once); the task ends when they are."""
        if self._player is not None:
            self._player.cancel()
        end = len(self.frames) if count is None else min(len(self.frames), self.released + count)
        self._player = asyncio.create_task(self._play(rate, end))
        return self._player

    async def _play(self, rate: float | None, end: int) -> None:
        if rate is None:
            self.release(end - self.released)
            return
        loop = asyncio.get_running_loop()
        start, first = loop.time(), self.released
        while self.released < end:
            due = min(end, first + int((loop.time() - start) * rate) + 1)
            self.release(due - self.released)
            next_at = start + (self.released - first) / rate
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def wait_connections(self, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until ``count`` subscribers are connected."""
        async with asyncio.timeout(timeout):
            while self.connections < count:
                await asyncio.sleep(0.01)

    # -- serving --------------------------------------------------------------------------------

    @property
    def hostname(self) -> str:
        """``NAME:PORT``, what a relay's ``requestCrawl`` takes in local-network mode (the host
        listens on 127.0.0.1 whatever ``name`` it goes by: ``127.0.0.1`` or ``localhost``)."""
        return f"{self.name}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.hostname}"

    @property
    def stream_url(self) -> str:
        return f"ws://{self.hostname}{SUBSCRIBE_REPOS_PATH}"

    async def start(self) -> None:
        """Listen (on :attr:`port`; 0 takes a free one, then :attr:`port` is it)."""
        self._server = await serve(
            self._stream,
            "127.0.0.1",
            self.port,
            process_request=self._http,
            server_header=SERVER_HEADER,
            compression=None,
            max_size=_MAX_INCOMING,
            ping_interval=20 if self.keepalive else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop playing, close every connection and the listening socket."""
        if self._player is not None:
            self._player.cancel()
            self._player = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SimulatedHost:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _stream(self, websocket: ServerConnection) -> None:
        query = parse_qs(urlsplit(websocket.request.path if websocket.request else "").query)
        raw = query.get("cursor", [None])[0]
        position = self.released
        if raw is not None:
            if not raw.isdigit():
                await _fail(websocket, "InvalidRequest", "cursor must be a non-negative integer")
                return
            if int(raw) > self.released:
                await _fail(websocket, "FutureCursor", "cursor is ahead of the stream")
                return
            position = int(raw)
        self.connections += 1
        frames, times = self.frames, self.send_times
        closed = asyncio.ensure_future(websocket.wait_closed())
        try:
            while True:
                changed = self._changed
                while position < self.released:
                    if times is not None and position not in times:
                        times[position] = time.time()
                    await websocket.send(frames[position])
                    position += 1
                    self.sent += 1
                # Wait for new frames, or for the subscriber to go (it sends nothing to read).
                waiter = asyncio.ensure_future(changed.wait())
                await asyncio.wait((waiter, closed), return_when=asyncio.FIRST_COMPLETED)
                if closed.done():
                    waiter.cancel()
                    return
        except ConnectionClosed:
            pass
        finally:
            closed.cancel()
            self.connections -= 1

    def _http(self, websocket: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        if parts.path == SUBSCRIBE_REPOS_PATH:
            return None
        params = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if parts.path == "/xrpc/_health":
            return _json({"version": SERVER_HEADER})
        if parts.path == "/xrpc/com.atproto.server.describeServer":
            did = f"did:web:{self.name}%3A{self.port}"
            return _json({"did": did, "availableUserDomains": [".loadgen.test"]})
        handler = _REPO_METHODS.get(parts.path.removeprefix("/xrpc/"))
        if handler is None:
            return _json({"error": "MethodNotImplemented", "message": parts.path}, 501)
        index = self._by_did.get(params.get("did", ""))
        if index is None:
            return _json({"error": "RepoNotFound", "message": "no such repository here"}, 400)
        return handler(self, index)

    # -- repositories, as of the released frames --------------------------------------------

    def _released_positions(self, index: int) -> list[int]:
        positions = self._positions[index]
        return positions[: bisect.bisect_left(positions, self.released)]

    def head(self, index: int) -> tuple[str, str]:
        """The commit CID and rev of account ``index`` as of the released frames."""
        positions = self._released_positions(index)
        if not positions:
            chain = self.accounts[index].base()
            return chain.commit.encode(), chain.rev
        body = decode_frame(self.frames[positions[-1]]).body
        return body["commit"].encode(), body["rev"]

    def repo(self, index: int) -> bytes:
        """The CAR of account ``index``'s whole repository as of the released frames."""
        chain = self.accounts[index].base()
        for position in self._released_positions(index):
            chain.absorb(decode_frame(self.frames[position]).body)
        return chain.repo_car()

    def _repo_status(self, index: int) -> Response:
        did = self.accounts[index].did
        _, rev = self.head(index)
        status = self._status.get(did)
        body: dict[str, Any] = {"did": did, "active": status is None, "rev": rev}
        if status is not None:
            body["status"] = status
        return _json(body)

    def _latest_commit(self, index: int) -> Response:
        cid, rev = self.head(index)
        return _json({"cid": cid, "rev": rev})

    def _get_repo(self, index: int) -> Response:
        headers = Headers([("Content-Type", CAR_MEDIA_TYPE)])
        return Response(200, "OK", headers, self.repo(index))


_REPO_METHODS: Final[dict[str, Callable[[SimulatedHost, int], Response]]] = {
    "com.atproto.sync.getRepoStatus": SimulatedHost._repo_status,
    "com.atproto.sync.getLatestCommit": SimulatedHost._latest_commit,
    "com.atproto.sync.getRepo": SimulatedHost._get_repo,
}


def _json(body: dict[str, Any], status: int = 200) -> Response:
    headers = Headers([("Content-Type", "application/json")])
    reason = "OK" if status == 200 else "Error"
    return Response(status, reason, headers, json.dumps(body).encode())


async def _fail(websocket: ServerConnection, error: str, message: str) -> None:
    await websocket.send(encode_error(error, message))
    await websocket.close(_CLOSE_POLICY, error)


class HostFleet:
    """Many hosts in one process (one event loop), each on its own port."""

    def __init__(self, hosts: Sequence[SimulatedHost]) -> None:
        self.hosts = list(hosts)

    async def __aenter__(self) -> HostFleet:
        raise_fd_limit(4 * len(self.hosts) + 1024)
        try:
            for host in self.hosts:
                await host.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        await asyncio.gather(*(host.stop() for host in self.hosts))

    def play(self, rate: float | None = None, count: int | None = None) -> list[asyncio.Task[None]]:
        """Every host plays its frames: ``count`` of them in all (None: every frame not yet
        released) at ``rate`` per second for all hosts together (None: at once), both shared
        in proportion to each host's frames left, so all hosts finish together."""
        left = [len(host.frames) - host.released for host in self.hosts]
        total = sum(left)
        wanted = total if count is None else min(count, total)
        shares = [wanted * n // total if total else 0 for n in left]
        for i in sorted(range(len(left)), key=lambda i: left[i] - shares[i], reverse=True):
            if sum(shares) == wanted:
                break
            shares[i] += 1
        return [
            host.play(None if rate is None else max(rate * share / (wanted or 1), 1e-3), share)
            for host, share in zip(self.hosts, shares, strict=True)
        ]

    @property
    def connections(self) -> int:
        return sum(host.connections for host in self.hosts)

    async def wait_connections(self, per_host: int = 1, timeout: float = 60.0) -> None:
        """Wait until every host has ``per_host`` subscribers."""
        async with asyncio.timeout(timeout):
            while any(host.connections < per_host for host in self.hosts):
                await asyncio.sleep(0.05)


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit (soft, up to the hard limit) to at least
    ``wanted``; the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


__all__ = [
    "CAR_MEDIA_TYPE",
    "SERVER_HEADER",
    "HostFleet",
    "HostedAccount",
    "SimulatedHost",
    "raise_fd_limit",
]
