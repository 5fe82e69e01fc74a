"""The directory server (``strato.plc.app``) through its HTTP API: every route, the error
bodies, export pagination in both formats, recovery with a hand-moved clock, concurrent
operations on one DID (over real HTTP on loopback) and persistence across a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from plc_helpers import EPOCH, HOUR, Clock, did_key, genesis, key, serve
from strato import __version__
from strato.identity.plc import create_tombstone, create_update, operation_cid, sign_operation
from strato.identity.plc.log import RECOVERY_WINDOW, format_datetime
from strato.identity.plc.operations import build_operation
from strato.plc.app import create_app
from strato.plc.routes.export import _count_param
from strato.plc.settings import PlcSettings

RECOVERY, PRIMARY = key("recovery"), key("primary")
INVALID = "request body is not valid: invalid data model value: "


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def directory(
    path: Path, clock: Clock | None = None, *, rate_limits: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process directory on ``path`` and an HTTP client for it."""
    settings = PlcSettings(path, sync=False, rate_limits=rate_limits)
    app = create_app(settings, clock=clock or Clock())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://plc.test") as http,
    ):
        yield http


async def post(http: httpx.AsyncClient, did: str, op: object) -> httpx.Response:
    return await http.post(f"/{did}", json=op)


async def created(
    http: httpx.AsyncClient, handle: str = "alice.test"
) -> tuple[str, dict[str, Any]]:
    op, did = genesis([RECOVERY, PRIMARY], handle=handle)
    response = await post(http, did, op)
    assert response.status_code == 200, response.text
    return did, op


def fork_of(op: dict[str, Any], handle: str, signer: Any) -> dict[str, Any]:
    unsigned = build_operation(
        rotation_keys=op["rotationKeys"],
        verification_methods=op["verificationMethods"],
        also_known_as=[f"at://{handle}"],
        services=op["services"],
        prev=operation_cid(op),
    )
    return sign_operation(unsigned, signer)


@pytest.mark.anyio
async def test_create_and_read_every_route(tmp_path: Path) -> None:
    clock = Clock()
    async with directory(tmp_path, clock) as http:
        op, did = genesis([RECOVERY, PRIMARY])
        response = await post(http, did, op)
        assert (response.status_code, response.text) == (200, "OK")

        document = await http.get(f"/{did}")
        assert document.status_code == 200
        assert document.headers["content-type"] == "application/did+ld+json"
        body = document.json()
        assert body["id"] == did
        assert body["alsoKnownAs"] == ["at://alice.test"]
        assert body["verificationMethod"][0]["id"] == f"{did}#atproto"
        assert body["service"][0]["serviceEndpoint"] == "https://pds.test"

        data = (await http.get(f"/{did}/data")).json()
        assert data == {
            "did": did,
            "verificationMethods": op["verificationMethods"],
            "rotationKeys": [did_key(RECOVERY), did_key(PRIMARY)],
            "alsoKnownAs": ["at://alice.test"],
            "services": op["services"],
        }
        assert (await http.get(f"/{did}/log")).json() == [op]
        assert (await http.get(f"/{did}/log/last")).json() == op
        assert (await http.get(f"/{did}/log/audit")).json() == [
            {
                "did": did,
                "operation": op,
                "cid": operation_cid(op),
                "nullified": False,
                "createdAt": format_datetime(EPOCH),
            }
        ]


@pytest.mark.anyio
async def test_update_and_created_at_always_increases(tmp_path: Path) -> None:
    async with directory(tmp_path) as http:  # the clock stands still
        did, op = await created(http)
        update = create_update(op, PRIMARY, handle="bob.test")
        assert (await post(http, did, update)).status_code == 200
        audit = (await http.get(f"/{did}/log/audit")).json()
        assert [entry["createdAt"] for entry in audit] == [
            "2025-01-01T00:00:00.000Z",
            "2025-01-01T00:00:00.001Z",
        ]
        assert (await http.get(f"/{did}/log/last")).json() == update
        assert (await http.get(f"/{did}/data")).json()["alsoKnownAs"] == ["at://bob.test"]


@pytest.mark.anyio
@pytest.mark.parametrize("suffix", ["", "/data", "/log", "/log/audit", "/log/last"])
async def test_unknown_did_is_404(tmp_path: Path, suffix: str) -> None:
    async with directory(tmp_path) as http:
        for did in ("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "did:web:example.com", "nonsense"):
            response = await http.get(f"/{did}{suffix}")
            assert response.status_code == 404
            assert response.json() == {"message": f"DID not registered: {did}"}


@pytest.mark.anyio
async def test_tombstoned_did(tmp_path: Path) -> None:
    async with directory(tmp_path) as http:
        did, op = await created(http)
        tombstone = create_tombstone(op, PRIMARY)
        assert (await post(http, did, tombstone)).status_code == 200
        for suffix in ("", "/data"):
            response = await http.get(f"/{did}{suffix}")
            assert response.status_code == 410
            assert response.json() == {"message": f"DID not available: {did}"}
        assert (await http.get(f"/{did}/log/last")).json() == tombstone
        assert (await http.get(f"/{did}/log")).json() == [op, tombstone]
        after = sign_operation({**op, "prev": operation_cid(tombstone)}, PRIMARY)
        response = await post(http, did, after)
        assert response.status_code == 400
        assert response.json() == {
            "message": "the DID is tombstoned: no operation may follow a tombstone"
        }


async def assert_rejected(
    http: httpx.AsyncClient, did: str, body: object, message: str, *, raw: bytes | None = None
) -> None:
    before = (await http.get("/export", params={"after": "0"})).text
    if raw is None:
        response = await post(http, did, body)
    else:
        response = await http.post(f"/{did}", content=raw)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["message"].startswith(message), response.json()
    assert (await http.get("/export", params={"after": "0"})).text == before


@pytest.mark.anyio
async def test_bad_operations_are_400_and_write_nothing(tmp_path: Path) -> None:
    async with directory(tmp_path) as http:
        did, op = await created(http)
        stranger = create_update(op, key("intruder"), handle="x.test")
        await assert_rejected(http, did, stranger, "invalid signature: not signed by any")
        wrong_prev = sign_operation({**op, "prev": "bafyreiaaaa"}, PRIMARY)
        await assert_rejected(http, did, wrong_prev, "prev bafyreiaaaa is not an operation of")
        many = create_update(op, PRIMARY, handle="x.test")
        many = sign_operation({**many, "alsoKnownAs": [f"at://{i}.t" for i in range(11)]}, PRIMARY)
        await assert_rejected(http, did, many, "too many alsoKnownAs entries (max 10)")
        await assert_rejected(http, did, {"type": "nope"}, "unknown operation type 'nope'")
        await assert_rejected(http, did, None, "", raw=b"{not json")
        # outside the data model: never a 500, nothing written
        await assert_rejected(http, did, None, INVALID + "JSON text is not valid UTF-8 (byte 9)",
                              raw=b'{"type":"\xff"}')  # fmt: skip
        deep = b'{"type":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
        await assert_rejected(http, did, None, INVALID + "nested more than 64 levels deep at "
                              "$.type", raw=deep)  # fmt: skip
        huge = b'{"type":"create","n":' + b"9" * 5000 + b"}"
        await assert_rejected(http, did, None, INVALID + "integer out of the signed 64-bit range "
                              "at $.n", raw=huge)  # fmt: skip
        await assert_rejected(http, did, None, "operation too large", raw=b" " * 70_000)
        chunks = [b" " * 20_000] * 4  # streamed, no content-length

        async def stream() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        response = await http.post(f"/{did}", content=stream())
        assert response.status_code == 400
        assert response.json()["message"].startswith("operation too large")
        other, other_did = genesis([RECOVERY], handle="other.test")
        await assert_rejected(http, did, other, f"{did} already exists")
        await assert_rejected(http, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", other, "genesis operation")
        await assert_rejected(http, "did:web:example.com", other, "not a did:plc: did:web")
        update = create_update(op, PRIMARY, handle="bob.test")
        await assert_rejected(http, other_did, update, f"{other_did} does not exist")


@pytest.mark.anyio
async def test_recovery_within_and_outside_the_window(tmp_path: Path) -> None:
    clock = Clock()
    async with directory(tmp_path, clock) as http:
        did, op = await created(http)
        clock.advance(HOUR)
        hijack = create_update(op, PRIMARY, handle="mallory.test")
        assert (await post(http, did, hijack)).status_code == 200
        clock.advance(RECOVERY_WINDOW + 1000)  # the directory keeps milliseconds
        late = fork_of(op, "late.test", RECOVERY)
        await assert_rejected(http, did, late, "recovery window passed")
        clock.now -= 1000  # exactly 72 hours after the hijack
        recovery = fork_of(op, "recovered.test", RECOVERY)
        assert (await post(http, did, recovery)).status_code == 200
        audit = (await http.get(f"/{did}/log/audit")).json()
        assert [entry["nullified"] for entry in audit] == [False, True, False]
        assert (await http.get(f"/{did}/log")).json() == [op, recovery]
        assert (await http.get(f"/{did}/data")).json()["alsoKnownAs"] == ["at://recovered.test"]


@pytest.mark.anyio
async def test_rate_limits_when_on(tmp_path: Path) -> None:
    clock = Clock()
    async with directory(tmp_path, clock, rate_limits=True) as http:
        did, op = await created(http)
        last = op
        for n in range(9):
            clock.advance(1000)
            last = create_update(last, PRIMARY, handle=f"h{n}.test")
            assert (await post(http, did, last)).status_code == 200
        clock.advance(1000)
        eleventh = create_update(last, PRIMARY, handle="eleventh.test")
        await assert_rejected(http, did, eleventh, "too many operations within the last hour")
        recovery = fork_of(op, "recovered.test", RECOVERY)  # recovery is exempt
        assert (await post(http, did, recovery)).status_code == 200
        clock.advance(HOUR)
        after = create_update(recovery, PRIMARY, handle="later.test")
        assert (await post(http, did, after)).status_code == 200


@pytest.mark.anyio
async def test_no_rate_limits_by_default(tmp_path: Path) -> None:
    async with directory(tmp_path) as http:
        did, op = await created(http)
        for n in range(12):
            op = create_update(op, PRIMARY, handle=f"h{n}.test")
            assert (await post(http, did, op)).status_code == 200


@pytest.mark.anyio
async def test_export_by_seq_pages(tmp_path: Path) -> None:
    clock = Clock()
    async with directory(tmp_path, clock) as http:
        expected = []
        for n in range(5):
            did, op = await created(http, handle=f"user{n}.test")
            expected.append((did, op))
            clock.advance(1000)
        seen = []
        after = 0
        while True:
            page = await http.get("/export", params={"after": str(after), "count": "2"})
            assert page.headers["content-type"] == "application/jsonlines"
            lines = [
                httpx.Response(200, content=line).json()
                for line in page.content.split(b"\n")
                if line
            ]
            if not lines:
                break
            assert len(lines) <= 2
            seen.extend(lines)
            after = lines[-1]["seq"]
        assert [row["seq"] for row in seen] == [1, 2, 3, 4, 5]
        assert [(row["did"], row["operation"]) for row in seen] == expected
        assert all(row["type"] == "sequenced_op" for row in seen)
        assert seen[0]["cid"] == operation_cid(expected[0][1])
        assert seen[0]["createdAt"] == format_datetime(EPOCH)
        assert set(seen[0]) == {"seq", "type", "did", "operation", "cid", "createdAt"}


@pytest.mark.anyio
async def test_export_legacy_timestamp_form(tmp_path: Path) -> None:
    clock = Clock()
    async with directory(tmp_path, clock) as http:
        dids = []
        for n in range(3):
            dids.append((await created(http, handle=f"user{n}.test"))[0])
            clock.advance(HOUR)
        everything = (await http.get("/export")).text.split("\n")
        rows = [httpx.Response(200, text=line).json() for line in everything]
        assert [row["did"] for row in rows] == dids
        assert set(rows[0]) == {"did", "operation", "cid", "nullified", "createdAt"}
        after = rows[0]["createdAt"]
        later = (await http.get("/export", params={"after": after})).text.split("\n")
        assert [httpx.Response(200, text=line).json()["did"] for line in later] == dids[1:]
        one = (await http.get("/export", params={"after": after, "count": "1"})).text
        assert httpx.Response(200, text=one).json()["did"] == dids[1]
        naive = (await http.get("/export", params={"after": "2025-01-01T00:30:00"})).text
        assert naive.count("\n") == 1  # the last two


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"count": "0"}, "Invalid count parameter"),
        ({"count": "ten"}, "Invalid count parameter"),
        ({"count": "-1"}, "Invalid count parameter"),
        ({"after": "yesterday"}, "Invalid after parameter"),
        ({"after": "-5"}, "Invalid after parameter"),
        ({"count": "9" * 5000}, "Invalid count parameter"),
        ({"count": str(2**64)}, "Invalid count parameter"),
        ({"after": "9" * 5000}, "Invalid after parameter"),
        ({"after": str(2**64)}, "Invalid after parameter"),
        ({"after": "1969-12-31T23:59:59.999Z"}, "Invalid after parameter"),
        ({"after": "0001-01-01T00:00:00Z"}, "Invalid after parameter"),
    ],
)
async def test_export_bad_parameters(tmp_path: Path, params: dict[str, str], message: str) -> None:
    async with directory(tmp_path) as http:
        response = await http.get("/export", params=params)
        assert response.status_code == 400
        assert response.json() == {"message": message}


def test_export_count_is_capped_at_1000() -> None:
    assert _count_param(None) == 1000
    assert _count_param("5000") == 1000
    assert _count_param(str(2**63 - 1)) == 1000
    assert _count_param("7") == 7


@pytest.mark.anyio
async def test_export_empty_parameters_are_absent(tmp_path: Path) -> None:
    async with directory(tmp_path) as http:
        await created(http)
        everything = await http.get("/export")
        empty = await http.get("/export", params={"after": "", "count": ""})
        assert (empty.status_code, empty.text) == (200, everything.text)
        epoch = await http.get("/export", params={"after": "1970-01-01T00:00:00Z"})
        assert (epoch.status_code, epoch.text) == (200, everything.text)


@pytest.mark.anyio
async def test_health_and_unknown_routes(tmp_path: Path) -> None:
    async with directory(tmp_path) as http:
        assert (await http.get("/_health")).json() == {"version": __version__}
        response = await http.get("/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/nothing/here")
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}
        response = await http.delete("/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
        assert response.status_code == 405
        assert response.json() == {"message": "Method Not Allowed"}


@pytest.mark.anyio
async def test_restart_keeps_everything(tmp_path: Path) -> None:
    async with directory(tmp_path) as http:
        did, op = await created(http)
        update = create_update(op, RECOVERY, handle="bob.test")
        assert (await post(http, did, update)).status_code == 200
        audit = (await http.get(f"/{did}/log/audit")).json()
        export = (await http.get("/export", params={"after": "0"})).text
    async with directory(tmp_path) as http:
        assert (await http.get(f"/{did}/log/audit")).json() == audit
        assert (await http.get("/export", params={"after": "0"})).text == export
        # the log's bookkeeping survived too: the recovery key's child allows no fork
        await assert_rejected(http, did, fork_of(op, "f.test", RECOVERY), "invalid signature")
        next_op = create_update(update, PRIMARY, handle="carol.test")
        assert (await post(http, did, next_op)).status_code == 200
        rows = (await http.get("/export", params={"after": "2"})).text
        assert httpx.Response(200, text=rows).json()["seq"] == 3


def test_concurrent_operations_on_one_did_over_http(tmp_path: Path) -> None:
    app = create_app(PlcSettings(tmp_path, sync=False))
    op, did = genesis([RECOVERY, PRIMARY])
    rivals = [create_update(op, PRIMARY, handle=f"rival{n}.test") for n in range(24)]
    others = [genesis([PRIMARY], handle=f"other{n}.test") for n in range(24)]

    async def race(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            assert (await post(http, did, op)).status_code == 200
            answers = await asyncio.gather(
                *(post(http, did, rival) for rival in rivals),
                *(post(http, other_did, other) for other, other_did in others),
            )
            return [answer.status_code for answer in answers]

    with serve(app) as url:
        statuses = asyncio.run(race(url))
        log = httpx.get(f"{url}/{did}/log").json()
        export = httpx.get(f"{url}/export", params={"after": "0"}).text.split("\n")
    assert statuses[: len(rivals)].count(200) == 1
    assert statuses[: len(rivals)].count(400) == len(rivals) - 1
    assert statuses[len(rivals) :] == [200] * len(others)
    assert len(log) == 2
    assert log[1] in rivals
    seqs = [httpx.Response(200, text=line).json()["seq"] for line in export]
    assert seqs == list(range(1, 2 + 1 + len(others)))


def metric(text: str, name: str) -> float | None:
    """The value of one sample line (``name`` with its labels) in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


@pytest.mark.anyio
async def test_metrics(tmp_path: Path) -> None:
    async with directory(tmp_path) as http:
        did, op = await created(http)
        refused = await post(http, did, op)  # the same genesis again
        assert refused.status_code == 400
        await http.get(f"/{did}/log")
        await http.get("/did:plc:unknownunknownunknownunk/log")
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    assert metric(text, 'strato_plc_operations_total{result="accepted"}') == 1
    assert metric(text, 'strato_plc_operations_total{result="refused"}') == 1
    assert metric(text, "strato_plc_operations_stored") == 1
    # requests are counted by route template, not by DID
    assert metric(text, 'strato_http_requests_total{method="GET",route="/{did}/log",status="200"}')
    assert metric(text, 'strato_http_requests_total{method="GET",route="/{did}/log",status="404"}')
    assert metric(text, 'strato_http_requests_total{method="POST",route="/{did}",status="400"}')
    assert metric(text, 'strato_service_info{service="plc"}') == 1
    assert did not in text
