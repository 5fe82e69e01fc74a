"""Crafted bad events for the relay's tests: each one built around an account's valid chain
(never accepted into it, so the valid events before and after still chain) and dropped by a
relay with one reason code.

==================  ====================================================  ======================
kind                what it is                                            the relay's drop reason
==================  ====================================================  ======================
bad_signature       the next commit, signed with another key              ``bad_signature``
broken_inversion    a commit of two changes whose ops list only one       ``inversion_mismatch``
                    (the inverted tree is not ``prevData``)
rev_going_back      the next commit with a rev before the account's       ``rev_not_newer``
future_rev          the next commit with a rev a day ahead of the clock   ``rev_in_future``
oversized_blocks    three records of 700 kB: ``blocks`` over 2,000,000    ``too_big``
too_many_ops        201 created records in one commit                     ``too_many_ops``
wrong_host          a valid commit of an account whose DID document       ``wrong_host``
                    names another PDS (served from the wrong host)
unknown_did         a valid commit of a DID no directory knows            ``unknown_did``
malformed_frame     a frame cut short (its payload is not DAG-CBOR)       ``malformed_frame``
oversized_frame     a frame over 5,000,000 bytes                          ``frame_too_big``
==================  ====================================================  ======================

The first six are decided by the Rust verifier (:class:`strato.sync.ErrorCode` values, checked
against the account's last rev and data root); the last four by the relay's pipeline before
verification (:data:`strato.relay.pipeline.DROP_REASONS`). ``wrong_host`` and ``unknown_did``
events are valid commits: what makes them bad is where they come from, so they are made with
:func:`valid_commit` from a chain of the right kind of account (:func:`unregistered_account`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

from strato import dagcbor
from strato._core import PrivateKey, tid_from_parts, tid_parse
from strato.firehose.frames import message_header

from loadgen.chain import AccountChain, Change
from loadgen.dataset import account_key, make_account
from loadgen.records import LIKE, POST

BAD_SIGNATURE: Final = "bad_signature"
BROKEN_INVERSION: Final = "broken_inversion"
REV_GOING_BACK: Final = "rev_going_back"
FUTURE_REV: Final = "future_rev"
OVERSIZED_BLOCKS: Final = "oversized_blocks"
TOO_MANY_OPS: Final = "too_many_ops"
WRONG_HOST: Final = "wrong_host"
UNKNOWN_DID: Final = "unknown_did"
MALFORMED_FRAME: Final = "malformed_frame"
OVERSIZED_FRAME: Final = "oversized_frame"

#: Each kind's drop reason (see the module docstring).
DROP_REASON: Final[dict[str, str]] = {
    BAD_SIGNATURE: "bad_signature",
    BROKEN_INVERSION: "inversion_mismatch",
    REV_GOING_BACK: "rev_not_newer",
    FUTURE_REV: "rev_in_future",
    OVERSIZED_BLOCKS: "too_big",
    TOO_MANY_OPS: "too_many_ops",
    WRONG_HOST: "wrong_host",
    UNKNOWN_DID: "unknown_did",
    MALFORMED_FRAME: "malformed_frame",
    OVERSIZED_FRAME: "frame_too_big",
}
#: How far ahead a future rev is (the relay tolerates five minutes).
FUTURE_REV_AHEAD_US: Final = 86_400_000_000
_PADDING_BYTES: Final = 700_000
_OVERSIZED_FRAME_BYTES: Final = 5_100_000
#: Bytes cut from the end of a malformed frame.
_CUT: Final = 9


@dataclass(frozen=True)
class BadEvent:
    """A crafted event: its ``kind``, the ``reason`` a relay drops it with, and the message
    (``t``, ``body`` without ``seq``); ``truncated`` frames are cut short."""

    kind: str
    t: str
    body: dict[str, Any]
    truncated: bool = False

    @property
    def reason(self) -> str:
        return DROP_REASON[self.kind]

    def payload(self, seq: int) -> dict[str, Any]:
        """The body with ``seq``."""
        return {**self.body, "seq": seq}

    def frame(self, seq: int) -> bytes:
        """The frame as a host sends it at ``seq`` (no size limit applied)."""
        data = message_header(self.t) + dagcbor.encode(self.payload(seq))
        return data[:-_CUT] if self.truncated else data


def other_key(chain: AccountChain) -> PrivateKey:
    """A k256 key that is not the account's."""
    seed = hashlib.sha256(b"loadgen/not/" + chain.did.encode()).digest()
    return PrivateKey.from_bytes(seed, "k256")


def _post(rkey: str, time: str, text: str = "crafted") -> tuple[str, dict[str, Any]]:
    return f"{POST}/{rkey}", {"$type": POST, "text": text, "createdAt": time}


def valid_commit(chain: AccountChain, rev: str, time: str, text: str = "hello") -> dict[str, Any]:
    """The account's next commit (one new post at ``rev``), valid, not accepted."""
    return chain.build([_post(rev, time, text)], rev, time).body


def bad_signature(chain: AccountChain, rev: str, time: str) -> BadEvent:
    built = chain.build([_post(rev, time)], rev, time, key=other_key(chain))
    return BadEvent(BAD_SIGNATURE, "#commit", built.body)


def broken_inversion(chain: AccountChain, rev: str, time: str) -> BadEvent:
    clock = tid_parse(rev)[1]
    micros = tid_parse(rev)[0]
    changes: list[Change] = [
        _post(rev, time),
        _post(tid_from_parts(micros, (clock + 1) % 1024), time, "not in the ops"),
    ]
    body = chain.build(changes, rev, time).body
    body["ops"] = body["ops"][:1]
    return BadEvent(BROKEN_INVERSION, "#commit", body)


def rev_going_back(chain: AccountChain, time: str) -> BadEvent:
    micros, clock = tid_parse(chain.rev)
    rev = tid_from_parts(micros - 1_000_000, clock)
    return BadEvent(REV_GOING_BACK, "#commit", chain.build([_post(rev, time)], rev, time).body)


def future_rev(chain: AccountChain, now_us: int, time: str) -> BadEvent:
    """``now_us``: the clock (microseconds since the epoch) the relay will judge by."""
    rev = tid_from_parts(now_us + FUTURE_REV_AHEAD_US, tid_parse(chain.rev)[1])
    return BadEvent(FUTURE_REV, "#commit", chain.build([_post(rev, time)], rev, time).body)


def oversized_blocks(chain: AccountChain, rev: str, time: str) -> BadEvent:
    micros, clock = tid_parse(rev)
    changes: list[Change] = [
        (
            f"{POST}/{tid_from_parts(micros, (clock + k) % 1024)}",
            {"$type": POST, "text": "", "createdAt": time, "padding": bytes([k]) * _PADDING_BYTES},
        )
        for k in range(3)
    ]
    return BadEvent(OVERSIZED_BLOCKS, "#commit", chain.build(changes, rev, time).body)


def too_many_ops(chain: AccountChain, rev: str, time: str) -> BadEvent:
    micros, clock = tid_parse(rev)
    subject = {"uri": f"at://{chain.did}/{POST}/{rev}", "cid": chain.commit.encode()}
    changes: list[Change] = [
        (
            f"{LIKE}/{tid_from_parts(micros + k // 1024, (clock + k) % 1024)}",
            {"$type": LIKE, "subject": subject, "createdAt": time},
        )
        for k in range(201)
    ]
    return BadEvent(TOO_MANY_OPS, "#commit", chain.build(changes, rev, time).body)


def wrong_host(foreign: AccountChain, rev: str, time: str) -> BadEvent:
    """A valid commit of ``foreign``, an account whose PDS is another host."""
    return BadEvent(WRONG_HOST, "#commit", valid_commit(foreign, rev, time))


def unknown_did(unregistered: AccountChain, rev: str, time: str) -> BadEvent:
    """A valid commit of ``unregistered``, an account no directory knows
    (:func:`unregistered_account`)."""
    return BadEvent(UNKNOWN_DID, "#commit", valid_commit(unregistered, rev, time))


def malformed_frame(chain: AccountChain, rev: str, time: str) -> BadEvent:
    return BadEvent(MALFORMED_FRAME, "#commit", valid_commit(chain, rev, time), truncated=True)


def oversized_frame(chain: AccountChain, rev: str, time: str) -> BadEvent:
    body = valid_commit(chain, rev, time)
    body["blocks"] = body["blocks"] + bytes(_OVERSIZED_FRAME_BYTES)
    return BadEvent(OVERSIZED_FRAME, "#commit", body)


def unregistered_account(label: str, rev: str) -> AccountChain:
    """An empty repository for a did:plc that was never submitted to any directory."""
    account = make_account(0, f"unregistered-{label}", 0, account_key(0, "unregistered"))
    return AccountChain.create(account.did, account.key, rev)


__all__ = [
    "DROP_REASON",
    "BadEvent",
    "bad_signature",
    "broken_inversion",
    "future_rev",
    "malformed_frame",
    "other_key",
    "oversized_blocks",
    "oversized_frame",
    "rev_going_back",
    "too_many_ops",
    "unknown_did",
    "unregistered_account",
    "valid_commit",
    "wrong_host",
]
