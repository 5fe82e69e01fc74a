"""A slow, obviously-correct Merkle Search Tree, written from the spec as an oracle for
``strato.repo.mst`` (spec digest §5.3; nothing here comes from another implementation).

- :func:`key_height`: SHA-256 of the key, leading zero bits counted one by one, halved.
- :func:`build`: the tree of a key -> CID mapping, built recursively from the sorted keys. The
  node at layer ``L`` holds the keys of height ``L`` in its range; each run of lower keys between
  them (and before the first) becomes a subtree one layer down, even when that subtree holds no
  key of its own layer (an entry-less node that only links down). Nodes are plain dicts encoded
  with ``strato.dagcbor.encode``, their CIDs from ``strato.CID.compute``.
- :func:`read_tree`: the key -> CID mapping of a stored tree, checking every rule of the spec on
  the way (exact node shape, prefix compression, layers, key order, no empty nodes), so tests can
  check a tree's structure without trusting the code under test.

Everything here favours being plainly right over being fast: heights are recomputed, slices are
copied, and nothing is cached.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from typing import Any

from strato import CID
from strato.dagcbor import decode, encode

Node = dict[str, Any]

#: The empty tree's only node.
EMPTY_NODE: Node = {"e": [], "l": None}


def key_height(key: str | bytes) -> int:
    """The layer of ``key``: the number of leading zero bits of SHA-256(key), halved."""
    data = key.encode() if isinstance(key, str) else key
    bits = "".join(f"{byte:08b}" for byte in hashlib.sha256(data).digest())
    zeros = len(bits) - len(bits.lstrip("0"))
    return zeros // 2


def common_prefix_len(a: bytes, b: bytes) -> int:
    """How many leading bytes ``a`` and ``b`` share."""
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def is_valid_key(key: str) -> bool:
    """``collection/rkey`` with characters from ``[A-Za-z0-9._~:-]``, at most 1024 bytes."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~:-")
    parts = key.split("/")
    return (
        len(key.encode()) <= 1024
        and len(parts) == 2
        and all(part and set(part) <= allowed for part in parts)
    )


class _Builder:
    """Builds the nodes of one tree, collecting every block it writes."""

    def __init__(self) -> None:
        self.blocks: dict[CID, bytes] = {}

    def store(self, node: Node) -> CID:
        data = encode(node)
        cid = CID.compute(data)
        self.blocks[cid] = data
        return cid

    def subtree(self, items: list[tuple[bytes, CID]], layer: int) -> CID | None:
        """The node at ``layer`` holding ``items`` (all lower than the parent), or None."""
        if not items:
            return None
        assert layer >= 0, "a key sits below layer 0"
        return self.store(self.node(items, layer))

    def node(self, items: list[tuple[bytes, CID]], layer: int) -> Node:
        """The node at ``layer`` for ``items`` (sorted; every height <= ``layer``)."""
        here = [i for i, (key, _) in enumerate(items) if key_height(key) == layer]
        # Gap j holds the items strictly between this layer's keys j - 1 and j.
        bounds = [-1, *here, len(items)]
        gaps = [items[a + 1 : b] for a, b in itertools.pairwise(bounds)]
        entries = []
        previous = b""
        for index, gap in zip(here, gaps[1:], strict=True):
            key, value = items[index]
            shared = common_prefix_len(previous, key)
            entries.append(
                {"k": key[shared:], "p": shared, "t": self.subtree(gap, layer - 1), "v": value}
            )
            previous = key
        return {"e": entries, "l": self.subtree(gaps[0], layer - 1)}


def build(pairs: Mapping[str, CID]) -> tuple[CID, dict[CID, bytes]]:
    """The root CID and every node of the tree holding ``pairs``."""
    builder = _Builder()
    items = sorted((key.encode(), value) for key, value in pairs.items())
    if not items:
        return builder.store(EMPTY_NODE), builder.blocks
    top = max(key_height(key) for key, _ in items)
    return builder.store(builder.node(items, top)), builder.blocks


def decode_node(data: bytes) -> tuple[CID | None, list[tuple[bytes, CID, CID | None, int]]]:
    """A node's left link and its entries as ``(full key, value, right link, p)``."""
    node = decode(data)
    assert isinstance(node, dict)
    assert set(node) == {"e", "l"}, f"node fields {sorted(node)}"
    entries = []
    previous = b""
    for entry in node["e"]:
        assert set(entry) == {"k", "p", "t", "v"}, f"entry fields {sorted(entry)}"
        assert isinstance(entry["k"], bytes)
        assert isinstance(entry["p"], int)
        assert isinstance(entry["v"], CID)
        assert entry["p"] <= len(previous)
        key = previous[: entry["p"]] + entry["k"]
        entries.append((key, entry["v"], entry["t"], entry["p"]))
        previous = key
    return node["l"], entries


def read_tree(blocks: Mapping[CID, bytes], root: CID) -> dict[str, CID]:
    """The contents of the tree at ``root``, asserting every structural rule on the way."""
    root_left, root_entries = decode_node(blocks[root])
    if not root_entries:
        assert root_left is None, "an entry-less root that links down"
        assert CID.compute(blocks[root]) == root
        return {}
    out: list[tuple[bytes, CID]] = []
    _walk(blocks, root, key_height(root_entries[0][0]), out)
    keys = [key for key, _ in out]
    assert all(a < b for a, b in itertools.pairwise(keys)), "keys out of order"
    return {key.decode(): value for key, value in out}


def _walk(blocks: Mapping[CID, bytes], cid: CID, layer: int, out: list[tuple[bytes, CID]]) -> None:
    assert cid.codec == CID.DAG_CBOR
    data = blocks[cid]
    assert CID.compute(data) == cid
    left, entries = decode_node(data)
    assert entries or left is not None, "an empty node below the root"
    previous = b""
    for key, _, _, shared in entries:
        assert key_height(key) == layer, f"{key!r} at layer {layer}"
        assert shared == common_prefix_len(previous, key), "prefix compression not maximal"
        assert previous < key, "keys out of order in a node"
        previous = key
    links = [left, *(right for _, _, right, _ in entries)]
    if layer == 0:
        assert all(link is None for link in links), "a layer-0 node with children"
    for position, link in enumerate(links):
        if link is not None:
            _walk(blocks, link, layer - 1, out)
        if position < len(entries):
            key, value, _, _ = entries[position]
            out.append((key, value))
