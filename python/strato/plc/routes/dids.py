"""The routes of one DID: ``POST /:did`` (submit an operation), ``GET /:did`` (its DID
document), ``/:did/data``, ``/:did/log``, ``/:did/log/audit`` and ``/:did/log/last``.

A body outside the data model's limits (invalid UTF-8, nested deeper than 64, an integer beyond
64 bits: :func:`strato.datamodel.check_json`) or over :data:`MAX_BODY_BYTES` is a 400 before it
is parsed; the rest is :class:`strato.plc.directory.Directory`'s."""

from __future__ import annotations

from typing import Final

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from strato.datamodel import check_json
from strato.errors import DataModelError
from strato.plc.directory import Directory
from strato.plc.document import MEDIA_TYPE, did_document
from strato.plc.routes.common import DirectoryError, json_response

#: The largest request body read for ``POST /:did``: far above any operation within
#: :data:`strato.plc.limits.MAX_OP_BYTES`, small enough to refuse garbage early.
MAX_BODY_BYTES: Final = 64 * 1024


def routes(directory: Directory) -> list[Route]:
    async def submit(request: Request) -> Response:
        body = await _read_body(request)
        try:
            check_json(body)
        except DataModelError as err:
            raise DirectoryError(400, f"request body is not valid: {err}") from err
        try:
            value = msgspec.json.decode(body)
        except (
            msgspec.DecodeError,
            UnicodeDecodeError,
        ) as err:  # msgspec's error for invalid UTF-8
            raise DirectoryError(400, f"request body is not JSON: {err}") from err
        await directory.submit(request.path_params["did"], value)
        return Response(b"OK", media_type="text/plain")

    async def resolve(request: Request) -> Response:
        if request.method == "POST":
            return await submit(request)
        current = await directory.data(request.path_params["did"])
        return json_response(did_document(current), media_type=MEDIA_TYPE)

    async def data(request: Request) -> Response:
        return json_response((await directory.data(request.path_params["did"])).to_json())

    async def operation_log(request: Request) -> Response:
        log = await directory.load(request.path_params["did"])
        return json_response([entry.operation for entry in log.active()])

    async def audit_log(request: Request) -> Response:
        return json_response(await directory.audit_log(request.path_params["did"]))

    async def last_operation(request: Request) -> Response:
        return json_response((await directory.last_entry(request.path_params["did"])).operation)

    return [
        Route("/{did}", resolve, methods=["GET", "POST"]),
        Route("/{did}/data", data, methods=["GET"]),
        Route("/{did}/log", operation_log, methods=["GET"]),
        Route("/{did}/log/audit", audit_log, methods=["GET"]),
        Route("/{did}/log/last", last_operation, methods=["GET"]),
    ]


async def _read_body(request: Request) -> bytes:
    """The request body, refusing (without reading it all) one over :data:`MAX_BODY_BYTES`."""
    too_large = DirectoryError(400, f"operation too large (request body over {MAX_BODY_BYTES})")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:  # gone, or closed for a body that stopped coming: no reader
        raise DirectoryError(400, "the connection closed before the request ended") from None
    return b"".join(chunks)
