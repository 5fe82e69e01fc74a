"""XrpcClient against real servers (uvicorn on 127.0.0.1): typed calls to the demo app, error
answers mapped to XrpcError, and upstream failures (non-JSON errors, bad bodies, timeouts,
nothing listening)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from strato.xrpc import XrpcClient, XrpcError
from strato.xrpc.auth import create_session_tokens
from strato.xrpc.types.identity import ResolveHandleOutput, ResolveHandleParams
from xrpc_demo import (
    ALICE,
    SECRET,
    SERVICE_DID,
    EchoOutput,
    FakeClock,
    UploadOutput,
    WriteInput,
    WriteOutput,
    demo_app,
    serve,
)


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    app, _, _ = demo_app()
    with serve(app) as url:
        yield url


def call(url: str, method: str, *args: Any, **kwargs: Any) -> Any:
    async def main() -> Any:
        async with XrpcClient(url, timeout=kwargs.pop("timeout", 10.0)) as client:
            return await getattr(client, method)(*args, **kwargs)

    return asyncio.run(main())


def failure(url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, str, str | None]:
    with pytest.raises(XrpcError) as info:
        call(url, method, *args, **kwargs)
    return info.value.status, info.value.error, info.value.message


def test_typed_query(demo_url: str) -> None:
    params = {"name": "hi", "count": 2, "loud": True, "tags": ["a", "b"], "numbers": [1], "x": None}
    out = call(demo_url, "query", "com.example.echo", params, output=EchoOutput)
    assert out == EchoOutput(text="HI HI", tags=["a", "b"], numbers=[1])
    plain = call(demo_url, "query", "com.example.echo", {"name": "a", "loud": False})
    assert plain == {"text": "a", "tags": [], "numbers": []}
    resolved = call(
        demo_url,
        "query",
        "com.atproto.identity.resolveHandle",
        ResolveHandleParams(handle="alice.test"),
        output=ResolveHandleOutput,
    )
    assert resolved.did == ALICE


def test_procedures(demo_url: str) -> None:
    token = create_session_tokens(SECRET, SERVICE_DID, ALICE, now=FakeClock().now).access_jwt
    body = WriteInput(repo=ALICE, collection="app.bsky.feed.post", record={"b": 1, "a": 2})
    out = call(
        demo_url,
        "procedure",
        "com.example.write",
        body,
        output=WriteOutput,
        headers={"authorization": f"Bearer {token}"},
    )
    assert out == WriteOutput(did=ALICE, keys=["a", "b"])
    uploaded = call(
        demo_url, "procedure", "com.example.upload", b"GIF89a", encoding="image/gif",
        output=UploadOutput,
    )  # fmt: skip
    assert uploaded == UploadOutput(size=6, mime_type="image/gif")
    assert call(demo_url, "procedure", "com.example.ping") is None
    assert call(demo_url, "query", "com.example.car") == b"\x0a\xa1"


def test_error_answers(demo_url: str) -> None:
    assert failure(demo_url, "query", "com.example.nothing") == (
        501,
        "MethodNotImplemented",
        "Method Not Implemented",
    )
    assert failure(
        demo_url, "query", "com.atproto.identity.resolveHandle", {"handle": "bob.test"}
    ) == (400, "HandleNotFound", "Unable to resolve handle")
    assert failure(demo_url, "procedure", "com.example.write", {"repo": ALICE}) == (
        401,
        "AuthMissing",
        "Authentication Required",
    )
    assert failure(demo_url, "query", "com.example.echo", output=EchoOutput) == (
        400,
        "InvalidRequest",
        "Params: required field 'name' is missing",
    )


async def html_error(request: Request) -> Response:
    return HTMLResponse("<html>bad gateway</html>", status_code=502)


async def nameless_error(request: Request) -> Response:
    return Response(b'{"error": "has space", "message": "m"}', status_code=400)


async def not_json(request: Request) -> Response:
    return Response(b"{nope", media_type="application/json")


async def not_utf8(request: Request) -> Response:
    return Response(b'{"text": "\xff"}', media_type="application/json")


async def not_utf8_error(request: Request) -> Response:
    return Response(b'{"error": "\xff"}', status_code=400, media_type="application/json")


async def wrong_shape(request: Request) -> Response:
    return Response(b'{"text": 5}', media_type="application/json")


async def moved(request: Request) -> Response:
    return Response(status_code=302, headers={"location": "/elsewhere"})


async def slow(request: Request) -> Response:
    await asyncio.sleep(1)
    return Response(b"{}", media_type="application/json")


@pytest.fixture(scope="module")
def odd_url() -> Iterator[str]:
    routes = [
        Route("/xrpc/com.example.html", html_error),
        Route("/xrpc/com.example.nameless", nameless_error),
        Route("/xrpc/com.example.notJson", not_json),
        Route("/xrpc/com.example.notUtf8", not_utf8),
        Route("/xrpc/com.example.notUtf8Error", not_utf8_error),
        Route("/xrpc/com.example.wrongShape", wrong_shape),
        Route("/xrpc/com.example.moved", moved),
        Route("/xrpc/com.example.slow", slow),
    ]
    with serve(Starlette(routes=routes)) as url:
        yield url


def test_upstream_failures(odd_url: str) -> None:
    assert failure(odd_url, "query", "com.example.html") == (
        502,
        "UpstreamFailure",
        "Upstream Failure",
    )
    assert failure(odd_url, "query", "com.example.nameless") == (400, "InvalidRequest", "m")
    for method in ("com.example.notJson", "com.example.notUtf8"):
        status, error, message = failure(odd_url, "query", method)
        assert (status, error) == (502, "UpstreamFailure")
        assert str(message).startswith("invalid response")
    assert failure(odd_url, "query", "com.example.notUtf8Error")[:2] == (400, "InvalidRequest")
    status, error, message = failure(odd_url, "query", "com.example.wrongShape", output=EchoOutput)
    assert (status, error) == (502, "UpstreamFailure")
    assert "Expected `str`, got `int` - at `$.text`" in str(message)
    assert failure(odd_url, "query", "com.example.moved") == (
        502,
        "UpstreamFailure",
        "com.example.moved: unexpected status 302",
    )
    assert failure(odd_url, "query", "com.example.slow", timeout=0.2) == (
        504,
        "UpstreamTimeout",
        "com.example.slow: the service timed out",
    )


def test_nothing_listening() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status, error, _ = failure(f"http://127.0.0.1:{port}", "query", "com.example.echo")
    assert (status, error) == (502, "UpstreamFailure")
