"""The HTTP side of a ``subscribeRepos`` connection: parse the request head that opens a
WebSocket (RFC 6455 section 4.2) and its ``cursor``, and the bytes of the answers (101 Switching
Protocols, or a plain HTTP error that refuses it).

The fan-out answers the upgrade on the raw socket itself, because the Rust writer needs the
socket and ASGI servers do not give it up: a worker reads the request head off the socket, and
in a service's own process the HTTP server hands over the head it read
(:data:`strato.service.protocol.Takeover`). :func:`parse_request` is strict about what it needs
(``GET``, ``HTTP/1.1``, ``Upgrade: websocket``, ``Connection: upgrade``, version 13, a 16-byte
key) and raises :class:`HandshakeError` with the HTTP status to answer otherwise.
:func:`parse_cursor` reads the ``cursor`` parameter (absent or empty: live only; an integer from
0 to 2^63-1, the data model's signed 64-bit range; anything else refused by an error frame
``InvalidRequest``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

from strato.datamodel import to_int64
from strato.errors import DataModelError, EventStreamError

SUBSCRIBE_REPOS_PATH: Final = "/xrpc/com.atproto.sync.subscribeRepos"
#: Close codes: 1008 after an error frame (policy), as the reference server does.
CLOSE_POLICY: Final = 1008
#: A request head longer than this is refused (431).
MAX_HEAD_BYTES: Final = 8192
#: What a worker reads at a time, and the most it can have read when the head is complete
#: (the head and the start of a body: what is handed to the main process).
READ_CHUNK: Final = 4096
MAX_RECEIVED: Final = MAX_HEAD_BYTES + READ_CHUNK
_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_REASONS: Final = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    426: "Upgrade Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


class HandshakeError(Exception):
    """A request that does not open a WebSocket here: answer ``status`` with ``error``."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


@dataclass(frozen=True, slots=True)
class UpgradeRequest:
    """A valid WebSocket opening request: its path, query parameters, key, ``User-Agent`` and
    ``X-Forwarded-For`` (its hops, comma-joined when the header repeats)."""

    path: str
    query: dict[str, list[str]]
    key: str
    user_agent: str
    forwarded_for: str = ""


def head_end(buffer: bytes | bytearray) -> int:
    """The length of the request head in ``buffer`` (through the blank line), or -1."""
    end = buffer.find(b"\r\n\r\n")
    return -1 if end < 0 else end + 4


def parse_request(head: bytes, *, path: str) -> UpgradeRequest:
    """Parse a request head (through its blank line) that must open a WebSocket at ``path``
    (compared once percent-decoded, as an ASGI server routes it); a head over
    :data:`MAX_HEAD_BYTES` is refused (431) before it is read."""
    if len(head) > MAX_HEAD_BYTES:
        raise HandshakeError(431, "InvalidRequest", "request head too large")
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text[: head_end(head) - 4].split("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError as err:
        raise HandshakeError(400, "InvalidRequest", "malformed request line") from err
    if version != "HTTP/1.1":
        raise HandshakeError(400, "InvalidRequest", "HTTP/1.1 required")
    values: dict[str, list[str]] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HandshakeError(400, "InvalidRequest", "malformed header line")
        values.setdefault(name.lower(), []).append(value.strip())
    headers = {key: ", ".join(repeated) for key, repeated in values.items()}
    url = urlsplit(target)
    if unquote(url.path) != path:
        raise HandshakeError(404, "NotFound", "no such endpoint here")
    if method != "GET":
        raise HandshakeError(405, "InvalidRequest", "GET required")
    upgrade = _tokens(headers.get("upgrade", ""))
    connection = _tokens(headers.get("connection", ""))
    if "websocket" not in upgrade or "upgrade" not in connection:
        raise HandshakeError(426, "InvalidRequest", "subscribeRepos is a WebSocket endpoint")
    if headers.get("sec-websocket-version") != "13":
        raise HandshakeError(426, "InvalidRequest", "WebSocket version 13 required")
    key = headers.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except (ValueError, binascii.Error) as err:
        raise HandshakeError(400, "InvalidRequest", "bad Sec-WebSocket-Key") from err
    return UpgradeRequest(
        path,
        parse_qs(url.query),
        key,
        headers.get("user-agent", ""),
        headers.get("x-forwarded-for", ""),
    )


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's key."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def parse_cursor(raw: str | None) -> int | None:
    """The ``cursor`` parameter's seq, None for live only (absent or empty, as for any XRPC
    parameter); an :class:`EventStreamError` ``InvalidRequest`` (the error frame to send) when
    it is not an integer from 0 to 2^63-1."""
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise EventStreamError("InvalidRequest", "cursor must be an integer >= 0")
    try:
        return to_int64(raw)
    except DataModelError as err:
        raise EventStreamError("InvalidRequest", f"cursor: {err.reason}") from None


def _server_line(server: str | None) -> str:
    return "" if server is None else f"Server: {server}\r\n"


def switching_protocols(key: str, *, server: str | None) -> bytes:
    """The 101 response that completes the handshake (``server``: its ``Server`` header)."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n"
        f"{_server_line(server)}\r\n"
    ).encode()


def error_response(
    status: int,
    error: str,
    message: str,
    *,
    server: str | None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A complete HTTP error response with an XRPC error body; the connection closes after."""
    body = json.dumps({"error": error, "message": message}).encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    if status == 426:
        extra += "Upgrade: websocket\r\n"
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        f"{_server_line(server)}{extra}\r\n"
    )
    return head.encode() + body
