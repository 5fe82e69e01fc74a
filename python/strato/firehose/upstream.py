"""A message received from another service's ``subscribeRepos``: read once
(:func:`parse_upstream`) and, by a relay, written once under its own seq (:func:`resequence`),
the one re-encoding of each event.

The re-sequenced payload gets the relay's own ``seq``, loses every top-level field its lexicon
does not define (``com.atproto.sync.subscribeRepos``), and an ``#account`` carries the status
the relay holds for the account. Everything else is passed through as the decoded values:
``blocks`` is the upstream ``bytes`` object and op CIDs are the upstream CIDs, so both come out
byte-identical (nothing received is re-encoded to hash or verify it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from strato.errors import FrameError
from strato.firehose.frames import MAX_FRAME_BYTES, decode_frame, encode_message

#: The fields of each message that are passed on (the lexicon's, in its order).
FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "#commit": (
        "seq", "rebase", "tooBig", "repo", "commit", "rev", "since", "blocks", "ops", "blobs",
        "prevData", "time",
    ),
    "#sync": ("seq", "did", "blocks", "rev", "time"),
    "#identity": ("seq", "did", "time", "handle"),
    "#account": ("seq", "did", "time", "active", "status"),
}  # fmt: skip


class UpstreamError(ValueError):
    """An upstream frame that cannot be taken; ``reason`` is the drop reason for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class UpstreamEvent:
    """A decoded upstream message: its type, payload, upstream seq and account DID."""

    t: str
    body: dict[str, Any]
    seq: int
    did: str


def parse_upstream(data: bytes) -> UpstreamEvent | None:
    """The message in an upstream frame; None for an ``#info`` (nothing to pass on).
    Raises :class:`UpstreamError` (``malformed_frame``, ``frame_too_big``, ``error_frame``,
    ``unknown_type``, ``missing_seq``, ``missing_did``)."""
    if len(data) > MAX_FRAME_BYTES:
        raise UpstreamError("frame_too_big", f"frame of {len(data)} bytes")
    try:
        frame = decode_frame(data)
    except FrameError as err:
        raise UpstreamError("malformed_frame", str(err)) from None
    if frame.is_error:
        raise UpstreamError("error_frame", f"upstream error {frame.body.get('error')}")
    if frame.t == "#info":
        return None
    if frame.t not in FIELDS:
        raise UpstreamError("unknown_type", f"message type {frame.t!r} is not forwarded")
    body = frame.body
    seq = body.get("seq")
    if type(seq) is not int or seq < 0:
        raise UpstreamError("missing_seq", "message has no integer seq")
    did = body.get("repo" if frame.t == "#commit" else "did")
    if type(did) is not str or not did.startswith("did:"):
        raise UpstreamError("missing_did", "message names no account")
    return UpstreamEvent(frame.t, body, seq, did)


def resequence(event: UpstreamEvent, seq: int, *, status: str | None) -> bytes:
    """The frame of ``event`` under ``seq``. An ``#account`` carries ``status`` (the status the
    relay holds for the account; None: ``active: true`` and no status) instead of the
    upstream's; other messages ignore it."""
    body = event.body
    out = {name: body[name] for name in FIELDS[event.t] if name in body}
    out["seq"] = seq
    if event.t == "#account":
        out["active"] = status is None
        if status is None:
            out.pop("status", None)
        else:
            out["status"] = status
    return encode_message(event.t, out)
