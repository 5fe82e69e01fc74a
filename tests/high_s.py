"""High-S signatures for tests: a commit's signature turned into its twin ``(r, n - s)``, which
is valid maths but refused by atproto unless a policy relaxes ``high_s``."""

from __future__ import annotations

from strato import CID, dagcbor

#: The group orders, for turning a signature into its high-S twin.
ORDERS = {
    "k256": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}


def malleate(commit_bytes: bytes, curve: str) -> tuple[CID, bytes]:
    """The same commit with its signature's twin ``(r, n - s)``: valid maths, but high S."""
    commit = dagcbor.decode(commit_bytes)
    assert isinstance(commit, dict)
    sig = commit["sig"]
    s = int.from_bytes(sig[32:], "big")
    commit["sig"] = sig[:32] + (ORDERS[curve] - s).to_bytes(32, "big")
    data = dagcbor.encode(commit)
    return CID.compute(data), data
