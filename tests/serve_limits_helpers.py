"""For the connection-limit tests: a service run by strato.service.serving for the length of a
block, raw connections to it from a chosen loopback address (idle, trickling a request head,
reading a refusal), and HTTP clients bound to one."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
from strato.service.serving import Running, Service, serve

#: The most any connection here is waited for (a generous bound, never a timing assertion).
WAIT = 20.0
#: A second loopback address: the normal client beside a flood from 127.0.0.1.
OTHER = "127.0.0.2"
HEAD = b"GET / HTTP/1.1\r\nHost: test\r\n"


class Connections:
    """Raw connections to ``url`` that the test opens; :meth:`close_all` closes what is left."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._writers: list[asyncio.StreamWriter] = []

    async def open(
        self, source: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to the URL's host and port from ``source``."""
        parts = urlsplit(self.url)
        assert parts.hostname is not None
        assert parts.port is not None
        reader, writer = await asyncio.open_connection(
            parts.hostname, parts.port, local_addr=(source, 0)
        )
        self._writers.append(writer)
        return reader, writer

    async def close_all(self) -> None:
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        self._writers.clear()


async def until_closed(reader: asyncio.StreamReader, within: float = WAIT) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``within``
    seconds)."""
    data = b""
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(within):
            while chunk := await reader.read(65536):
                data += chunk
    return data


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Send a request head a header line at a time, every 50 ms, never ending it, until the
    server closes the connection; what it sent (fails after :data:`WAIT`)."""
    writer.write(HEAD)
    async with asyncio.timeout(WAIT):
        while True:
            try:
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
                return await asyncio.wait_for(reader.read(65536), 0.05)
            except TimeoutError:
                continue
            except ConnectionError:
                return b""


@contextlib.asynccontextmanager
async def serving_service(service: Service) -> AsyncIterator[Connections]:
    """``service`` served (:func:`strato.service.serving.serve`) until the block ends; the raw
    connections to its URL, those left open closed at the end."""
    stop = asyncio.Event()
    ready: asyncio.Future[list[Running]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve([service], ready.set_result, stop_when=stop))
    (running,) = await ready
    connections = Connections(running.url)
    try:
        yield connections
    finally:
        await connections.close_all()
        stop.set()
        await task


def assert_refused(answer: bytes) -> None:
    """``answer`` is the whole 503 that refuses a connection over a cap."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    assert "Retry-After: 10" in lines
    assert "Connection: close" in lines
    assert json.loads(body)["error"] == "NotEnoughResources"


def client_from(source: str, **options: object) -> httpx.AsyncClient:
    """An HTTP client whose connections come from ``source``."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(transport=transport, timeout=WAIT, **options)  # type: ignore[arg-type]


async def wait_for(predicate: object, what: str) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` after :data:`WAIT`."""

    async def poll() -> None:
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), WAIT)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
