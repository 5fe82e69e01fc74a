"""What the directory's route modules share: the reference's error answer and JSON bodies."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.responses import Response


class DirectoryError(HTTPException):
    """An HTTP error with the reference's ``{"message": ...}`` body: a request the routes
    refuse before any domain call (a bad parameter, a body too large or not JSON)."""


def json_response(
    value: Any, *, status: int = 200, media_type: str = "application/json"
) -> Response:
    """``value`` as compact JSON."""
    return Response(msgspec.json.encode(value), status_code=status, media_type=media_type)
