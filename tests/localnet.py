"""A local network for tests (identity, lexicon resolution, servers): real servers on 127.0.0.1.
A DNS server built with dnspython answers UDP queries from a table of records; an HTTP server
(starlette in uvicorn in a thread) answers from a table of routes keyed by ``Host`` and path.
Also a DID document builder."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, cast

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp
from strato.firehose import SUBSCRIBE_REPOS_PATH
from strato.firehose.fanout.server import FanoutServer
from strato.firehose.fanout.service import FanoutTakeover
from strato.service.serving import Running, Service, serve


@contextmanager
def serve_app(app: ASGIApp, port: int = 0, **options: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 (``port``, or any free port) in a thread; yields
    its URL (``http://127.0.0.1:<port>``). ``options`` are more ``uvicorn.Config`` keywords."""
    with serve_app_in_loop(app, port, **options) as (url, _):
        yield url


@contextmanager
def serve_app_in_loop(
    app: ASGIApp, port: int = 0, **options: Any
) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """:func:`serve_app`, yielding the server's event loop too (a test runs coroutines of the
    app's objects there)."""
    options = {"log_level": "warning", "lifespan": "on", **options}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", server.servers[0].get_loop()
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def serve_service(
    service: Service, port: int | None = 0, *, loop_factory: Any = uvloop.new_event_loop
) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """Run ``service`` as the command line does (:func:`strato.service.serving.serve` on uvloop,
    or the loop ``loop_factory`` makes: its connection limits, its companion, its takeovers such
    as the firehose's fan-out) in a thread, on 127.0.0.1 and ``port`` (0: any free port; None:
    the service's own); yields its URL and the event loop it runs in."""
    chosen = replace(service, host="127.0.0.1", port=service.port if port is None else port)
    loop: asyncio.AbstractEventLoop = loop_factory()
    stop = asyncio.Event()
    started = threading.Event()
    urls: list[str] = []
    failures: list[BaseException] = []

    def ready(running: list[Running]) -> None:
        urls.extend(item.url for item in running)
        started.set()

    def run() -> None:
        try:
            loop.run_until_complete(serve([chosen], ready, stop_when=stop, signals=False))
        except BaseException as err:  # reported to the test
            failures.append(err)
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(60) or failures:
        raise RuntimeError(f"{service.name} did not start") from next(iter(failures), None)
    try:
        yield urls[0], loop
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)


def fanout_of(service: Service) -> FanoutServer:
    """The firehose fan-out running in the process of ``service`` (being served)."""
    takeover = cast(FanoutTakeover, service.takeovers[SUBSCRIBE_REPOS_PATH])
    assert takeover.server is not None, f"{service.name} is not serving its firehose"
    return takeover.server


class LocalDns:
    """A UDP DNS server: ``records[(name, type)]`` lists the answers (TXT values unquoted);
    names in ``servfail`` answer SERVFAIL, names in ``silent`` never answer; any other name is
    NXDOMAIN. ``queries`` counts (name, type) questions."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.servfail: set[str] = set()
        self.silent: set[str] = set()
        self.queries: Counter[tuple[str, str]] = Counter()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def txt(self, name: str, *values: str) -> None:
        self.records[(name, "TXT")] = list(values)

    def a(self, name: str, *addresses: str) -> None:
        for address in addresses:
            kind = "AAAA" if ":" in address else "A"
            self.records.setdefault((name, kind), []).append(address)

    def close(self) -> None:
        self._stop.set()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:
            waker.sendto(b"", ("127.0.0.1", self.port))
        self._thread.join()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            if self._stop.is_set():
                return
            reply = self._answer(dns.message.from_wire(data))
            if reply is not None:
                self._sock.sendto(reply.to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message | None:
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        self.queries[(name, kind)] += 1
        if name in self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        values = self.records.get((name, kind))
        if values:
            texts = [f'"{value}"' if kind == "TXT" else value for value in values]
            response.answer.append(
                dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, kind, texts)
            )
        elif not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response


@dataclass
class Served:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False


class LocalHttp:
    """An HTTP server on 127.0.0.1: ``routes[(host, path)]`` (host without port; ``"*"`` for
    any host) is served; everything else is a 404. ``hits`` counts requests per (host, path)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Served] = {}
        self.hits: Counter[tuple[str, str]] = Counter()
        self.delay = 0.0
        app = Starlette(routes=[Route("/{path:path}", self._endpoint)])
        self._serving = serve_app(app, log_level="error", lifespan="off")
        self.port: int = int(self._serving.__enter__().rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(
        self,
        path: str,
        body: bytes | str,
        *,
        host: str = "*",
        status: int = 200,
        chunked: bool = False,
        **headers: str,
    ) -> None:
        """Serve ``body`` at ``path``; ``chunked`` streams it without a Content-Length."""
        data = body.encode() if isinstance(body, str) else body
        self.routes[(host, path)] = Served(status, data, headers, chunked)

    def close(self) -> None:
        self._serving.__exit__(None, None, None)

    async def _endpoint(self, request: Request) -> Response:
        host = request.headers.get("host", "").rsplit(":", 1)[0]
        path = request.url.path
        self.hits[(host, path)] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        route = self.routes.get((host, path)) or self.routes.get(("*", path))
        if route is None:
            return Response(b"not found", status_code=404)
        if route.chunked:
            return StreamingResponse(_chunks(route.body), route.status, route.headers)
        return Response(route.body, status_code=route.status, headers=route.headers)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1024):
        yield data[start : start + 1024]


def did_doc(
    did: str,
    *,
    handle: str | None = None,
    key: str | None = "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF",
    pds: str | None = "https://pds.example.com",
    **extra: Any,
) -> bytes:
    """A DID document in the PLC directory's style (relative ids, Multikey)."""
    doc: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "alsoKnownAs": [f"at://{handle}"] if handle else [],
        "verificationMethod": [],
        "service": [],
    }
    if key is not None:
        doc["verificationMethod"].append(
            {"id": "#atproto", "type": "Multikey", "controller": did, "publicKeyMultibase": key}
        )
    if pds is not None:
        doc["service"].append(
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}
        )
    doc.update(extra)
    return json.dumps(doc).encode()
