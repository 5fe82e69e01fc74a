"""The XRPC router over real HTTP requests (httpx's ASGI transport): typed params and bodies,
every error answer with its status and name, body limits, health, CORS and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import msgspec
import pytest
from starlette.applications import Starlette
from strato.datamodel import DEEP, OUT_OF_RANGE
from strato.xrpc import MethodTypes, XrpcError, XrpcRouter
from strato.xrpc.auth import create_session_tokens
from strato.xrpc.cors import EXPOSE_HEADERS
from strato.xrpc.errors import ErrorBody
from xrpc_demo import ALICE, SECRET, SERVICE_DID, FakeClock, demo_app

Scenario = Callable[[httpx.AsyncClient], Awaitable[Any]]


def run(scenario: Scenario, clock: FakeClock | None = None) -> Any:
    app, _, _ = demo_app(clock)
    transport = httpx.ASGITransport(app, client=("10.0.0.1", 4000))

    async def main() -> Any:
        async with httpx.AsyncClient(transport=transport, base_url="http://pds.test") as client:
            return await scenario(client)

    return asyncio.run(main())


def get(path: str, **kwargs: Any) -> httpx.Response:
    result: httpx.Response = run(lambda c: c.get(path, **kwargs))
    return result


def post(path: str, **kwargs: Any) -> httpx.Response:
    result: httpx.Response = run(lambda c: c.post(path, **kwargs))
    return result


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "message"}
    return response.status_code, body["error"], body["message"]


def access_token(did: str = ALICE) -> str:
    return create_session_tokens(SECRET, SERVICE_DID, did, now=FakeClock().now).access_jwt


# ---------------------------------------------------------------------------------------------
# Success


def test_query_params_are_typed() -> None:
    response = get(
        "/xrpc/com.example.echo",
        params=[("name", "hi"), ("count", "3"), ("loud", "true"), ("tags", "a"), ("tags", "b"),
                ("numbers", "-1"), ("numbers", "20"), ("unknown", "ignored")],
    )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"text": "HI HI HI", "tags": ["a", "b"], "numbers": [-1, 20]}


def test_defaults_and_single_list_item() -> None:
    response = get("/xrpc/com.example.echo", params={"name": "x", "tags": "only"})
    assert response.json() == {"text": "x", "tags": ["only"], "numbers": []}


def test_empty_params_are_absent() -> None:
    # as the reference reads a query string: ``count=`` is the default, empty items are dropped
    params = [("name", "x"), ("count", ""), ("loud", ""), ("numbers", ""), ("numbers", "7")]
    response = get("/xrpc/com.example.echo", params=params)
    assert response.json() == {"text": "x", "tags": [], "numbers": [7]}


def test_procedure_with_json_input() -> None:
    body = {"repo": ALICE, "collection": "app.bsky.feed.post", "record": {"text": "t", "a": 1}}
    headers = {"authorization": f"Bearer {access_token()}"}
    response = post("/xrpc/com.example.write", json=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"did": ALICE, "keys": ["a", "text"]}


def test_procedure_without_output_answers_empty() -> None:
    response = post("/xrpc/com.example.ping")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-pong"] == "1"
    # a header the handler exposes is kept beside the ones CORS always exposes
    assert response.headers["access-control-expose-headers"] == f"x-pong, {EXPOSE_HEADERS}"


def test_registered_types_are_used_by_default() -> None:
    response = get("/xrpc/com.atproto.identity.resolveHandle", params={"handle": "alice.test"})
    assert response.json() == {"did": ALICE}
    bad = get("/xrpc/com.atproto.identity.resolveHandle", params={"handle": "not a handle"})
    assert error_of(bad) == (400, "InvalidRequest", "Params.handle: must be a valid handle")


def test_handler_response_passes_through() -> None:
    response = get("/xrpc/com.example.car")
    assert response.headers["content-type"] == "application/vnd.ipld.car"
    assert response.content == b"\x0a\xa1"


def test_binary_input() -> None:
    response = post(
        "/xrpc/com.example.upload", content=b"\x89PNG...", headers={"content-type": "image/png"}
    )
    assert response.json() == {"size": 7, "mimeType": "image/png"}


def test_health() -> None:
    response = get("/xrpc/_health")
    assert response.json() == {"version": "9.9.9"}


def test_failing_health_check_is_503() -> None:
    async def unhealthy() -> bool:
        return False

    router = XrpcRouter(version="1.0", health=unhealthy)
    transport = httpx.ASGITransport(Starlette(routes=router.routes()))

    async def main() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://x.test") as client:
            return await client.get("/xrpc/_health")

    response = asyncio.run(main())
    assert response.status_code == 503
    assert response.json() == {"version": "1.0", "error": "Service Unavailable"}


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/xrpc/com.example.nothing", (501, "MethodNotImplemented", "Method Not Implemented")),
        ("/xrpc/bad..nsid", (400, "InvalidRequest", "invalid xrpc path")),
        ("/xrpc/com.example.echo/extra", (400, "InvalidRequest", "invalid xrpc path")),
        ("/xrpc/x", (400, "InvalidRequest", "invalid xrpc path")),
    ],
)
def test_unknown_and_invalid_methods(path: str, expected: tuple[int, str, str]) -> None:
    assert error_of(get(path)) == expected


def test_wrong_http_method() -> None:
    assert error_of(post("/xrpc/com.example.echo", params={"name": "x"})) == (
        400,
        "InvalidRequest",
        "Incorrect HTTP method (POST) expected GET",
    )
    assert error_of(get("/xrpc/com.example.ping")) == (
        400,
        "InvalidRequest",
        "Incorrect HTTP method (GET) expected POST",
    )
    deleted: httpx.Response = run(lambda c: c.delete("/xrpc/com.example.ping"))
    assert error_of(deleted)[2] == "Incorrect HTTP method (DELETE) expected POST"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Params: required field 'name' is missing"),
        ({"name": "x", "count": "abc"}, "Params.count: expected an integer"),
        ({"name": "x", "count": "1.5"}, "Params.count: expected an integer"),
        ({"name": "x", "count": "01"}, "Params.count: expected an integer"),
        ({"name": "x", "count": "11"}, "Params.count: must be at most 10"),
        ({"name": "x", "count": "0"}, "Params.count: must be at least 1"),
        ({"name": "x", "loud": "yes"}, "Params.loud: expected a boolean"),
        ({"name": "x", "numbers": ["1", "x"]}, "Params.numbers: expected an integer"),
        ({"name": "x" * 21}, "Params.name: must be at most 20 bytes long"),
        ({"name": ["a", "b"]}, "Params.name: expected a single value"),
        # integers beyond the data model's signed 64 bits, before the lexicon's bounds
        ({"name": "x", "count": "9" * 5000}, "Params.count: " + OUT_OF_RANGE),
        ({"name": "x", "count": str(2**64)}, "Params.count: " + OUT_OF_RANGE),
        ({"name": "x", "count": str(-(2**63) - 1)}, "Params.count: " + OUT_OF_RANGE),
        ({"name": "x", "count": str(2**63 - 1)}, "Params.count: must be at most 10"),
        ({"name": "x", "numbers": ["1", "9" * 5000]}, "Params.numbers: " + OUT_OF_RANGE),
        # an empty value is no value
        ({"name": ""}, "Params: required field 'name' is missing"),
    ],
)
def test_bad_params(params: dict[str, Any], message: str) -> None:
    assert error_of(get("/xrpc/com.example.echo", params=params)) == (
        400,
        "InvalidRequest",
        message,
    )


def _write(**kwargs: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {access_token()}", **kwargs.pop("headers", {})}
    return post("/xrpc/com.example.write", headers=headers, **kwargs)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"repo": ALICE, "collection": "a.b.c"}, "Input: required field 'record' is missing"),
        (
            {"repo": ALICE, "collection": "nope", "record": {}},
            "Input.collection: must be a valid nsid",
        ),
        ({"repo": 5, "collection": "a.b.c", "record": {}}, "Input.repo: expected a string"),
        ({"repo": ALICE, "collection": "a.b.c", "record": []}, "Input.record: expected an object"),
        ([1, 2], "Input: expected an object"),
    ],
)
def test_bad_json_input(body: Any, message: str) -> None:
    assert error_of(_write(json=body)) == (400, "InvalidRequest", message)


INT64_END = str(2**63).encode()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"repo":"\xff"}', "Input: JSON text is not valid UTF-8 (byte 9)"),
        (b'{"collection":"a.b\xc3"}', "Input: JSON text is not valid UTF-8 (byte 18)"),
        (b'{"record":' + _nested(400) + b"}", "Input.record: " + DEEP),
        (b'{"repo":' + _nested(400) + b"}", "Input.repo: " + DEEP),
        (b'{"record":{"a":' + _nested(63) + b"}}", "Input.record: " + DEEP),
        (b'{"record":{"n":' + b"9" * 900 + b"}}", "Input.record.n: " + OUT_OF_RANGE),
        (b'{"record":{"n":[1,' + INT64_END + b"]}}", "Input.record.n[1]: " + OUT_OF_RANGE),
        (b'{"unknown":' + str(-(2**63) - 1).encode() + b"}", "Input.unknown: " + OUT_OF_RANGE),
    ],
    ids=["utf8", "utf8-truncated", "deep", "deep-typed", "deep-65", "900-digits", "2^63",
         "ignored-field"],
)  # fmt: skip
def test_json_bodies_outside_the_data_model(body: bytes, message: str) -> None:
    # (bodies under the demo's 1 KiB limit; the PDS's matrix sends 10,000-deep ones)
    response = _write(content=body, headers={"content-type": "application/json"})
    assert error_of(response) == (400, "InvalidRequest", message)


def test_json_bodies_at_the_data_model_limits() -> None:
    record = b'{"a":' + _nested(62) + b',"n":' + str(-(2**63)).encode() + b"}"
    body = b'{"repo":"' + ALICE.encode() + b'","collection":"a.b.c","record":' + record + b"}"
    response = _write(content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


def test_malformed_bodies() -> None:
    # (invalid UTF-8 in a string, a crash the fuzz/ py_json target found, is refused before
    # parsing: test_json_bodies_outside_the_data_model)
    content = b"{nope"
    assert error_of(_write(content=content, headers={"content-type": "application/json"})) == (
        400,
        "InvalidRequest",
        "Input is not valid JSON",
    )
    assert error_of(_write(content=b"{}", headers={"content-type": "text/plain"})) == (
        400,
        "InvalidRequest",
        "Wrong request encoding (Content-Type): text/plain",
    )
    assert error_of(_write(content=b"{}")) == (
        400,
        "InvalidRequest",
        "Request encoding (Content-Type) required but not provided",
    )
    assert error_of(
        _write(
            content=b"{}", headers={"content-type": "application/json", "content-encoding": "br"}
        )
    ) == (415, "UnsupportedMediaType", "unsupported content-encoding")
    assert error_of(
        post("/xrpc/com.example.upload", content=b"x", headers={"content-type": "text/plain"})
    ) == (
        400,
        "InvalidRequest",
        "Wrong request encoding (Content-Type): text/plain",
    )


def test_missing_and_unexpected_bodies() -> None:
    async def no_body(client: httpx.AsyncClient) -> httpx.Response:
        request = client.build_request("POST", "/xrpc/com.example.upload")
        del request.headers["content-length"]
        return await client.send(request)

    assert error_of(run(no_body)) == (
        400,
        "InvalidRequest",
        "A request body is expected but none was provided",
    )
    assert error_of(post("/xrpc/com.example.ping", content=b"x")) == (
        400,
        "InvalidRequest",
        "A request body was provided when none was expected",
    )

    async def empty_chunks() -> AsyncIterator[bytes]:
        yield b""

    # a chunked body with no bytes is no body
    assert post("/xrpc/com.example.ping", content=empty_chunks()).status_code == 200


def test_handler_xrpc_error() -> None:
    response = get("/xrpc/com.example.teapot")
    assert error_of(response) == (409, "InvalidSwap", "the record changed")
    assert response.headers["x-swap"] == "1"


def test_handler_error_in_a_custom_name() -> None:
    response = get("/xrpc/com.atproto.identity.resolveHandle", params={"handle": "bob.test"})
    assert error_of(response) == (400, "HandleNotFound", "Unable to resolve handle")


def test_unexpected_exception_is_500_without_details(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="strato.xrpc"):
        response = get("/xrpc/com.example.fail")
    assert error_of(response) == (500, "InternalServerError", "Internal Server Error")
    assert "secret" not in response.text
    assert any("secret database password" in r.getMessage() or r.exc_info for r in caplog.records)


def test_wrong_handler_output_is_500(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="strato.xrpc"):
        response = get("/xrpc/com.example.wrongOutput")
    assert error_of(response) == (500, "InternalServerError", "Internal Server Error")
    assert caplog.records


def test_auth_errors_in_routes() -> None:
    assert error_of(get("/xrpc/com.example.whoami")) == (
        401,
        "AuthMissing",
        "Authentication Required",
    )
    ok = get("/xrpc/com.example.whoami", headers={"authorization": f"Bearer {access_token()}"})
    assert ok.json() == {"did": ALICE, "scope": "com.atproto.access"}
    assert (ok.headers["cache-control"], ok.headers["vary"]) == ("private", "Authorization")
    public = get("/xrpc/com.example.echo", params={"name": "x"})
    assert "cache-control" not in public.headers
    other = _write(json={"repo": "did:plc:someoneelse", "collection": "a.b.c", "record": {}})
    assert error_of(other) == (403, "NotYourRepo", "you can only write to your own repo")


def test_duplicate_and_unknown_registrations() -> None:
    router = XrpcRouter()

    async def handler(request: Any) -> None:
        return None

    router.add("com.example.a", handler, types=MethodTypes("query"))
    with pytest.raises(ValueError, match="already registered"):
        router.add("com.example.a", handler, types=MethodTypes("query"))
    with pytest.raises(LookupError, match=r"no registered types for com\.example\.b"):
        router.add("com.example.b", handler)


# ---------------------------------------------------------------------------------------------
# Body limits


def test_declared_oversized_body_is_refused_before_reading() -> None:
    pulled: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(100):
            pulled.append(i)
            yield b"x" * 100

    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        request = client.build_request(
            "POST",
            "/xrpc/com.example.upload",
            content=chunks(),
            headers={"content-type": "image/png", "content-length": "10000"},
        )
        return await client.send(request)

    assert error_of(run(scenario)) == (413, "PayloadTooLarge", "request entity too large")
    assert pulled == []


def test_streamed_oversized_body_stops_at_the_limit() -> None:
    pulled: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(100):
            pulled.append(i)
            yield b"x" * 30

    response = post(
        "/xrpc/com.example.upload", content=chunks(), headers={"content-type": "image/png"}
    )
    assert error_of(response) == (413, "PayloadTooLarge", "request entity too large")
    assert len(pulled) == 3  # 90 bytes: past the 64-byte limit


def test_json_body_limit() -> None:
    record = {"text": "x" * 2000}
    response = _write(json={"repo": ALICE, "collection": "a.b.c", "record": record})
    assert error_of(response) == (413, "PayloadTooLarge", "request entity too large")


def test_invalid_content_length() -> None:
    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        request = client.build_request(
            "POST", "/xrpc/com.example.upload", content=b"xx", headers={"content-type": "image/png"}
        )
        request.headers["content-length"] = "-2"
        return await client.send(request)

    assert error_of(run(scenario)) == (400, "InvalidRequest", "invalid content-length")


# ---------------------------------------------------------------------------------------------
# CORS and metrics


def test_cors_preflight() -> None:
    response: httpx.Response = run(
        lambda c: c.options(
            "/xrpc/com.example.write",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization,content-type,atproto-proxy",
            },
        )
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET,HEAD,PUT,PATCH,POST,DELETE"
    assert (
        response.headers["access-control-allow-headers"]
        == "authorization,content-type,atproto-proxy"
    )
    assert response.headers["access-control-max-age"] == "86400"


def test_cors_headers_on_answers_and_errors() -> None:
    for response in (
        get("/xrpc/com.example.echo", params={"name": "x"}, headers={"origin": "https://a.b"}),
        get("/xrpc/com.example.nothing"),
    ):
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-expose-headers"] == EXPOSE_HEADERS
    assert "RateLimit-Remaining" in EXPOSE_HEADERS


def test_metrics_count_requests_by_nsid() -> None:
    async def scenario(client: httpx.AsyncClient) -> str:
        for _ in range(3):
            await client.get("/xrpc/com.example.echo", params={"name": "x"})
        await client.get("/xrpc/com.example.nothing")
        await client.get("/xrpc/com.example.fail")
        return (await client.get("/metrics")).text

    text: str = run(scenario)
    lines = [line for line in text.splitlines() if line.startswith("strato_http_requests_total{")]
    assert (
        'strato_http_requests_total{method="GET",route="/xrpc/com.example.echo",'
        'status="200"} 3.0' in lines
    )
    assert (
        'strato_http_requests_total{method="GET",route="/xrpc/{nsid:path}",'
        'status="501"} 1.0' in lines
    )
    assert (
        'strato_http_requests_total{method="GET",route="/xrpc/com.example.fail",'
        'status="500"} 1.0' in lines
    )


def test_head_on_a_query() -> None:
    response: httpx.Response = run(lambda c: c.head("/xrpc/com.example.echo?name=x"))
    assert response.status_code == 200
    assert response.content == b""


def test_params_structs_must_hold_query_types() -> None:
    class Nested(msgspec.Struct):
        inner: dict[str, int]

    async def handler(request: Any) -> None:
        return None

    with pytest.raises(TypeError, match=r"Nested\.inner: a query parameter is an integer"):
        XrpcRouter().add("com.example.a", handler, types=MethodTypes("query", params=Nested))


def test_xrpc_error_values() -> None:
    err = XrpcError(404)
    assert (err.error, err.message) == ("XRPCNotSupported", "XRPC Not Supported")
    assert str(err) == "404 XRPCNotSupported: XRPC Not Supported"
    hidden = XrpcError(500, None, "stack trace with secrets")
    assert hidden.body() == ErrorBody("InternalServerError", "Internal Server Error")
    conflict = XrpcError(409, "InvalidSwap")
    assert conflict.message is None
    assert conflict.response().body == b'{"error":"InvalidSwap"}'
    with pytest.raises(ValueError, match="400-599, not 302"):
        XrpcError(302)
