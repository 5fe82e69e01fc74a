"""Event-stream frames: exact header bytes, round trips, and every malformed frame refused with
its reason."""

from __future__ import annotations

from typing import Any

import pytest
from firehose_helpers import account_body, commit_body, identity_body
from strato import CID
from strato.dagcbor import encode
from strato.errors import EncodeError, FrameError, LexiconValidationError
from strato.firehose import (
    MAX_FRAME_BYTES,
    decode_frame,
    encode_error,
    encode_message,
    message_payload,
)
from strato.lexicon.types import Account, Commit, Identity, Info

COMMIT_HEADER = bytes.fromhex("a2 61 74 67 23 63 6f 6d 6d 69 74 62 6f 70 01")
ERROR_HEADER = bytes.fromhex("a1 62 6f 70 20")


def test_message_header_bytes_are_the_spec_example() -> None:
    frame = encode_message("#commit", {"seq": 1})
    assert frame == COMMIT_HEADER + encode({"seq": 1})


def test_error_frame_bytes() -> None:
    assert encode_error("FutureCursor") == ERROR_HEADER + encode({"error": "FutureCursor"})
    assert encode_error("ConsumerTooSlow", "slow") == ERROR_HEADER + encode(
        {"error": "ConsumerTooSlow", "message": "slow"}
    )


@pytest.mark.parametrize(
    ("t", "body"),
    [
        ("#commit", commit_body(7)),
        ("#identity", identity_body(8)),
        ("#account", account_body(9)),
        ("#info", {"name": "OutdatedCursor"}),
        ("com.example.stream#thing", {"seq": 1, "x": b"\x00"}),
    ],
)
def test_message_round_trip(t: str, body: dict[str, Any]) -> None:
    frame = decode_frame(encode_message(t, body))
    assert (frame.op, frame.t, frame.body) == (1, t, body)
    assert frame.is_message
    assert not frame.is_error
    assert frame.seq == body.get("seq")


def test_error_round_trip() -> None:
    frame = decode_frame(encode_error("FutureCursor", "Cursor in the future."))
    assert frame.is_error
    assert frame.t is None
    assert frame.body == {"error": "FutureCursor", "message": "Cursor in the future."}
    assert frame.seq is None


def test_unknown_op_is_returned_for_the_client_to_skip() -> None:
    frame = decode_frame(encode({"op": 2, "t": "#new"}) + encode({"seq": 1}))
    assert (frame.op, frame.is_message, frame.is_error) == (2, False, False)


def test_typed_payloads() -> None:
    commit = message_payload(decode_frame(encode_message("#commit", commit_body(3))))
    assert isinstance(commit, Commit)
    assert commit.seq == 3
    assert commit.ops[0].cid == commit_body(3)["ops"][0]["cid"]
    assert isinstance(
        message_payload(decode_frame(encode_message("#identity", identity_body(1)))), Identity
    )
    assert isinstance(
        message_payload(decode_frame(encode_message("#account", account_body(1)))), Account
    )
    assert isinstance(
        message_payload(decode_frame(encode_message("#info", {"name": "OutdatedCursor"}))), Info
    )


def test_typed_payload_refusals() -> None:
    bad = commit_body(3) | {"repo": "not-a-did"}
    with pytest.raises(LexiconValidationError) as err:
        message_payload(decode_frame(encode_message("#commit", bad)))
    assert err.value.path == "$.repo"
    with pytest.raises(LexiconValidationError, match="unknown subscribeRepos message type"):
        message_payload(decode_frame(encode_message("#labels", {"seq": 1})))
    with pytest.raises(FrameError) as frame_err:
        message_payload(decode_frame(encode_error("FutureCursor")))
    assert frame_err.value.reason == "not a message frame"


def test_encode_refusals() -> None:
    with pytest.raises(EncodeError, match=r"no \$type"):
        encode_message("#commit", {"$type": "com.atproto.sync.subscribeRepos#commit"})
    with pytest.raises(EncodeError, match="is not '#name' or 'nsid#name'"):
        encode_message("commit", {"seq": 1})
    with pytest.raises(EncodeError, match="over the 100-byte limit"):
        encode_message("#commit", {"blob": b"x" * 100}, max_bytes=100)
    with pytest.raises(EncodeError, match="float"):
        encode_message("#commit", {"seq": 1.5})


def _frame(header: Any, body: Any) -> bytes:
    return encode(header) + encode(body)


MALFORMED = [
    pytest.param(b"", "empty frame", id="empty"),
    pytest.param(
        encode({"op": 1, "t": "#commit"}), "frame has a header but no payload", id="no-payload"
    ),
    pytest.param(
        _frame({"op": 1, "t": "#commit"}, {}) + encode({}),
        "frame has data after the payload",
        id="third-value",
    ),
    pytest.param(_frame(1, {}), "header is not a map", id="header-int"),
    pytest.param(_frame(["op", 1], {}), "header is not a map", id="header-list"),
    pytest.param(
        _frame({"t": "#commit"}, {}), "header op is missing or not an integer", id="no-op"
    ),
    pytest.param(
        _frame({"op": "1", "t": "#commit"}, {}),
        "header op is missing or not an integer",
        id="op-string",
    ),
    pytest.param(
        _frame({"op": True, "t": "#x"}, {}), "header op is missing or not an integer", id="op-bool"
    ),
    pytest.param(_frame({"op": 1, "t": 5}, {}), "header t is not a string", id="t-int"),
    pytest.param(_frame({"op": 1}, {}), "message header has no t", id="message-no-t"),
    pytest.param(_frame({"op": 1, "t": ""}, {}), "message header has no t", id="message-empty-t"),
    pytest.param(_frame({"op": 1, "t": "#commit"}, [1]), "payload is not a map", id="payload-list"),
    pytest.param(
        _frame({"op": 1, "t": "#commit"}, b"x"), "payload is not a map", id="payload-bytes"
    ),
    pytest.param(_frame({"op": -1}, {}), "error payload has no error string", id="error-no-error"),
    pytest.param(
        _frame({"op": -1}, {"error": 1}), "error payload has no error string", id="error-int"
    ),
    pytest.param(
        _frame({"op": -1}, {"error": "X", "message": 2}),
        "error payload message is not a string",
        id="error-message-int",
    ),
]


@pytest.mark.parametrize(("data", "reason"), MALFORMED)
def test_malformed_frames(data: bytes, reason: str) -> None:
    with pytest.raises(FrameError) as err:
        decode_frame(data)
    assert err.value.reason == reason


BAD_CBOR = [
    # unsorted keys in the header: {"op": 1, "t": "#c"} with op first
    pytest.param(
        bytes.fromhex("a2 62 6f 70 01 61 74 62 23 63") + encode({}), "map keys", id="unsorted"
    ),
    pytest.param(bytes.fromhex("a2 61 74 62 23 63 62 6f 70 01 a0 ff"), "", id="trailing-garbage"),
    pytest.param(
        _frame({"op": 1, "t": "#commit"}, {})[:-1] + b"\xa1", "end of input", id="truncated"
    ),
    pytest.param(
        encode({"op": 1, "t": "#c"}) + bytes.fromhex("a1 61 61 f9 3c 00"), "float", id="float"
    ),
    pytest.param(
        encode({"op": 1, "t": "#c"}) + bytes.fromhex("bf ff"), "indefinite", id="indefinite"
    ),
    pytest.param(
        encode({"op": 1, "t": "#c"}) + bytes.fromhex("a1 61 61 d8 2a 41 00"), "", id="bad-cid-tag"
    ),
]


@pytest.mark.parametrize(("data", "detail"), BAD_CBOR)
def test_bad_cbor_frames(data: bytes, detail: str) -> None:
    with pytest.raises(FrameError) as err:
        decode_frame(data)
    assert err.value.reason.startswith("bad DAG-CBOR: ")
    assert detail in err.value.reason


def test_size_limit() -> None:
    frame = encode_message("#commit", {"blob": b"x" * 200})
    assert decode_frame(frame, max_bytes=len(frame)).body == {"blob": b"x" * 200}
    with pytest.raises(FrameError) as err:
        decode_frame(frame, max_bytes=len(frame) - 1)
    assert (
        err.value.reason == f"frame of {len(frame)} bytes is over the {len(frame) - 1}-byte limit"
    )
    big = encode_message("#commit", {"blob": b"x" * MAX_FRAME_BYTES}, max_bytes=2 * MAX_FRAME_BYTES)
    with pytest.raises(FrameError, match="over the 5000000-byte limit"):
        decode_frame(big)


def test_links_and_bytes_stay_distinct() -> None:
    cid = CID.compute(b"\xa0")
    frame = decode_frame(encode_message("#commit", {"link": cid, "bytes": bytes(cid)}))
    assert frame.body == {"link": cid, "bytes": bytes(cid)}
    assert isinstance(frame.body["link"], CID)


def test_encode_refuses_a_frame_over_the_stream_limit() -> None:
    with pytest.raises(EncodeError, match="over the 5000000-byte limit"):
        encode_message("#commit", {"blob": b"x" * MAX_FRAME_BYTES})
