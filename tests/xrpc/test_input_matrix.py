"""The input matrix: hostile input to every XRPC method of the PDS and of the relay (their method
tables, read when the tests are collected), the relay's ``/admin/`` paths, the PLC directory's
routes and the firehoses, each answered with a clear 400 (the XRPC error name and the field,
or the directory's and the admin paths' own shape), never a 500, a hang or a dropped socket;
one running PLC directory, PDS and relay for the module.

- a JSON body (with credentials the method accepts): invalid UTF-8, nesting 10,000 deep, a
  5,000-digit integer, and in each top-level field a value of the wrong type: 400
  ``InvalidRequest``, ``Input.<field>: ...``;
- a query parameter: an integer of 5,000 digits, above 2^64, below the lexicon's minimum, or
  not a number, a boolean that is not one: 400 ``InvalidRequest``, ``Params.<name>: ...``;
- the largest integer of the data model (2^63-1) in each integer field or parameter of an
  otherwise valid request: an answer (a 4xx, or done), not a server error nor a server that
  stays busy (a method that loops over it);
- ``subscribeRepos`` with a 5,000-digit cursor (the PDS's, and the relay's, both
  served by the fan-out): an
  error frame ``InvalidRequest``, then close 1008.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Final

import httpx
import msgspec
import pytest
from matrix_net import ADMIN, MatrixNet, basic, bearer, matrix_net, sample, tables, wrong_value
from strato.firehose import decode_frame
from strato.xrpc.auth import Verifier
from strato.xrpc.method import RawInput
from strato.xrpc.router import XrpcMethod
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

DEEP: Final = b"[" * 10_000 + b"]" * 10_000
INT64_MAX: Final = 2**63 - 1
HUGE: Final = b"9" * 5000
#: Each hostile value (in a method's first field), and the start of the message it gets.
JSON_CASES: Final = [
    ("invalid UTF-8", b'"\xff\xfe"', "Input: JSON text is not"),
    ("nested 10,000 deep", DEEP, "Input."),
    ("a 5,000-digit integer", HUGE, "Input."),
]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MatrixNet]:
    with matrix_net(tmp_path_factory.mktemp("input-matrix")) as running:
        yield running


def credentials(net: MatrixNet, method: XrpcMethod) -> dict[str, str]:
    """Headers that get a request past the method's verifier."""
    verifier = method.auth
    if not isinstance(verifier, Verifier) or verifier.optional:
        return {}
    if "access" in verifier.accepts:
        return bearer(net.alice.access)
    if "admin" in verifier.accepts:
        return basic(ADMIN)
    return bearer(net.alice.refresh)


def answer(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body.get("error"), body.get("message", "")


def json_problems(net: MatrixNet, url: str, nsid: str, method: XrpcMethod) -> list[str]:
    struct = method.types.input
    if struct is None or isinstance(struct, RawInput):
        return []
    headers = {**credentials(net, method), "content-type": "application/json"}
    client = net.client(url)
    fields = msgspec.structs.fields(struct)
    first = fields[0].encode_name.encode()
    problems = []
    for name, value, prefix in JSON_CASES:
        content = b'{"' + first + b'":' + value + b"}"
        got = answer(client.post(f"/xrpc/{nsid}", content=content, headers=headers))
        if got[:2] != (400, "InvalidRequest") or not got[2].startswith(prefix):
            problems.append(f"{name}: {got}")
    for field in filter(_is_integer, fields):
        largest = {**sample(struct, net.alice.did), field.encode_name: INT64_MAX}
        sent = client.post(f"/xrpc/{nsid}", json=largest, headers=headers)
        if sent.status_code >= 500:
            problems.append(f"{field.encode_name} = 2^63-1: {answer(sent)}")
    for field in fields:
        # a field any JSON value fits is checked further in: a number is wrong for all of them
        wrong = wrong_value(field.type) or 12345
        sent = client.post(
            f"/xrpc/{nsid}", content=msgspec.json.encode({field.encode_name: wrong}),
            headers=headers,
        )  # fmt: skip
        got = answer(sent)
        named = got[2].startswith(f"Input.{field.encode_name}")
        if got[:2] != (400, "InvalidRequest") or not named:
            problems.append(f"{field.encode_name} = {wrong!r}: {got}")
    return problems


def _is_integer(field: msgspec.structs.FieldInfo) -> bool:
    info = msgspec.inspect.type_info(field.type)
    kinds = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
    return any(isinstance(kind, msgspec.inspect.IntType) for kind in kinds)


def bad_params(struct: type[Any]) -> list[tuple[str, str, str]]:
    """(parameter, value, message) for each scalar parameter of ``struct``."""
    cases = []
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        kind, name = field.type, field.encode_name
        if isinstance(kind, msgspec.inspect.ListType):
            kind = kind.item_type
        if isinstance(kind, msgspec.inspect.IntType):
            out = f"Params.{name}: integer out of the signed 64-bit range"
            cases += [(name, HUGE.decode(), out), (name, str(2**64 + 1), out),
                      (name, "ten", f"Params.{name}: expected an integer"),
                      (name, str(INT64_MAX), "")]  # fmt: skip
            floor = kind.ge if kind.ge is not None else kind.gt
            if floor is not None and floor >= 0:
                cases.append((name, "-1", f"Params.{name}: must be at least"))
        elif isinstance(kind, msgspec.inspect.BoolType):
            cases.append((name, "maybe", f"Params.{name}: expected a boolean"))
    return cases


def param_problems(net: MatrixNet, url: str, nsid: str, method: XrpcMethod) -> list[str]:
    struct = method.types.params
    if struct is None:
        return []
    client = net.client(url)
    problems = []
    for name, value, prefix in bad_params(struct):
        params = {**sample(struct, net.alice.did), name: value}
        sent = client.get(f"/xrpc/{nsid}", params=params)
        if not prefix:  # the largest integer: any answer but a server error
            if sent.status_code >= 500:
                problems.append(f"{name}={value}: {answer(sent)}")
            continue
        got = answer(sent)
        if got[:2] != (400, "InvalidRequest") or not got[2].startswith(prefix):
            problems.append(f"{name}={value[:20]}: {got}")
    return problems


def check(net: MatrixNet, url: str, nsid: str, method: XrpcMethod) -> None:
    found = json_problems(net, url, nsid, method) + param_problems(net, url, nsid, method)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("server", "nsid"), tables().params())
def test_method(net: MatrixNet, server: str, nsid: str) -> None:
    check(net, net.url(server), nsid, tables().method(server, nsid))


@pytest.mark.parametrize(("method", "path"), tables().relay_admin_paths)
def test_relay_admin_path(net: MatrixNet, method: str, path: str) -> None:
    """Hostile bodies and numbers to the reference's admin paths: its 400 ``{"error"}``."""
    client = net.client(net.relay.url)
    bodies = [b'{"hostname":"\xff"}', b'{"did":' + DEEP + b"}", b'{"repo_limit":' + HUGE + b"}"]
    params = {"size": HUGE.decode(), "limit": HUGE.decode(), "host": "x" * 300, "enabled": "x"}
    for content in bodies if method == "POST" else [None]:
        sent = client.request(method, path, content=content, params=params, headers=basic(ADMIN))
        if method == "POST" or path == "/admin/repo/takedowns":  # refused, whatever it reads
            assert 400 <= sent.status_code < 500, (content, sent.text)
            assert set(sent.json()) == {"error"}
        else:
            assert sent.status_code == 200, sent.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"type":"\xff"}', "JSON text is not valid UTF-8 (byte 9)"),
        (b'{"type":' + DEEP + b"}", "nested more than 64 levels deep at $.type"),
        (b'{"type":"create","prev":' + HUGE + b"}", "integer out of the signed 64-bit range"),
        (b'{"type":12345}', "unknown operation type"),
        (b'{"type":"plc_operation","rotationKeys":"x"}', ""),
        (b"[]", ""),
    ],
    ids=["utf8", "deep", "5000-digits", "type-int", "keys-str", "array"],
)
def test_plc_operation(net: MatrixNet, body: bytes, message: str) -> None:
    sent = net.client(net.plc_url).post("/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", content=body)
    assert sent.status_code == 400, sent.text
    assert message in sent.json()["message"]


@pytest.mark.parametrize(
    "params",
    [{"after": HUGE.decode()}, {"after": str(2**64)}, {"after": "-1"}, {"after": "1969-07-20"},
     {"after": "tomorrow"}, {"count": HUGE.decode()}, {"count": str(2**64)}, {"count": "-1"},
     {"count": "ten"}],
    ids=["after-5000-digits", "after-2^64", "after-negative", "after-1969", "after-word",
         "count-5000-digits", "count-2^64", "count-negative", "count-word"],
)  # fmt: skip
def test_plc_export(net: MatrixNet, params: dict[str, str]) -> None:
    sent = net.client(net.plc_url).get("/export", params=params)
    assert sent.status_code == 400, sent.text
    assert sent.json()["message"] in ("Invalid after parameter", "Invalid count parameter")


@pytest.mark.parametrize("server", ["pds", "relay"])
@pytest.mark.parametrize("cursor", [HUGE.decode(), str(2**64)], ids=["5000-digits", "2^64"])
def test_subscribe_repos_cursor(net: MatrixNet, server: str, cursor: str) -> None:
    base = net.pds.url if server == "pds" else net.relay.url
    url = base.replace("http://", "ws://") + "/xrpc/com.atproto.sync.subscribeRepos"

    async def frames() -> tuple[list[dict[str, Any]], int | None, str | None]:
        async with connect(f"{url}?cursor={cursor}") as ws:
            received = []
            try:
                while True:
                    data = await asyncio.wait_for(ws.recv(), 20)
                    assert isinstance(data, bytes)
                    received.append(decode_frame(data).body)
            except ConnectionClosed:
                return received, ws.close_code, ws.close_reason

    received, code, reason = asyncio.run(frames())
    message = "cursor: integer out of the signed 64-bit range"
    assert received == [{"error": "InvalidRequest", "message": message}]
    assert (code, reason) == (1008, "InvalidRequest")
