"""Event-stream frames: the bytes of one binary WebSocket message of an atproto subscription.

A frame is two DAG-CBOR values back to back, a header and a payload map:

- a message: header ``{op: 1, t: "#commit"}`` (``t`` names the message type; a type from
  another lexicon carries the full ``nsid#name``), payload the message fields without ``$type``;
- an error: header ``{op: -1}``, payload ``{error: "<Name>", message?: "<text>"}``; the server
  closes the connection right after it.

:func:`encode_message` and :func:`encode_error` build frames (a header's bytes are computed
once per type); :func:`decode_frame` reads one strictly and raises
:class:`~strato.errors.FrameError` with a stable ``reason`` for anything that breaks the rules.
Unknown ``op`` values are returned, not refused: the spec tells clients to skip them.
:func:`message_payload` gives a ``subscribeRepos`` payload as its typed struct.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from strato import _core
from strato.dagcbor import decode_multi, encode
from strato.errors import DecodeError, EncodeError, FrameError
from strato.lexicon.types import LexObject, decode_message

OP_MESSAGE: Final = 1
OP_ERROR: Final = -1
#: The largest frame of ``com.atproto.sync.subscribeRepos``, all overhead included (spec: 5 MB),
#: as the Rust core defines it.
MAX_FRAME_BYTES: Final = _core.MAX_FRAME_BYTES


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame: ``op`` (1 message, -1 error, anything else unknown), ``t`` (the message
    type, None for errors) and the payload map."""

    op: int
    t: str | None
    body: dict[str, Any]

    @property
    def is_message(self) -> bool:
        return self.op == OP_MESSAGE

    @property
    def is_error(self) -> bool:
        return self.op == OP_ERROR

    @property
    def seq(self) -> int | None:
        """The payload's ``seq`` when it is an integer (messages of streams with backfill)."""
        seq = self.body.get("seq")
        return seq if type(seq) is int else None


@cache
def message_header(t: str) -> bytes:
    """The encoded header of a message of type ``t`` (``#commit`` or ``nsid#name``)."""
    if not t or "#" not in t:
        raise EncodeError(f"message type {t!r} is not '#name' or 'nsid#name'", "$.t")
    return encode({"t": t, "op": OP_MESSAGE})


ERROR_HEADER: Final = encode({"op": OP_ERROR})


def encode_message(t: str, body: dict[str, Any], *, max_bytes: int = MAX_FRAME_BYTES) -> bytes:
    """The frame of message ``t`` with payload ``body`` (no ``$type``: the header names it).
    Raises :class:`~strato.errors.EncodeError` for a body that cannot be encoded or a frame
    over ``max_bytes``."""
    if "$type" in body:
        raise EncodeError("a frame payload carries no $type (the header's t names it)", "$")
    frame = message_header(t) + encode(body)
    if len(frame) > max_bytes:
        raise EncodeError(f"frame of {len(frame)} bytes is over the {max_bytes}-byte limit", "$")
    return frame


def encode_error(error: str, message: str | None = None) -> bytes:
    """The error frame ``{error, message?}`` (sent last, then the connection closes)."""
    body: dict[str, Any] = {"error": error}
    if message is not None:
        body["message"] = message
    return ERROR_HEADER + encode(body)


def decode_frame(
    data: bytes | bytearray | memoryview, *, max_bytes: int = MAX_FRAME_BYTES
) -> Frame:
    """Read one frame strictly: exactly two canonical DAG-CBOR values, a header with an integer
    ``op`` (and a string ``t`` for messages), a map payload (with a string ``error`` for error
    frames), at most ``max_bytes`` long. Raises :class:`~strato.errors.FrameError`."""
    if len(data) > max_bytes:
        raise FrameError(f"frame of {len(data)} bytes is over the {max_bytes}-byte limit")
    try:
        values = decode_multi(data)
    except DecodeError as err:
        raise FrameError(f"bad DAG-CBOR: {err.reason}", err.offset) from None
    if not values:
        raise FrameError("empty frame")
    if len(values) == 1:
        raise FrameError("frame has a header but no payload")
    if len(values) > 2:
        raise FrameError("frame has data after the payload")
    header, body = values
    if type(header) is not dict:
        raise FrameError("header is not a map")
    op = header.get("op")
    if type(op) is not int:
        raise FrameError("header op is missing or not an integer")
    t = header.get("t")
    if t is not None and type(t) is not str:
        raise FrameError("header t is not a string")
    if op == OP_MESSAGE and not t:
        raise FrameError("message header has no t")
    if type(body) is not dict:
        raise FrameError("payload is not a map")
    if op == OP_ERROR:
        if type(body.get("error")) is not str:
            raise FrameError("error payload has no error string")
        if "message" in body and type(body["message"]) is not str:
            raise FrameError("error payload message is not a string")
        return Frame(op, None, body)
    return Frame(op, t, body)


def message_payload(frame: Frame) -> LexObject:
    """The typed struct (:mod:`strato.lexicon.types`) of a ``subscribeRepos`` message frame;
    raises :class:`~strato.errors.LexiconValidationError` for an unknown type or a payload that
    breaks its lexicon, and :class:`~strato.errors.FrameError` for a frame that is not a message.
    """
    if not frame.is_message or frame.t is None:
        raise FrameError("not a message frame")
    return decode_message(frame.t, frame.body)
