"""XRPC errors: :class:`XrpcError` and the JSON error response every XRPC endpoint answers with.

An error is ``{"error": "<Name>", "message": "<text>"}`` with an HTTP status (spec: XRPC,
"Summary of HTTP Status Codes"). The names for a status without a custom one are the
reference's (``InvalidRequest`` for 400, ``AuthenticationRequired`` for 401, ...), and the
message defaults to the status's reason phrase, as the reference server does. A 500 never
carries details: its message is always ``Internal Server Error``.
"""

from __future__ import annotations

from typing import Final

import msgspec
from starlette.responses import Response

#: The reference's error name for each status, used when a handler gives none.
STATUS_NAMES: Final = {
    400: "InvalidRequest",
    401: "AuthenticationRequired",
    403: "Forbidden",
    404: "XRPCNotSupported",
    406: "NotAcceptable",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "RateLimitExceeded",
    500: "InternalServerError",
    501: "MethodNotImplemented",
    502: "UpstreamFailure",
    503: "NotEnoughResources",
    504: "UpstreamTimeout",
}
#: The reference's default message for each status.
STATUS_MESSAGES: Final = {
    400: "Invalid Request",
    401: "Authentication Required",
    403: "Forbidden",
    404: "XRPC Not Supported",
    406: "Not Acceptable",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Rate Limit Exceeded",
    500: "Internal Server Error",
    501: "Method Not Implemented",
    502: "Upstream Failure",
    503: "Not Enough Resources",
    504: "Upstream Timeout",
}


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """The JSON body of an XRPC error response."""

    error: str
    message: str | None = None


class XrpcError(Exception):
    """An XRPC error answer: ``status`` (400-599), ``error`` (a whitespace-free name, default the
    status's generic name) and ``message``. ``headers`` are added to the response (for example
    ``WWW-Authenticate`` or ``Retry-After``). A status with no reason phrase of its own and no
    ``message`` answers without one. Raised by handlers and auth checks; also raised by
    :class:`strato.xrpc.client.XrpcClient` for an error answer from another service."""

    def __init__(
        self,
        status: int,
        error: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not 400 <= status < 600:
            raise ValueError(f"an XRPC error status is 400-599, not {status}")
        self.status = status
        self.error = error or STATUS_NAMES.get(status, "Unknown")
        self.message = message or STATUS_MESSAGES.get(status)
        self.headers = dict(headers or {})
        super().__init__(status, self.error, self.message)

    def __str__(self) -> str:
        return f"{self.status} {self.error}: {self.message or '(no message)'}"

    def body(self) -> ErrorBody:
        """The JSON body (a 500 says no more than ``Internal Server Error``)."""
        if self.status == 500:
            return ErrorBody(self.error, STATUS_MESSAGES[500])
        return ErrorBody(self.error, self.message)

    def response(self) -> Response:
        """The HTTP response for this error."""
        return Response(
            msgspec.json.encode(self.body()),
            status_code=self.status,
            headers=self.headers,
            media_type="application/json",
        )


def invalid_request(message: str, error: str | None = None) -> XrpcError:
    """A 400 ``InvalidRequest`` (or the custom ``error`` name)."""
    return XrpcError(400, error, message)


def auth_required(message: str | None = None, error: str | None = None) -> XrpcError:
    """A 401 ``AuthenticationRequired`` (or the custom ``error`` name)."""
    return XrpcError(401, error, message)


def forbidden(message: str | None = None, error: str | None = None) -> XrpcError:
    """A 403 ``Forbidden`` (or the custom ``error`` name)."""
    return XrpcError(403, error, message)


def method_not_implemented(message: str | None = None) -> XrpcError:
    """A 501 ``MethodNotImplemented``: clients read it as "not served here" and do not retry."""
    return XrpcError(501, None, message)
