"""``GET /export``: the directory's operations as JSON lines, in the sequenced format
(``?after=<seq>``) or the legacy one (``?after=<timestamp>``, or no ``after``); ``?count=N``
(at most :data:`strato.plc.directory.MAX_EXPORT_COUNT`). An empty parameter is absent; a seq or
count beyond 2^63-1, or a time before 1970, is 400."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from strato.datamodel import to_int64
from strato.errors import DataModelError
from strato.identity.plc.log import timestamp_us
from strato.plc.directory import MAX_EXPORT_COUNT, Directory
from strato.plc.routes.common import DirectoryError

JSON_LINES: Final = "application/jsonlines"
_DIGITS: Final = re.compile(r"[0-9]+")


def routes(directory: Directory) -> list[Route]:
    async def export(request: Request) -> Response:
        # an empty parameter is no parameter, as the reference reads ``req.query``
        count = _count_param(request.query_params.get("count") or None)
        after = request.query_params.get("after") or None
        if after is not None and _DIGITS.fullmatch(after):
            rows = await directory.export_by_seq(_integer(after, "Invalid after parameter"), count)
        else:
            since = None if after is None else _timestamp_param(after)
            rows = await directory.export_by_time(since, count)
        body = b"\n".join(msgspec.json.encode(row) for row in rows)
        return Response(body, media_type=JSON_LINES)

    return [Route("/export", export, methods=["GET"])]


def _count_param(value: str | None) -> int:
    if value is None:
        return MAX_EXPORT_COUNT
    message = "Invalid count parameter"
    count = _integer(value, message) if _DIGITS.fullmatch(value) else 0
    if count < 1:
        raise DirectoryError(400, message)
    return min(count, MAX_EXPORT_COUNT)


def _integer(digits: str, message: str) -> int:
    """``digits`` as an int, or a 400 with ``message`` beyond the signed 64-bit range."""
    try:
        return to_int64(digits)
    except DataModelError as err:
        raise DirectoryError(400, message) from err


def _timestamp_param(value: str) -> int:
    """Microseconds since the epoch, which no operation precedes: an earlier time is refused
    as out of range, like an unparsable one."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise DirectoryError(400, "Invalid after parameter") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since = timestamp_us(moment)
    if since < 0:
        raise DirectoryError(400, "Invalid after parameter")
    return since
