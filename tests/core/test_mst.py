"""Tests for ``strato.repo.mst``, the Merkle Search Tree.

- Against an oracle: ``mst_reference.py`` is a slow, plainly written tree from the spec; ``build``
  must give the same root and byte-identical nodes on random key sets (deep layers included)
  and on the interop example keys. ``atmst``, an independent Python implementation, must agree
  on roots for large random trees, built and then shrunk.
- Interop fixtures (``shared/interop/mst``, and the commit-proof fixtures in both the interop
  tests and indigo's test data): key heights, prefix compression, and every commit-proof case
  end to end: build, apply, diff, proof nodes, inversion from the proof nodes alone.
- Random write batches against a ``dict`` model: roots, new blocks, ops, get, ranged listing,
  diff, proofs and inversion, record proofs.
- Rejections, each with its reason: bad keys, duplicate keys, hand-made malformed or misplaced
  nodes (as the root and as a child), missing nodes, inversion mismatches, block sources that
  return non-bytes or raise.
- Any ``collections.abc.Mapping`` works as the block source.

Fixtures are read from outside the repository and the tests that need them skip when absent.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import mst_reference as reference
import pytest
from conftest import require_shared, shared_path, skipped_param
from hypothesis import given
from hypothesis import strategies as st
from strato import CID
from strato.dagcbor import decode, encode
from strato.errors import CommitVerificationError, DecodeError, MSTError
from strato.repo import mst
from strato.repo.mst import EMPTY_ROOT, RecordOp

Blocks = dict[CID, bytes]

# --- keys and values ---------------------------------------------------------------------------

COLLECTIONS = ["app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow", "com.ex.rec"]
RKEY_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~:-"

#: Keys sharing long prefixes, in four collections.
POOL = [f"{COLLECTIONS[i % 4]}/3k{i:08d}" for i in range(3000)]


def fast_height(key: str) -> int:
    """Key height for searching many keys (cross-checked against both others below)."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest(), "big")
    return (256 - digest.bit_length()) // 2


def keys_by_height(template: str, per_height: int, top: int) -> dict[int, list[str]]:
    """``per_height`` keys of each height ``0..top`` (``template`` formatted with a counter)."""
    found: dict[int, list[str]] = {h: [] for h in range(top + 1)}
    counter = 0
    while any(len(keys) < per_height for keys in found.values()):
        key = template.format(counter)
        height = fast_height(key)
        if height <= top and len(found[height]) < per_height:
            found[height].append(key)
        counter += 1
    return found


#: Keys of known heights 0..6, for deep trees and hand-made nodes.
BY_HEIGHT = keys_by_height("com.ex.deep/k{}", 4, 6)
H1, H2 = sorted(BY_HEIGHT[1]), sorted(BY_HEIGHT[2])
#: Height-0 keys that sort before every key above, and one that sorts after them all.
H0 = sorted(keys_by_height("a.low/k{}", 4, 0)[0])
LAST0 = keys_by_height("zz.high/k{}", 1, 0)[0][0]
DEEP = [key for h in range(3, 7) for key in BY_HEIGHT[h]]
#: Keys at or near the 1024-byte limit.
LONG_KEYS = ["c/" + "k" * 1022, "c/" + "k" * 1021 + "j", "d/" + "x" * 1000]

VALUES = [CID.compute(encode({"record": i})) for i in range(8)]
V = VALUES[0]

RKEYS = st.text(alphabet=RKEY_ALPHABET, min_size=1, max_size=24)
NSIDS = st.sampled_from(COLLECTIONS) | st.from_regex(
    r"[a-z]{1,5}(\.[a-z]{1,5}){1,3}", fullmatch=True
)
RANDOM_KEYS = st.builds(lambda c, r: f"{c}/{r}", NSIDS, RKEYS)


@st.composite
def contents(
    draw: st.DrawFn, pool: list[str] = POOL, max_size: int = 300, extras: bool = True
) -> dict[str, CID]:
    """A random key -> CID mapping: a sample of ``pool``, and (with ``extras``) some deep keys
    and some arbitrary keys."""
    size = draw(st.integers(min_value=0, max_value=min(max_size, len(pool))))
    rng = random.Random(draw(st.integers(min_value=0, max_value=2**32 - 1)))
    keys = set(rng.sample(pool, size))
    if extras:
        keys.update(draw(st.lists(st.sampled_from(DEEP + LONG_KEYS), max_size=6)))
        keys.update(draw(st.lists(RANDOM_KEYS, max_size=8)))
    return {key: rng.choice(VALUES) for key in sorted(keys)}


def stored(pairs: Mapping[str, CID]) -> tuple[CID, Blocks]:
    """The tree of ``pairs`` by the code under test, with the empty node always in the blocks."""
    root, blocks = mst.build(pairs.items())
    blocks.setdefault(EMPTY_ROOT, encode(reference.EMPTY_NODE))
    return root, blocks


def subset(blocks: Mapping[CID, bytes], cids: list[CID]) -> Blocks:
    return {cid: blocks[cid] for cid in cids}


def model_diff(old: Mapping[str, CID], new: Mapping[str, CID]) -> list[RecordOp]:
    """The record ops from ``old`` to ``new``, in key order."""
    ops = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is None and after is not None:
            ops.append(RecordOp("create", key, after, None))
        elif before is not None and after is None:
            ops.append(RecordOp("delete", key, None, before))
        elif before != after:
            ops.append(RecordOp("update", key, after, before))
    return ops


def mst_error(call: Callable[..., object], *args: Any) -> MSTError:
    """The MSTError ``call(*args)`` raises."""
    with pytest.raises(MSTError) as info:
        call(*args)
    return info.value


def verification_error(call: Callable[..., object], *args: Any) -> CommitVerificationError:
    """The CommitVerificationError ``call(*args)`` raises."""
    with pytest.raises(CommitVerificationError) as info:
        call(*args)
    return info.value


# --- the oracle itself -------------------------------------------------------------------------


def test_key_pools() -> None:
    assert all(mst.key_height(key) == 0 for key in [*H0, LAST0])
    assert max(H0) < min(H1 + H2)
    assert max(H1 + H2) < LAST0
    assert all(mst.key_height(key) == h for h in BY_HEIGHT for key in BY_HEIGHT[h])
    assert all(reference.key_height(key) == h for h in BY_HEIGHT for key in BY_HEIGHT[h])
    assert all(mst.is_valid_key(key) for key in POOL + DEEP + LONG_KEYS)
    assert max(len(key) for key in LONG_KEYS) == 1024


def test_reference_reads_what_it_builds() -> None:
    pairs = {key: VALUES[i % 3] for i, key in enumerate(POOL[:200] + DEEP)}
    root, blocks = reference.build(pairs)
    assert reference.read_tree(blocks, root) == pairs
    # Root at the deepest layer, and an entry-less node somewhere (deep keys leave gaps).
    _, entries = reference.decode_node(blocks[root])
    assert reference.key_height(entries[0][0]) == 6
    assert any(not reference.decode_node(data)[1] for data in blocks.values())


# --- build against the oracle ------------------------------------------------------------------


def test_empty_tree() -> None:
    empty = bytes.fromhex("a2616580616cf6")  # {"e": [], "l": null}
    assert CID.compute(empty) == EMPTY_ROOT
    assert mst.build([]) == (EMPTY_ROOT, {EMPTY_ROOT: empty})
    assert reference.build({}) == (EMPTY_ROOT, {EMPTY_ROOT: empty})
    assert mst.items({EMPTY_ROOT: empty}, EMPTY_ROOT) == []
    assert mst.get({EMPTY_ROOT: empty}, EMPTY_ROOT, "a/b") is None


def test_single_key() -> None:
    root, blocks = mst.build([("com.ex/a", V)])
    node = {"e": [{"k": b"com.ex/a", "p": 0, "t": None, "v": V}], "l": None}
    assert blocks == {root: encode(node)}
    assert decode(blocks[root]) == node


@given(contents())
def test_build_matches_reference(pairs: dict[str, CID]) -> None:
    root, blocks = mst.build(pairs.items())
    ref_root, ref_blocks = reference.build(pairs)
    assert root == ref_root
    assert blocks == ref_blocks
    assert reference.read_tree(blocks, root) == pairs


def test_build_deep_tree_matches_reference() -> None:
    pairs = {key: VALUES[i % 5] for i, key in enumerate(POOL[:300] + DEEP + LONG_KEYS)}
    root, blocks = mst.build(pairs.items())
    assert (root, blocks) == reference.build(pairs)
    assert reference.key_height(reference.decode_node(blocks[root])[1][0][0]) == 6


def test_build_any_order_and_key_type() -> None:
    pairs = [(key, VALUES[i % 3]) for i, key in enumerate(POOL[:150] + DEEP)]
    expected = mst.build(pairs)
    shuffled = pairs[:]
    random.Random(7).shuffle(shuffled)
    assert mst.build(iter(shuffled)) == expected
    as_bytes: list[Any] = [(key.encode(), value) for key, value in pairs]
    assert mst.build(as_bytes) == expected
    assert mst.build(reversed(pairs)) == expected


def example_keys() -> list[str]:
    path = require_shared("interop", "mst", "example_keys.txt")
    keys = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [key for key in keys if key]


def test_build_example_keys() -> None:
    keys = example_keys()
    assert len(keys) >= 100
    for count in (1, 2, 10, 50, len(keys)):
        pairs = {key: VALUES[i % 4] for i, key in enumerate(keys[:count])}
        root, blocks = mst.build(pairs.items())
        assert (root, blocks) == reference.build(pairs)
        assert reference.read_tree(blocks, root) == pairs


# --- differential: atmst -----------------------------------------------------------------------


class Atmst:
    """An atmst tree in memory, driven one write at a time; roots as CID strings."""

    def __init__(self) -> None:
        self.cbrrr = pytest.importorskip("cbrrr")
        blockstore = pytest.importorskip("atmst.blockstore")
        node_store = pytest.importorskip("atmst.mst.node_store")
        wrangler = pytest.importorskip("atmst.mst.node_wrangler")
        self.store = node_store.NodeStore(blockstore.MemoryBlockStore())
        self.wrangler = wrangler.NodeWrangler(self.store)
        self.root = self.store.get_node(None).cid

    def put(self, key: str, value: CID) -> None:
        self.root = self.wrangler.put_record(self.root, key, self.cbrrr.CID(bytes(value)))

    def delete(self, key: str) -> None:
        self.root = self.wrangler.del_record(self.root, key)

    def root_str(self) -> str:
        return str(self.root.encode("base32"))


def random_keys(rng: random.Random, count: int) -> list[str]:
    keys = set(rng.sample(POOL, count // 2))
    keys.update(rng.sample(DEEP, 4))
    while len(keys) < count:
        rkey = "".join(rng.choices(RKEY_ALPHABET, k=rng.randint(1, 16)))
        keys.add(f"{rng.choice(COLLECTIONS)}/{rkey}")
    return sorted(keys)


def test_atmst_agrees_on_empty_tree() -> None:
    assert Atmst().root_str() == str(EMPTY_ROOT)


@pytest.mark.parametrize("seed", range(6))
def test_atmst_same_roots(seed: int) -> None:
    rng = random.Random(seed)
    keys = random_keys(rng, rng.randint(200, 400))
    pairs = {key: rng.choice(VALUES) for key in keys}
    peer = Atmst()
    for key in rng.sample(keys, len(keys)):
        peer.put(key, pairs[key])
    root, blocks = mst.build(pairs.items())
    assert str(root) == peer.root_str()
    # Shrink both trees in steps; the roots keep agreeing.
    doomed = rng.sample(keys, len(keys))
    for start in range(0, len(doomed), 60):
        batch = doomed[start : start + 60]
        for key in batch:
            peer.delete(key)
            del pairs[key]
        applied = mst.apply(blocks, root, [(key, None) for key in batch])
        blocks.update(applied.blocks)
        root = applied.root
        assert str(root) == peer.root_str()
        assert root == mst.build(pairs.items())[0]
    assert root == EMPTY_ROOT


def test_atmst_example_keys() -> None:
    keys = example_keys()
    peer = Atmst()
    for key in keys:
        peer.put(key, V)
    assert str(mst.build([(key, V) for key in keys])[0]) == peer.root_str()


# --- interop fixtures --------------------------------------------------------------------------

MST_FIXTURES = shared_path("interop", "mst")


def load_json_params(path: Path, ident: Callable[[dict[str, Any]], str]) -> list[Any]:
    if not path.is_file():
        return skipped_param(path)
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [pytest.param(entry, id=ident(entry)) for entry in entries]


@pytest.mark.parametrize(
    "case", load_json_params(MST_FIXTURES / "key_heights.json", lambda e: e["key"] or "empty")
)
def test_interop_key_height(case: dict[str, Any]) -> None:
    assert mst.key_height(case["key"]) == case["height"]
    assert mst.key_height(case["key"].encode()) == case["height"]
    assert reference.key_height(case["key"]) == case["height"]


def prefix_id(entry: dict[str, Any]) -> str:
    return f"{entry['left']!r}-{entry['right']!r}"


@pytest.mark.parametrize("case", load_json_params(MST_FIXTURES / "common_prefix.json", prefix_id))
def test_interop_common_prefix(case: dict[str, Any]) -> None:
    left, right = case["left"].encode(), case["right"].encode()
    assert reference.common_prefix_len(left, right) == case["len"]
    if left == right or not reference.is_valid_key("c/r" + case["left"] + case["right"]):
        return  # not two distinct MST keys (the rest checks the reference against them)
    # Two keys with these tails in the same node (a collection giving both height 0): the
    # second entry's `p` is the collection plus the shared length.
    for n in range(1000):
        stem = f"c{n}/r"
        keys = sorted([stem + case["left"], stem + case["right"]])
        if all(mst.key_height(key) == 0 for key in keys):
            break
    else:
        pytest.fail("no collection puts both keys at height 0")
    root, blocks = mst.build([(key, V) for key in keys])
    node = decode(blocks[root])
    assert [entry["p"] for entry in node["e"]] == [0, len(stem) + case["len"]]
    assert node["e"][1]["k"] == keys[1].encode()[len(stem) + case["len"] :]


def test_prefix_compression_is_per_node() -> None:
    # Within every node, `p` is the length shared with the previous entry of that node only.
    pairs = {key: V for key in POOL[:400] + DEEP}
    _, blocks = mst.build(pairs.items())
    compressed = 0
    for data in blocks.values():
        previous = b""
        for entry in decode(data)["e"]:
            key = previous[: entry["p"]] + entry["k"]
            assert entry["p"] == reference.common_prefix_len(previous, key)
            compressed += entry["p"] > 0
            previous = key
    assert compressed > 100


PROOF_FILES = {
    "interop": shared_path("interop", "firehose", "commit-proof-fixtures.json"),
    "indigo": shared_path(
        "testdata", "indigo", "atproto", "repo", "testdata", "commit-proof-fixtures.json"
    ),
}


def proof_fixtures() -> list[Any]:
    params: list[Any] = []
    for source, path in PROOF_FILES.items():
        if not path.is_file():
            params += skipped_param(path)
            continue
        for entry in json.loads(path.read_text(encoding="utf-8")):
            params.append(pytest.param(entry, id=f"{source}:{entry['comment']}"))
    return params


PROOF_CASES = proof_fixtures()


@pytest.mark.parametrize("source", PROOF_FILES)
def test_interop_commit_proof_fixtures_present(source: str) -> None:
    path = PROOF_FILES[source]
    if not path.is_file():
        pytest.skip(f"shared fixtures not found: {path} is missing")
    assert len([p for p in PROOF_CASES if p.id.startswith(f"{source}:")]) >= 6


@pytest.mark.parametrize("case", PROOF_CASES)
def test_interop_commit_proof(case: dict[str, Any]) -> None:
    leaf = CID.decode(case["leafValue"])
    before, after = CID.decode(case["rootBeforeCommit"]), CID.decode(case["rootAfterCommit"])
    root, blocks = mst.build([(key, leaf) for key in case["keys"]])
    assert root == before

    writes = [(key, leaf) for key in case["adds"]] + [(key, None) for key in case["dels"]]
    applied = mst.apply(blocks, root, writes)
    assert applied.root == after
    store = {**blocks, **applied.blocks}
    model = dict.fromkeys(case["keys"], leaf)
    model.update(dict.fromkeys(case["adds"], leaf))
    for key in case["dels"]:
        del model[key]
    ref_root, ref_blocks = reference.build(model)
    assert applied.root == ref_root
    assert applied.blocks == {c: d for c, d in ref_blocks.items() if c not in blocks}

    diff = mst.diff(store, root, after)
    expected = [RecordOp("create", key, leaf, None) for key in case["adds"]]
    expected += [RecordOp("delete", key, None, leaf) for key in case["dels"]]
    assert diff.ops == sorted(expected, key=lambda op: op.path)

    nodes = mst.proof_nodes(store, after, diff.ops)
    required = {CID.decode(cid) for cid in case["blocksInProof"]}
    assert required <= set(nodes)
    assert len(nodes) == len(set(nodes))
    assert nodes[0] == after

    # A consumer with only the proof nodes (ours, or the fixture's own list) can invert.
    proof = subset(store, nodes)
    assert mst.invert(proof, after, diff.ops) == before
    assert mst.invert(subset(store, sorted(required)), after, diff.ops) == before
    # Ops in any order give the same answer (inversion normalises them).
    assert mst.invert(proof, after, diff.ops[::-1]) == before

    # Without a node on a changed path, inversion cannot finish; without any other proof
    # node it either still finishes correctly or reports the gap, never a wrong root.
    changed = {after, *diff.new_nodes}
    for cid in nodes:
        partial = {c: d for c, d in proof.items() if c != cid}
        if cid in changed:
            assert verification_error(mst.invert, partial, after, diff.ops).code == (
                "incomplete_proof"
            )
        else:
            assert invert_outcome(partial, after, diff.ops) in (before, "incomplete_proof")


def invert_outcome(blocks: Blocks, root: CID, ops: list[RecordOp]) -> CID | str:
    """The root inversion gives, or the code of the error it raises."""
    try:
        return mst.invert(blocks, root, ops)
    except CommitVerificationError as err:
        return err.code


# --- random write batches against a dict model -------------------------------------------------

#: Few enough keys that writes collide; one key of each height up to 6, so deleting the top
#: key often leaves a gap of several layers (and entry-less nodes) below it.
MODEL_KEYS = POOL[:40] + [BY_HEIGHT[h][0] for h in range(1, 7)] + H1[1:3] + H2[1:2]
WRITES = st.lists(
    st.tuples(st.sampled_from(MODEL_KEYS), st.none() | st.sampled_from(VALUES[:3])),
    min_size=1,
    max_size=12,
)
BOUNDS = st.none() | st.sampled_from(MODEL_KEYS) | st.sampled_from(["a", "app.bsky.feed", "zz"])


def expected_items(
    model: Mapping[str, CID], start: str | None, end: str | None, reverse: bool, limit: int | None
) -> list[tuple[str, CID]]:
    keys = sorted(
        key for key in model if (start is None or key >= start) and (end is None or key < end)
    )
    if reverse:
        keys.reverse()
    if limit is not None:
        keys = keys[:limit]
    return [(key, model[key]) for key in keys]


def apply_to_model(model: dict[str, CID], writes: list[tuple[str, CID | None]]) -> list[RecordOp]:
    """Applies the writes to ``model``; the net op of each write (none for a no-op)."""
    ops = []
    for key, value in writes:
        current = model.get(key)
        if value is None:
            if current is not None:
                ops.append(RecordOp("delete", key, None, current))
                del model[key]
        elif current is None:
            ops.append(RecordOp("create", key, value, None))
            model[key] = value
        elif current != value:
            ops.append(RecordOp("update", key, value, current))
            model[key] = value
    return ops


def check_queries(blocks: Blocks, root: CID, model: Mapping[str, CID], data: st.DataObject) -> None:
    for key in [*data.draw(st.lists(st.sampled_from(MODEL_KEYS), max_size=4)), "zz/absent"]:
        assert mst.get(blocks, root, key) == model.get(key)
        value, nodes = mst.record_proof(blocks, root, key)
        assert value == model.get(key)
        assert nodes[0] == root
        proof = subset(blocks, nodes)
        assert mst.check_record_proof(proof, root, key) == model.get(key)
        if len(nodes) > 1:
            del proof[nodes[-1]]
            err = mst_error(mst.check_record_proof, proof, root, key)
            assert err.reason == "MST block not found"
    assert mst.items(blocks, root) == sorted(model.items())
    start, end = data.draw(BOUNDS), data.draw(BOUNDS)
    reverse = data.draw(st.booleans())
    limit = data.draw(st.none() | st.integers(min_value=0, max_value=8))
    assert mst.items(blocks, root, start=start, end=end, reverse=reverse, limit=limit) == (
        expected_items(model, start, end, reverse, limit)
    )


@given(
    contents(pool=MODEL_KEYS, max_size=30, extras=False),
    st.lists(WRITES, min_size=1, max_size=5),
    st.data(),
)
def test_random_batches_against_model(
    initial: dict[str, CID], batches: list[list[tuple[str, CID | None]]], data: st.DataObject
) -> None:
    model = dict(initial)
    root, store = stored(model)
    for batch in batches:
        # Often start by deleting the tallest key: the tree then loses one or more layers.
        writes = list(batch)
        if bool(model) and data.draw(st.booleans()):
            writes.insert(0, (max(model, key=reference.key_height), None))
        old_root, old_model = root, dict(model)
        old_ref_blocks = reference.build(old_model)[1]
        # The block source is either every block so far, or just the current tree.
        source = store if data.draw(st.booleans()) else dict(old_ref_blocks)
        source.setdefault(EMPTY_ROOT, encode(reference.EMPTY_NODE))
        snapshot = dict(source)

        applied = mst.apply(source, old_root, writes)
        assert source == snapshot  # nothing changed in place
        assert applied.ops == apply_to_model(model, writes)
        ref_root, ref_blocks = reference.build(model)
        assert applied.root == ref_root == mst.build(model.items())[0]
        assert applied.blocks == {c: d for c, d in ref_blocks.items() if c not in source}
        root = applied.root
        store.update(applied.blocks)

        check_queries(store, root, model, data)

        diff = mst.diff(store, old_root, root)
        assert diff.ops == model_diff(old_model, model)
        assert set(diff.new_nodes) == set(ref_blocks) - set(old_ref_blocks)
        assert set(diff.removed_nodes) == set(old_ref_blocks) - set(ref_blocks)
        assert len(diff.new_nodes) == len(set(diff.new_nodes))
        assert len(diff.removed_nodes) == len(set(diff.removed_nodes))
        back = mst.diff(store, root, old_root)
        assert back.ops == model_diff(model, old_model)
        assert (set(back.new_nodes), set(back.removed_nodes)) == (
            set(diff.removed_nodes),
            set(diff.new_nodes),
        )

        if diff.ops:
            nodes = mst.proof_nodes(store, root, diff.ops)
            assert set(diff.new_nodes) <= set(nodes)
            assert mst.invert(subset(store, nodes), root, diff.ops) == old_root


def test_diff_from_nothing_and_to_empty() -> None:
    pairs = {key: VALUES[i % 3] for i, key in enumerate(POOL[:120] + DEEP[:3])}
    root, blocks = stored(pairs)
    created = mst.diff(blocks, None, root)
    assert created.ops == model_diff({}, pairs)
    assert set(created.new_nodes) == set(blocks) - {EMPTY_ROOT}
    assert created.removed_nodes == []
    assert mst.diff(blocks, EMPTY_ROOT, root).ops == created.ops
    gone = mst.diff(blocks, root, EMPTY_ROOT)
    assert gone.ops == model_diff(pairs, {})
    assert set(gone.removed_nodes) == set(blocks) - {EMPTY_ROOT}
    assert mst.diff(blocks, root, root) == ([], [], [])


def test_diff_skips_shared_subtrees() -> None:
    # Only the changed path is read: the old tree's untouched nodes need not be present.
    pairs = {key: V for key in POOL[:300]}
    root, blocks = stored(pairs)
    applied = mst.apply(blocks, root, [(POOL[0], VALUES[1])])
    source = CountingStore({**blocks, **applied.blocks})
    diff = mst.diff(source, root, applied.root)
    assert diff.ops == [RecordOp("update", POOL[0], VALUES[1], V)]
    assert set(source.log) == set(diff.new_nodes) | set(diff.removed_nodes)
    assert len(diff.new_nodes) == len(diff.removed_nodes) == len(applied.blocks)
    assert len(source.log) < len(blocks) // 4


def test_put_and_delete() -> None:
    pairs = {key: V for key in POOL[:50]}
    root, blocks = stored(pairs)
    new_root, new_blocks = mst.put(blocks, root, "com.ex.rec/new", VALUES[2])
    assert new_root == reference.build({**pairs, "com.ex.rec/new": VALUES[2]})[0]
    assert (new_root, new_blocks) == mst.apply(blocks, root, [("com.ex.rec/new", VALUES[2])])[:2]
    blocks.update(new_blocks)
    assert mst.delete(blocks, new_root, "com.ex.rec/new") == (root, {})
    # Absent keys and same-value writes change nothing and report no op.
    assert mst.delete(blocks, root, "com.ex.rec/absent") == (root, {})
    assert mst.apply(blocks, root, [(POOL[0], V), ("x/y", None)]) == (root, {}, [])


def test_apply_returns_only_blocks_the_source_lacks() -> None:
    pairs = {key: V for key in POOL[:200]}
    root, blocks = stored(pairs)
    writes: list[tuple[str, CID | None]] = [(POOL[5], None), ("com.ex.rec/zzz", VALUES[1])]
    first = mst.apply(blocks, root, writes)
    assert first.blocks
    again = mst.apply({**blocks, **first.blocks}, root, writes)
    assert again == (first.root, {}, first.ops)
    some = dict(list(first.blocks.items())[:1])
    partial = mst.apply({**blocks, **some}, root, writes)
    assert partial.blocks == {c: d for c, d in first.blocks.items() if c not in some}


def test_apply_deep_growth_and_collapse() -> None:
    # Adding a key higher than the root grows the tree by several layers at once (with
    # entry-less nodes between); removing it collapses them again.
    pairs = {key: V for key in H0[:3] + H1[:2]}
    root, blocks = stored(pairs)
    top = BY_HEIGHT[6][0]
    grown = mst.apply(blocks, root, [(top, VALUES[1])])
    ref_root, ref_blocks = reference.build({**pairs, top: VALUES[1]})
    assert grown.root == ref_root
    assert grown.blocks == {c: d for c, d in ref_blocks.items() if c not in blocks}
    blocks.update(grown.blocks)
    shrunk = mst.apply(blocks, grown.root, [(top, None)])
    assert (shrunk.root, shrunk.blocks) == (root, {})
    emptied = mst.apply(blocks, root, [(key, None) for key in pairs])
    assert emptied.root == EMPTY_ROOT
    assert emptied.ops == [RecordOp("delete", key, None, V) for key in pairs]


def test_remove_key_layers_above_the_rest() -> None:
    # One height-0 key, then a height-4 key: the tree grows entry-less nodes at layers 3..1.
    # Removing the tall key again (by a delete, or by inverting its create) must collapse them
    # all, down to the one-key root.
    low, tall = H0[0], BY_HEIGHT[4][0]
    root, blocks = stored({low: V})
    grown = mst.apply(blocks, root, [(tall, VALUES[1])])
    assert grown.root == reference.build({low: V, tall: VALUES[1]})[0]
    blocks.update(grown.blocks)
    assert mst.delete(blocks, grown.root, tall) == (root, {})
    assert mst.invert(blocks, grown.root, grown.ops) == root
    proof = subset(blocks, mst.proof_nodes(blocks, grown.root, grown.ops))
    assert mst.invert(proof, grown.root, grown.ops) == root


# --- rejections --------------------------------------------------------------------------------

INVALID_KEYS = [
    "nokey",
    "a/b/c",
    "/b",
    "a/",
    "/",
    "",
    "a b/c",
    "a/b c",
    "a/é",
    "a/b\x00",
    "a/b?",
    "a/b#c",
    "coll/" + "k" * 1020,  # 1025 bytes
]


@pytest.mark.parametrize("key", INVALID_KEYS, ids=repr)
def test_invalid_keys(key: str) -> None:
    assert not mst.is_valid_key(key)
    assert not reference.is_valid_key(key)
    assert mst_error(lambda: mst.build([(key, V)])).reason == "invalid MST key"
    assert mst_error(lambda: mst.build([(POOL[0], V), (key, V)])).reason == "invalid MST key"
    root, blocks = stored({POOL[0]: V})
    assert mst_error(lambda: mst.apply(blocks, root, [(key, V)])).reason == "invalid MST key"
    assert mst_error(lambda: mst.put(blocks, root, key, V)).reason == "invalid MST key"
    assert mst_error(lambda: mst.apply(blocks, EMPTY_ROOT, [(key, V)])).reason == (
        "invalid MST key"
    )


def test_invalid_byte_keys() -> None:
    key: Any = b"a/\xff"
    assert not mst.is_valid_key(key)
    assert mst_error(lambda: mst.build([(key, V)])).reason == "invalid MST key"


def test_valid_key_edges() -> None:
    for key in ["a/b", "com.ex/3jui7kd54zh2y", "coll/rkey:with~chars-_.x", "c/" + "k" * 1022]:
        assert mst.is_valid_key(key)
        assert reference.is_valid_key(key)
        assert mst.build([(key, V)]) == reference.build({key: V})


def test_duplicate_keys() -> None:
    for pairs in (
        [("a/b", V), ("a/b", VALUES[1])],
        [("a/b", V), ("c/d", V), ("a/b", V)],
        [(POOL[3], V), (POOL[3].encode(), V)],
    ):
        assert mst_error(mst.build, pairs).reason == "duplicate MST key"


def entry(key: str | bytes, right: CID | None = None, p: int = 0, **extra: Any) -> dict[str, Any]:
    raw = key.encode() if isinstance(key, str) else key
    return {"k": raw[p:], "p": p, "t": right, "v": V, **extra}


def node(*entries: dict[str, Any], left: CID | None = None) -> dict[str, Any]:
    """A node of `entries`; those given with `p=0` after the first get the maximal prefix
    compression a canonical encoder uses, so each bad node breaks only the rule it targets."""
    out: list[dict[str, Any]] = []
    previous = b""
    for item in entries:
        fixed = dict(item)
        suffix, shared = fixed.get("k"), fixed.get("p")
        if isinstance(suffix, bytes) and isinstance(shared, int) and 0 <= shared <= len(previous):
            full = previous[:shared] + suffix
            if out and shared == 0:
                common = reference.common_prefix_len(previous, full)
                fixed["k"], fixed["p"] = full[common:], common
            previous = full
        out.append(fixed)
    return {"e": out, "l": left}


def put_block(blocks: Blocks, value: object, codec: str = "dag-cbor") -> CID:
    data = value if isinstance(value, bytes) else encode(value)
    cid = CID.compute(data, codec)
    blocks[cid] = data
    return cid


def valid_leaf(blocks: Blocks) -> CID:
    return put_block(blocks, node(entry(H0[0])))


MALFORMED = "malformed MST node"
PREFIX = "MST entry prefix longer than the previous key"
ORDER = "MST keys out of order"
LAYER = "MST key at the wrong layer"
EMPTY = "empty MST node where none is allowed"
LINK = "MST node link is not a DAG-CBOR CID"
MISSING = "MST block not found"
RAW_LINK = CID.compute(b"not a node", "raw")
Maker = Callable[[Blocks], CID]


def bad_root(value: object, codec: str = "dag-cbor") -> Maker:
    """A maker storing ``value`` (encoded unless bytes) as the root."""
    return lambda blocks: put_block(blocks, value, codec)


def leaf_below(build_root: Callable[[CID], object]) -> Maker:
    """A maker storing a valid layer-0 leaf, then the root ``build_root`` makes around it."""
    return lambda blocks: put_block(blocks, build_root(valid_leaf(blocks)))


def two_entries(first: str, second: dict[str, Any]) -> dict[str, Any]:
    return node(entry(first), second)


# Each maker puts a bad root node (and whatever it links to) into the blocks, returns the root.
BAD_ROOTS: list[tuple[str, Maker, str]] = [
    ("unknown-field", bad_root({"e": [], "l": None, "x": 1}), MALFORMED),
    ("missing-l", bad_root({"e": [entry(H0[0])]}), MALFORMED),
    ("missing-e", bad_root({"l": None}), MALFORMED),
    ("not-a-map", bad_root([entry(H0[0])]), MALFORMED),
    ("e-not-list", bad_root({"e": {}, "l": None}), MALFORMED),
    ("e-holds-int", bad_root({"e": [1], "l": None}), MALFORMED),
    ("l-bytes", bad_root({"e": [entry(H1[0])], "l": b"x"}), MALFORMED),
    ("k-text", bad_root(node(entry(H0[0]) | {"k": H0[0]})), MALFORMED),
    ("p-text", bad_root(node(entry(H0[0]) | {"p": "0"})), MALFORMED),
    ("p-negative", bad_root(node(entry(H0[0]) | {"p": -1})), MALFORMED),
    ("t-missing", bad_root(node({"k": H0[0].encode(), "p": 0, "v": V})), MALFORMED),
    ("t-int", bad_root(node(entry(H0[0]) | {"t": 0})), MALFORMED),
    ("v-null", bad_root(node(entry(H0[0]) | {"v": None})), MALFORMED),
    ("v-bytes", bad_root(node(entry(H0[0]) | {"v": bytes(V)})), MALFORMED),
    ("entry-extra-field", bad_root(node(entry(H0[0], x=1))), MALFORMED),
    ("first-prefix", bad_root(node(entry(H0[0]) | {"p": 1})), PREFIX),
    ("prefix", bad_root(two_entries("a/b", {"k": b"x", "p": 4, "t": None, "v": V})), PREFIX),
    ("keys-descending", bad_root(node(entry(H0[1]), entry(H0[0]))), ORDER),
    ("key-twice", bad_root(node(entry(H0[0]), entry(H0[0]))), ORDER),
    ("bad-key", bad_root(node(entry("nokey"))), "invalid MST key"),
    ("long-key", bad_root(node(entry("c/" + "k" * 1023))), "invalid MST key"),
    ("mixed-layers", bad_root(node(entry(H0[0]), entry(H1[0]))), LAYER),
    ("layer-0-left", leaf_below(lambda leaf: node(entry(H0[1]), left=leaf)), LAYER),
    ("layer-0-right", leaf_below(lambda leaf: node(entry(H0[1], right=leaf))), LAYER),
    ("entry-less-root", leaf_below(lambda leaf: node(left=leaf)), EMPTY),
    ("raw-left-link", bad_root(node(entry(H1[0]), left=RAW_LINK)), LINK),
    ("raw-right-link", bad_root(node(entry(H1[0], right=RAW_LINK))), LINK),
    ("raw-root", bad_root(node(entry(H0[0])), codec="raw"), LINK),
    ("root-missing", lambda blocks: CID.compute(encode(node(entry(H0[0])))), MISSING),
]


def h1_parent(child: Maker) -> Maker:
    """A valid layer-1 root whose left subtree is ``child``."""
    return lambda blocks: put_block(blocks, node(entry(H1[0]), left=child(blocks)))


def h2_parent(child: Maker) -> Maker:
    """A valid layer-2 root whose left subtree is ``child``."""
    return lambda blocks: put_block(blocks, node(entry(H2[0]), left=child(blocks)))


def chain(child: Maker) -> Maker:
    """An entry-less node whose left subtree is ``child``."""
    return lambda blocks: put_block(blocks, node(left=child(blocks)))


def missing(blocks: Blocks) -> CID:
    return CID.compute(encode(node(entry(H0[0]))))


# Bad nodes below a valid root (H0 keys sort before the parents' keys).
BAD_CHILDREN: list[tuple[str, Maker, str]] = [
    ("empty-child", h1_parent(bad_root(node())), EMPTY),
    ("child-at-parent-layer", h1_parent(bad_root(node(entry(H1[1])))), LAYER),
    ("child-skips-a-layer", h2_parent(bad_root(node(entry(H0[0])))), LAYER),
    ("entry-less-chain-too-long", h2_parent(chain(chain(valid_leaf))), LAYER),
    ("entry-less-chain-ends-empty", h2_parent(chain(bad_root(node()))), EMPTY),
    ("child-unknown-field", h1_parent(bad_root({"e": [], "l": None, "x": 1})), MALFORMED),
    ("child-k-text", h1_parent(bad_root(node(entry(H0[0]) | {"k": H0[0]}))), MALFORMED),
    ("child-prefix", h1_parent(bad_root(node(entry(H0[0]) | {"p": 2}))), PREFIX),
    ("child-keys-descending", h1_parent(bad_root(node(entry(H0[1]), entry(H0[0])))), ORDER),
    ("child-missing", h1_parent(missing), MISSING),
    ("grandchild-raw", h2_parent(bad_root(node(left=RAW_LINK))), LINK),
    ("grandchild-missing", h2_parent(chain(missing)), MISSING),
]


def name_ids(cases: list[tuple[str, Maker, str]]) -> list[Any]:
    return [pytest.param(make, reason, id=name) for name, make, reason in cases]


READERS: dict[str, Callable[[Blocks, CID], object]] = {
    "get": lambda b, r: mst.get(b, r, H0[0]),
    "items": mst.items,
    "items-reverse": lambda b, r: mst.items(b, r, reverse=True),
    "apply": lambda b, r: mst.apply(b, r, [(H0[0], VALUES[1])]),
    "diff": lambda b, r: mst.diff(b, None, r),
    "record_proof": lambda b, r: mst.record_proof(b, r, H0[0]),
    "check_record_proof": lambda b, r: mst.check_record_proof(b, r, H0[0]),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("make", "reason"), name_ids(BAD_ROOTS))
def test_bad_root(make: Maker, reason: str, reader: str) -> None:
    blocks: Blocks = {}
    root = make(blocks)
    assert mst_error(lambda: READERS[reader](blocks, root)).reason == reason


@pytest.mark.parametrize("reader", ["items", "items-reverse", "diff", "get", "apply"])
@pytest.mark.parametrize(("make", "reason"), name_ids(BAD_CHILDREN))
def test_bad_child(make: Maker, reason: str, reader: str) -> None:
    # H0[0] sorts before H1[0] and H2[0], so `get` and `apply` walk into the left subtree.
    assert H0[0] < H1[0]
    assert H0[0] < H2[0]
    blocks: Blocks = {}
    root = make(blocks)
    assert mst_error(lambda: READERS[reader](blocks, root)).reason == reason


def test_bad_child_shapes_are_distinct() -> None:
    # The hand-made parents are valid when their child is: the failures come from the child.
    blocks: Blocks = {}
    root = h1_parent(valid_leaf)(blocks)
    assert H0[0] < H1[0]
    assert mst.items(blocks, root) == [(H0[0], V), (H1[0], V)]
    assert root == mst.build([(H0[0], V), (H1[0], V)])[0]
    deep: Blocks = {}
    top = h2_parent(lambda b: put_block(b, node(left=valid_leaf(b))))(deep)
    assert top == mst.build([(H0[0], V), (H2[0], V)])[0]


def test_keys_out_of_order_across_nodes() -> None:
    # A left subtree holding a key above its parent's first key: each node is fine alone.
    high = LAST0
    low = min(H1)
    assert high > low
    blocks: Blocks = {}
    root = put_block(blocks, node(entry(low), left=put_block(blocks, node(entry(high)))))
    for reader in ("items", "items-reverse", "diff"):
        assert mst_error(READERS[reader], blocks, root).reason == "MST keys out of order"


def test_cbor_level_errors_are_decode_errors() -> None:
    # {"l": null, "e": []}: keys not in canonical order; and a truncated node.
    for data in (bytes.fromhex("a2616cf6616580"), bytes.fromhex("a2616580616c")):
        blocks: Blocks = {}
        root = put_block(blocks, data)
        for reader in READERS.values():
            with pytest.raises(DecodeError) as info:
                reader(blocks, root)
            assert not isinstance(info.value, MSTError)
        child_blocks: Blocks = {}
        parent = h1_parent(bad_root(data))(child_blocks)
        with pytest.raises(DecodeError) as info:
            mst.items(child_blocks, parent)
        assert not isinstance(info.value, MSTError)


def test_entry_less_root_rejected_by_diff() -> None:
    # The root must hold a key: an entry-less root that only links down is not a tree, for the
    # walking diff as for every other reader.
    blocks: Blocks = {}
    root = put_block(blocks, node(left=h1_parent(valid_leaf)(blocks)))
    assert mst_error(lambda: mst.diff(blocks, None, root)).reason == (
        "empty MST node where none is allowed"
    )
    good, good_blocks = stored({H0[0]: V})
    blocks.update(good_blocks)
    assert mst_error(lambda: mst.diff(blocks, good, root)).reason == (
        "empty MST node where none is allowed"
    )


def test_missing_nodes() -> None:
    pairs = {key: V for key in POOL[:200]}
    root, blocks = stored(pairs)
    assert mst_error(lambda: mst.get({}, root, POOL[0])).reason == "MST block not found"
    child = next(cid for cid in blocks if cid not in (root, EMPTY_ROOT))
    partial = {c: d for c, d in blocks.items() if c != child}
    assert mst_error(lambda: mst.items(partial, root)).reason == "MST block not found"
    assert mst_error(lambda: mst.diff(partial, None, root)).reason == "MST block not found"
    assert mst_error(lambda: mst.diff(partial, EMPTY_ROOT, root)).reason == "MST block not found"


# --- inversion failures ------------------------------------------------------------------------


def inverted_tree() -> tuple[CID, CID, Blocks, list[RecordOp]]:
    """An old root, a new root, every block, and the ops between them."""
    old = {key: V for key in POOL[:100]}
    old_root, blocks = stored(old)
    applied = mst.apply(
        blocks, old_root, [(POOL[3], None), (POOL[4], VALUES[1]), ("com.ex.rec/new", V)]
    )
    blocks.update(applied.blocks)
    return old_root, applied.root, blocks, applied.ops


def test_invert_round_trip() -> None:
    old_root, new_root, blocks, ops = inverted_tree()
    assert [op.action for op in ops] == ["delete", "update", "create"]
    assert mst.invert(blocks, new_root, ops) == old_root
    assert mst.invert(subset(blocks, mst.proof_nodes(blocks, new_root, ops)), new_root, ops) == (
        old_root
    )
    assert mst.invert(blocks, old_root, []) == old_root


@pytest.mark.parametrize(
    ("index", "change"),
    [
        (2, {"cid": VALUES[5]}),  # created key holds another CID
        (1, {"cid": VALUES[5]}),  # updated key holds another CID
        (1, {"prev": None}),  # update without prev
        (0, {"prev": None}),  # delete without prev
        (0, {"path": POOL[10]}),  # "deleted" key is still in the tree
        (2, {"path": "com.ex.rec/never"}),  # "created" key is not in the tree
    ],
)
def test_invert_mismatch(index: int, change: dict[str, Any]) -> None:
    _, new_root, blocks, ops = inverted_tree()
    ops[index] = ops[index]._replace(**change)
    err = verification_error(lambda: mst.invert(blocks, new_root, ops))
    assert err.code == "inversion_mismatch"


def test_invert_wrong_prev_gives_another_root() -> None:
    old_root, new_root, blocks, ops = inverted_tree()
    ops[0] = ops[0]._replace(prev=VALUES[6])
    assert mst.invert(blocks, new_root, ops) != old_root


def test_invert_duplicate_paths() -> None:
    _, new_root, blocks, ops = inverted_tree()
    for extra in (ops[2], RecordOp("delete", ops[2].path, None, V)):
        err = verification_error(mst.invert, blocks, new_root, [*ops, extra])
        assert err.code == "malformed"
        err = verification_error(mst.proof_nodes, blocks, new_root, [*ops, extra])
        assert err.code == "malformed"


def test_invert_without_the_root() -> None:
    old_root, new_root, blocks, ops = inverted_tree()
    partial = {c: d for c, d in blocks.items() if c != new_root}
    assert verification_error(lambda: mst.invert(partial, new_root, ops)).code == (
        "incomplete_proof"
    )
    assert old_root in partial


def test_invert_malformed_node_is_an_mst_error() -> None:
    blocks: Blocks = {}
    root = put_block(blocks, node(entry(H0[1]), entry(H0[0])))
    op = RecordOp("create", H0[0], V, None)
    assert mst_error(lambda: mst.invert(blocks, root, [op])).reason == "MST keys out of order"


# --- block sources -----------------------------------------------------------------------------


class CountingStore(Mapping[CID, Any]):
    """A read-only Mapping (not a dict) that logs every lookup."""

    def __init__(self, data: Mapping[CID, Any]) -> None:
        self.data = dict(data)
        self.log: list[CID] = []

    def __getitem__(self, cid: CID) -> Any:
        self.log.append(cid)
        return self.data[cid]

    def __iter__(self) -> Iterator[CID]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class LookupBoomError(Exception):
    pass


class ExplodingStore(CountingStore):
    """Raises :class:`LookupBoomError` on the lookup of one CID."""

    def __init__(self, data: Mapping[CID, bytes], bad: CID) -> None:
        super().__init__(data)
        self.bad = bad

    def get(self, cid: CID, default: Any = None) -> Any:
        if cid == self.bad:
            raise LookupBoomError(str(cid))
        return super().get(cid, default)


class SubDict(dict[CID, bytes]):
    pass


CALLS: dict[str, Callable[[Mapping[CID, Any], CID, CID, list[RecordOp]], object]] = {
    "get": lambda b, old, new, ops: mst.get(b, new, POOL[20]),
    "items": lambda b, old, new, ops: mst.items(b, new),
    "items-range": lambda b, old, new, ops: mst.items(
        b, new, start=POOL[10], end=POOL[40], reverse=True, limit=5
    ),
    "apply": lambda b, old, new, ops: mst.apply(
        b, new, [(POOL[21], None), ("com.ex.rec/more", VALUES[2])]
    ),
    "diff": lambda b, old, new, ops: mst.diff(b, old, new),
    "proof_nodes": lambda b, old, new, ops: mst.proof_nodes(b, new, ops),
    "invert": lambda b, old, new, ops: mst.invert(b, new, ops),
    "record_proof": lambda b, old, new, ops: mst.record_proof(b, new, POOL[20]),
    "check_record_proof": lambda b, old, new, ops: mst.check_record_proof(b, new, POOL[20]),
}


@pytest.mark.parametrize("call", CALLS)
def test_mapping_source(call: str) -> None:
    old_root, new_root, blocks, ops = inverted_tree()
    expected = CALLS[call](blocks, old_root, new_root, ops)
    store = CountingStore(blocks)
    assert not isinstance(store, dict)
    assert CALLS[call](store, old_root, new_root, ops) == expected
    assert store.log  # (apply also looks up the nodes it writes, to leave out known ones)
    assert CALLS[call](SubDict(blocks), old_root, new_root, ops) == expected


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("value", ["text", 42, 1.5])
def test_non_bytes_values(call: str, value: object) -> None:
    old_root, new_root, blocks, ops = inverted_tree()
    # The root, which every call reads, maps to a value that is not bytes.
    for source in ({**blocks, new_root: value}, CountingStore({**blocks, new_root: value})):
        with pytest.raises(TypeError):
            CALLS[call](source, old_root, new_root, ops)


def test_non_bytes_child_value() -> None:
    root, blocks = stored({key: V for key in POOL[:200]})
    child = next(cid for cid in blocks if cid not in (root, EMPTY_ROOT))
    for value in ("text", 1.5, None):
        source: dict[CID, Any] = {**blocks, child: value}
        with pytest.raises(TypeError):
            mst.items(source, root)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("where", ["root", "below-root"])
def test_lookup_error_propagates(call: str, where: str) -> None:
    old_root, new_root, blocks, ops = inverted_tree()
    bad = new_root
    if where == "below-root":
        # The last node the call reads when all is well.
        probe = CountingStore(blocks)
        CALLS[call](probe, old_root, new_root, ops)
        below = [cid for cid in probe.log if cid != new_root]
        assert below, "the call reads only the root"
        bad = below[-1]
    with pytest.raises(LookupBoomError, match=str(bad)):
        CALLS[call](ExplodingStore(blocks, bad), old_root, new_root, ops)


# --- canonical form and the empty tree ---------------------------------------------------------


def test_prefix_compression_must_be_maximal() -> None:
    blocks: Blocks = {}
    first, second = H0[0].encode(), H0[1].encode()
    shared = reference.common_prefix_len(first, second)
    assert shared > 0
    # The second entry repeats shared bytes in its suffix instead of counting them in `p`.
    loose = {"e": [entry(first), {"k": second[1:], "p": 1, "t": None, "v": V}], "l": None}
    root = put_block(blocks, loose)
    with pytest.raises(MSTError) as info:
        mst.items(blocks, root)
    assert info.value.reason == (
        "MST entry prefix shorter than the bytes shared with the previous key"
    )
    canonical = put_block(blocks, node(entry(first), entry(second)))
    assert [k for k, _ in mst.items(blocks, canonical)] == [H0[0], H0[1]]


def test_the_empty_tree_needs_no_block() -> None:
    empty: dict[CID, bytes] = {}
    assert mst.get(empty, EMPTY_ROOT, H0[0]) is None
    assert mst.items(empty, EMPTY_ROOT) == []
    applied = mst.apply(empty, EMPTY_ROOT, [(H0[0], V)])
    assert applied.root == mst.build([(H0[0], V)])[0]
    assert [op.action for op in applied.ops] == ["create"]
    diff = mst.diff(applied.blocks, EMPTY_ROOT, applied.root)
    assert diff.removed_nodes == [EMPTY_ROOT]
    back = mst.apply(applied.blocks, applied.root, [(H0[0], None)])
    assert back.root == EMPTY_ROOT
    assert back.blocks == {EMPTY_ROOT: encode(reference.EMPTY_NODE)}


def test_delete_checks_the_key() -> None:
    root, blocks = stored({H0[0]: V})
    for bad in ("nokey", "a/b/c", "", "a/" + "k" * 1023):
        with pytest.raises(MSTError) as info:
            mst.delete(blocks, root, bad)
        assert info.value.reason == "invalid MST key"
