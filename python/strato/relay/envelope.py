"""An upstream event as the relay's log stores it: the one re-encoding of each event.

The relay reads an upstream frame once (:func:`parse`) and writes it once (:func:`outgoing`):
the payload gets the relay's own ``seq``, loses every top-level field its lexicon does not
define (``com.atproto.sync.subscribeRepos``), and an ``#account`` carries the relay's combined
status. Everything else is passed through as the decoded values: ``blocks`` is the upstream
``bytes`` object and op CIDs are the upstream CIDs, so both come out byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from strato.errors import FrameError
from strato.firehose.frames import MAX_FRAME_BYTES, decode_frame, encode_message

#: The fields of each message the relay forwards (the lexicon's, in its order).
FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "#commit": (
        "seq", "rebase", "tooBig", "repo", "commit", "rev", "since", "blocks", "ops", "blobs",
        "prevData", "time",
    ),
    "#sync": ("seq", "did", "blocks", "rev", "time"),
    "#identity": ("seq", "did", "time", "handle"),
    "#account": ("seq", "did", "time", "active", "status"),
}  # fmt: skip


class EnvelopeError(ValueError):
    """An upstream frame the relay cannot take; ``reason`` is the drop reason for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class Upstream:
    """A decoded upstream message: its type, payload, upstream seq and account DID."""

    t: str
    body: dict[str, Any]
    seq: int
    did: str


def parse(data: bytes) -> Upstream | None:
    """The message in an upstream frame; None for an ``#info`` (nothing to forward).
    Raises :class:`EnvelopeError` (``malformed_frame``, ``frame_too_big``, ``error_frame``,
    ``unknown_type``, ``missing_seq``, ``missing_did``)."""
    if len(data) > MAX_FRAME_BYTES:
        raise EnvelopeError("frame_too_big", f"frame of {len(data)} bytes")
    try:
        frame = decode_frame(data)
    except FrameError as err:
        raise EnvelopeError("malformed_frame", str(err)) from None
    if frame.is_error:
        raise EnvelopeError("error_frame", f"upstream error {frame.body.get('error')}")
    if frame.t == "#info":
        return None
    if frame.t not in FIELDS:
        raise EnvelopeError("unknown_type", f"message type {frame.t!r} is not forwarded")
    body = frame.body
    seq = body.get("seq")
    if type(seq) is not int or seq < 0:
        raise EnvelopeError("missing_seq", "message has no integer seq")
    did = body.get("repo" if frame.t == "#commit" else "did")
    if type(did) is not str or not did.startswith("did:"):
        raise EnvelopeError("missing_did", "message names no account")
    return Upstream(frame.t, body, seq, did)


def outgoing(
    message: Upstream, seq: int, *, active: bool | None = None, status: str | None = None
) -> bytes:
    """The relay's frame for ``message`` with ``seq``. For ``#account``, ``active`` and
    ``status`` are the relay's combined status (``status`` None: none is sent)."""
    body = message.body
    out = {name: body[name] for name in FIELDS[message.t] if name in body}
    out["seq"] = seq
    if message.t == "#account":
        out["active"] = bool(active)
        if status is None:
            out.pop("status", None)
        else:
            out["status"] = status
    return encode_message(message.t, out)
