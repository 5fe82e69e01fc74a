"""The router's table of domain errors: a mapped error answers with its status, name and
message (the most specific mapped class deciding); an unmapped one is a plain 500, logged with
its traceback."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from starlette.applications import Starlette
from strato.xrpc import ErrorMap, MethodTypes, XrpcRouter


class LookupFailedError(Exception):
    pass


class ThingNotFoundError(LookupFailedError):
    pass


class GoneError(ThingNotFoundError):
    """Mapped by its parent only."""


def errors_app() -> Starlette:
    router = XrpcRouter(errors=[ErrorMap(LookupFailedError, 400)])
    router.map_error(ThingNotFoundError, 404, "ThingNotFound", lambda err: f"no thing: {err}")
    raised = {
        "com.example.lookup": LookupFailedError("lookup failed"),
        "com.example.thing": ThingNotFoundError("x"),
        "com.example.gone": GoneError("y"),
        "com.example.bug": KeyError("bug"),
    }
    for nsid, error in raised.items():

        async def handler(request: object, error: Exception = error) -> None:
            raise error

        router.add(nsid, handler, types=MethodTypes("query"))
    return Starlette(routes=router.routes())


def call(*nsids: str) -> list[httpx.Response]:
    transport = httpx.ASGITransport(errors_app())

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=transport, base_url="http://x.test") as client:
            return [await client.get(f"/xrpc/{nsid}") for nsid in nsids]

    return asyncio.run(main())


def test_a_mapped_error_answers_with_its_status_name_and_message() -> None:
    lookup, thing, gone = call("com.example.lookup", "com.example.thing", "com.example.gone")
    assert (lookup.status_code, lookup.json()) == (
        400,
        {"error": "InvalidRequest", "message": "lookup failed"},
    )
    assert (thing.status_code, thing.json()) == (
        404,
        {"error": "ThingNotFound", "message": "no thing: x"},
    )
    assert (gone.status_code, gone.json()) == (
        404,
        {"error": "ThingNotFound", "message": "no thing: y"},
    )


def test_an_unmapped_error_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="strato.xrpc"):
        (bug,) = call("com.example.bug")
    assert (bug.status_code, bug.json()) == (
        500,
        {"error": "InternalServerError", "message": "Internal Server Error"},
    )
    (record,) = [r for r in caplog.records if r.name == "strato.xrpc"]
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError
    assert "com.example.bug" in record.getMessage()
