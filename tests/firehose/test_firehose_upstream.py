"""An upstream event read once and re-sequenced once (a relay's one re-encoding): a new seq,
unknown top-level fields dropped, ``#account`` with the relay's status, blocks and op CIDs
byte-identical; and the reasons an upstream frame is refused."""

from __future__ import annotations

from typing import Any

import pytest
from strato import CID
from strato.dagcbor import encode
from strato.firehose import decode_frame, encode_error, encode_message
from strato.firehose.upstream import UpstreamError, parse_upstream, resequence

CID_A = CID.compute(b"a", "raw")
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


def commit_body(**extra: Any) -> dict[str, Any]:
    return {
        "seq": 41, "rebase": False, "tooBig": False, "repo": DID, "commit": CID_A,
        "rev": "3n33s332wv7bk", "since": None, "blocks": b"\x01\x02car bytes",
        "ops": [{"action": "create", "path": "app.bsky.feed.post/3n33s332wv7bk", "cid": CID_A,
                 "prev": None}],
        "blobs": [], "time": "2026-11-24T00:00:00.000Z", **extra,
    }  # fmt: skip


def test_a_commit_gets_the_relay_seq_and_loses_unknown_fields_only() -> None:
    upstream = encode_message("#commit", commit_body(prevData=CID_A, extraField="x"))
    message = parse_upstream(upstream)
    assert message is not None
    assert (message.t, message.seq, message.did) == ("#commit", 41, DID)
    frame = resequence(message, 7, status=None)
    decoded = decode_frame(frame)
    assert decoded.t == "#commit"
    assert decoded.body == {**commit_body(prevData=CID_A), "seq": 7}
    # The blocks and the op CID are carried as the upstream bytes.
    assert encode(commit_body()["blocks"]) in frame
    assert bytes(CID_A) in frame


def test_an_account_event_carries_the_relay_status() -> None:
    body = {"seq": 3, "did": DID, "time": "2026-11-24T00:00:00Z", "active": True}
    message = parse_upstream(encode_message("#account", body))
    assert message is not None
    taken = decode_frame(resequence(message, 9, status="takendown")).body
    assert taken == {**body, "seq": 9, "active": False, "status": "takendown"}
    inactive = {**body, "active": False, "status": "deactivated"}
    message = parse_upstream(encode_message("#account", inactive))
    assert message is not None
    assert decode_frame(resequence(message, 10, status=None)).body == {**body, "seq": 10}


def test_info_frames_are_not_forwarded() -> None:
    assert parse_upstream(encode_message("#info", {"name": "OutdatedCursor"})) is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xa1\x61", "malformed_frame"),
        (b"", "malformed_frame"),
        (b"\x00" * 5_000_001, "frame_too_big"),
        (encode_error("ConsumerTooSlow"), "error_frame"),
        (encode_message("#tombstone", {"seq": 1, "did": DID}), "unknown_type"),
        (encode_message("#identity", {"did": DID, "time": "t"}), "missing_seq"),
        (encode_message("#identity", {"seq": -1, "did": DID, "time": "t"}), "missing_seq"),
        (encode_message("#identity", {"seq": 1, "did": "alice", "time": "t"}), "missing_did"),
        (encode_message("#commit", {**commit_body(), "repo": 5}), "missing_did"),
    ],
)
def test_refused_frames_name_their_reason(data: bytes, reason: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        parse_upstream(data)
    assert caught.value.reason == reason
