"""``strato.identity.plc.PlcClient`` against our directory served by uvicorn on loopback: creating,
updating and tombstoning a DID, every read, export pages, and how each failure surfaces."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from plc_helpers import did_key, key, serve
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from strato import __version__
from strato.errors import DidNotFoundError, PlcDirectoryError, PlcValidationError
from strato.identity.plc import PlcClient, create_update, operation_cid, validate_audit_log
from strato.plc.app import create_app
from strato.plc.settings import PlcSettings

ROTATION, SIGNING = key("client-rotation"), key("client-signing", "p256")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with serve(create_app(PlcSettings(tmp_path, sync=False))) as address:
        yield address


async def new_did(plc: PlcClient, handle: str = "alice.test") -> str:
    return await plc.create_did(
        did_key(SIGNING), [did_key(ROTATION)], handle, "https://pds.test", signer=ROTATION
    )


@pytest.mark.anyio
async def test_lifecycle(url: str) -> None:
    async with PlcClient(url + "/") as plc:
        did = await new_did(plc)
        document = await plc.get_document(did)
        assert document["id"] == did
        assert document["verificationMethod"][0]["publicKeyMultibase"] == (
            did_key(SIGNING).removeprefix("did:key:")
        )
        new_signing = key("client-signing-2")
        update = await plc.update(
            did,
            ROTATION,
            handle="bob.test",
            pds_endpoint="https://pds2.test",
            signing_key=did_key(new_signing),
        )
        data = await plc.get_data(did)
        assert data["alsoKnownAs"] == ["at://bob.test"]
        assert data["services"]["atproto_pds"]["endpoint"] == "https://pds2.test"
        assert data["verificationMethods"]["atproto"] == did_key(new_signing)
        assert await plc.get_last_operation(did) == update
        log = await plc.get_log(did)
        assert len(log) == 2
        assert log[1]["prev"] == operation_cid(log[0])
        audit = await plc.get_audit_log(did)
        replayed = validate_audit_log(audit)
        assert replayed is not None
        assert replayed.to_json() == data

        tombstone = await plc.tombstone(did, ROTATION)
        assert await plc.get_last_operation(did) == tombstone
        with pytest.raises(DidNotFoundError) as caught:
            await plc.get_document(did)
        assert caught.value.reason == f"DID not available: {did}"
        assert caught.value.subject == did
        assert validate_audit_log(await plc.get_audit_log(did)) is None
        with pytest.raises(PlcValidationError, match="already tombstoned"):
            await plc.tombstone(did, ROTATION)
        with pytest.raises(PlcValidationError, match="tombstoned"):
            await plc.update(did, ROTATION, handle="again.test")


@pytest.mark.anyio
async def test_export_and_health(url: str) -> None:
    async with PlcClient(url) as plc:
        dids = [await new_did(plc, f"user{n}.test") for n in range(3)]
        first = await plc.export(count=2)
        rest = await plc.export(after=first[-1]["seq"])
        assert [row["did"] for row in first + rest] == dids
        assert await plc.export(after=3) == []
        assert await plc.health() == {"version": __version__}


@pytest.mark.anyio
async def test_rejected_operation_raises_with_the_directory_reason(url: str) -> None:
    async with PlcClient(url) as plc:
        did = await new_did(plc)
        last = await plc.get_last_operation(did)
        bad = create_update(last, key("intruder"), handle="x.test")
        with pytest.raises(PlcValidationError) as caught:
            await plc.submit(did, bad)
        assert caught.value.reason == (
            "invalid signature: not signed by any of the allowed rotation keys"
        )


@pytest.mark.anyio
async def test_unknown_did(url: str) -> None:
    async with PlcClient(url) as plc:
        for read in (plc.get_document, plc.get_data, plc.get_log, plc.get_audit_log):
            with pytest.raises(DidNotFoundError, match="DID not registered"):
                await read("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")


@pytest.mark.anyio
async def test_unreachable_directory() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with PlcClient(f"http://127.0.0.1:{port}", timeout=5) as plc:
        with pytest.raises(PlcDirectoryError) as caught:
            await plc.get_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
    assert caught.value.status is None
    assert caught.value.reason.startswith(f"GET http://127.0.0.1:{port}/did:plc:")


def broken_directory(status: int, body: bytes) -> Starlette:
    async def answer(request: object) -> Response:
        return Response(body, status_code=status, media_type="application/json")

    async def text(request: object) -> Response:
        return PlainTextResponse("not json at all")

    return Starlette(
        routes=[
            Route("/export", answer if status != 200 else text),
            Route("/_health", answer),
            Route("/{did}", answer, methods=["GET", "POST"]),
        ]
    )


@pytest.mark.anyio
async def test_unexpected_answers() -> None:
    transport = httpx.ASGITransport(broken_directory(500, b'{"message": "database down"}'))
    async with PlcClient("http://plc.test", transport=transport) as plc:
        with pytest.raises(PlcDirectoryError) as caught:
            await plc.get_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
        assert (caught.value.status, caught.value.reason) == (500, "database down")
        with pytest.raises(PlcDirectoryError, match="database down"):
            await plc.submit("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", {})
        with pytest.raises(PlcDirectoryError, match="database down"):
            await plc.health()
        with pytest.raises(PlcDirectoryError, match="database down"):
            await plc.export()
    for body in (b"<html>", b'{"id": "\xff"}'):
        transport = httpx.ASGITransport(broken_directory(200, body))
        async with PlcClient("http://plc.test", transport=transport) as plc:
            with pytest.raises(PlcDirectoryError, match="answer is not JSON"):
                await plc.export()
            with pytest.raises(PlcDirectoryError, match="answer is not JSON"):
                await plc.get_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
    transport = httpx.ASGITransport(broken_directory(503, b"<html>busy</html>"))
    async with PlcClient("http://plc.test", transport=transport) as plc:
        with pytest.raises(PlcDirectoryError) as caught:
            await plc.health()
        assert (caught.value.status, caught.value.reason) == (503, "<html>busy</html>")
