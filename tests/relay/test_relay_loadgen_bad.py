"""The load generator's crafted bad events: each fails the check that names its drop reason
(the Rust verifier's code, or the upstream parser's reason for frame-level ones), the identity
ones are otherwise valid commits, and valid events around them still chain."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from loadgen import AccountChain, bad
from loadgen.dataset import account_key
from loadgen.records import POST, iso_time
from strato import dagcbor
from strato.errors import CommitVerificationError
from strato.firehose.upstream import UpstreamError, parse_upstream
from strato.relay.pipeline import DROP_REASONS
from strato.repo.commit import next_rev
from strato.sync import ErrorCode, VerifiedCommit, verify_commit_event

NOW_US = time.time_ns() // 1000
TIME = iso_time(NOW_US)


def make_chain(label: str = "alice") -> AccountChain:
    key = account_key(99, label)
    did = "did:plc:" + (label * 24)[:24]
    value = dagcbor.encode({"$type": POST, "text": "before the stream", "createdAt": TIME})
    records = [(f"{POST}/{next_rev()}", value) for _ in range(30)]
    return AccountChain.create(did, key, next_rev(), records)


def did_key(chain: AccountChain) -> str:
    return chain.key.public_key.did_key()


def verify(chain: AccountChain, body: dict[str, Any]) -> VerifiedCommit:
    return verify_commit_event(
        {**body, "seq": 1}, did_key(chain), prev_rev=chain.rev, prev_data=chain.root
    )


VERIFIER_CASES: dict[str, Callable[[AccountChain], bad.BadEvent]] = {
    bad.BAD_SIGNATURE: lambda c: bad.bad_signature(c, next_rev(c.rev), TIME),
    bad.BROKEN_INVERSION: lambda c: bad.broken_inversion(c, next_rev(c.rev), TIME),
    bad.REV_GOING_BACK: lambda c: bad.rev_going_back(c, TIME),
    bad.FUTURE_REV: lambda c: bad.future_rev(c, NOW_US, TIME),
    bad.OVERSIZED_BLOCKS: lambda c: bad.oversized_blocks(c, next_rev(c.rev), TIME),
    bad.TOO_MANY_OPS: lambda c: bad.too_many_ops(c, next_rev(c.rev), TIME),
}


@pytest.mark.parametrize("kind", list(VERIFIER_CASES))
def test_verifier_drops_with_the_documented_code(kind: str) -> None:
    chain = make_chain()
    event = VERIFIER_CASES[kind](chain)
    assert event.kind == kind
    assert event.reason in set(ErrorCode)
    with pytest.raises(CommitVerificationError) as caught:
        verify(chain, event.body)
    assert caught.value.code == event.reason
    # The chain did not move: the next valid event still verifies against it.
    assert verify(chain, bad.valid_commit(chain, next_rev(chain.rev), TIME))


def test_valid_events_around_bad_ones_chain() -> None:
    chain = make_chain()
    kinds = list(VERIFIER_CASES)
    for kind in kinds:
        rev = next_rev(chain.rev)
        built = chain.build([(f"{POST}/{rev}", {"$type": POST, "text": kind})], rev, TIME)
        result = verify(chain, built.body)
        chain.accept(built)
        assert chain.rev == result.rev
        with pytest.raises(CommitVerificationError):
            verify(chain, VERIFIER_CASES[kind](chain).body)


@pytest.mark.parametrize(
    ("maker", "reason"),
    [(bad.malformed_frame, "malformed_frame"), (bad.oversized_frame, "frame_too_big")],
)
def test_frame_level_events_are_refused_by_the_upstream_parser(
    maker: Callable[[AccountChain, str, str], bad.BadEvent], reason: str
) -> None:
    chain = make_chain()
    event = maker(chain, next_rev(chain.rev), TIME)
    assert event.reason == reason
    assert reason in DROP_REASONS
    with pytest.raises(UpstreamError) as caught:
        parse_upstream(event.frame(12))
    assert caught.value.reason == reason


def test_identity_events_are_valid_commits() -> None:
    foreign = make_chain("bob")
    event = bad.wrong_host(foreign, next_rev(foreign.rev), TIME)
    assert event.reason == "wrong_host"
    assert verify(foreign, event.body)
    stranger = bad.unregistered_account("x", next_rev())
    assert stranger.did.startswith("did:plc:")
    event = bad.unknown_did(stranger, next_rev(stranger.rev), TIME)
    assert event.reason == "unknown_did"
    assert {"wrong_host", "unknown_did"} <= set(DROP_REASONS)
    assert verify(stranger, event.body)
    message = parse_upstream(event.frame(3))
    assert message is not None
    assert message.did == stranger.did


def test_every_kind_has_a_reason() -> None:
    assert len(bad.DROP_REASON) == 10
    pipeline = set(DROP_REASONS) | set(ErrorCode)
    assert set(bad.DROP_REASON.values()) <= pipeline
