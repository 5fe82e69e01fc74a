"""Build a synthetic atproto repo as a CAR v1 file for the benchmarks.

This module owns ``benches/data/repo.car``: ~100k records from ``records.py`` (single-author
mix, fixed seed) in a Merkle Search Tree, plus a version-3 commit block as the CAR root. The
commit is unsigned-looking (``sig`` is 64 zero bytes); nothing here is meant to verify as a
real account.

The MST is built with the peer libraries atmst (tree operations) and cbrrr (DAG-CBOR), which
are bench-only dependencies until strato has its own MST. Blocks are written in the
"streamable" order: commit, then the MST pre-order (node, left subtree, then for each entry
its record block and right subtree).

Usage: ``python benches/make_repo_car.py [--count 100000] [--out benches/data/repo.car]``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import cbrrr
import records
from atmst.blockstore import MemoryBlockStore
from atmst.blockstore.car_file import ReadOnlyCARBlockStore
from atmst.mst.node import MSTNode
from atmst.mst.node_store import NodeStore
from atmst.mst.node_walker import NodeWalker
from atmst.mst.node_wrangler import NodeWrangler
from tqdm import tqdm

DEFAULT_COUNT = 100_000
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "repo.car"

Block = tuple[bytes, bytes]  # (binary CID, block data)


def _cid_of(data: bytes) -> Any:
    return cbrrr.CID.cidv1_dag_cbor_sha256_32_from(data)


def varint(n: int) -> bytes:
    """Unsigned LEB128, as CAR section lengths use."""
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


class RepoBuilder:
    """Accumulates record blocks and the MST; ``commit()`` makes the root block."""

    def __init__(self, seed: int) -> None:
        self.store = MemoryBlockStore()
        self.nodes = NodeStore(self.store)
        self.wrangler = NodeWrangler(self.nodes)
        self.root: Any = self.nodes.get_node(None).cid
        self.record_blocks: dict[bytes, bytes] = {}
        rng = random.Random(seed)
        self.did = "did:plc:" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz234567", k=24))
        self.rev = records.tid_string(1_725_148_800_000_000 + rng.randrange(10**12), 0)

    def add(self, path: str, value: records.Record) -> None:
        data = cbrrr.encode_dag_cbor(value)
        cid = _cid_of(data)
        self.record_blocks[bytes(cid)] = data
        self.root = self.wrangler.put_record(self.root, path, cid)

    def commit(self) -> Block:
        commit = {
            "did": self.did,
            "version": 3,
            "data": self.root,
            "rev": self.rev,
            "prev": None,
            "sig": bytes(64),
        }
        data = cbrrr.encode_dag_cbor(commit)
        return bytes(_cid_of(data)), data

    def walk(self, node_cid: Any = None) -> Iterator[Block]:
        """MST node and record blocks reachable from ``node_cid`` (default: the root),
        in streamable pre-order. Nodes left over from earlier insertions are skipped."""
        cid = self.root if node_cid is None else node_cid
        data = self.store.get_block(bytes(cid))
        yield bytes(cid), data
        node = MSTNode.deserialise(data)
        if node.subtrees[0] is not None:
            yield from self.walk(node.subtrees[0])
        for value, subtree in zip(node.vals, node.subtrees[1:], strict=True):
            yield bytes(value), self.record_blocks[bytes(value)]
            if subtree is not None:
                yield from self.walk(subtree)


def build_repo(
    count: int, seed: int = records.DEFAULT_SEED, *, progress: bool = True
) -> RepoBuilder:
    """Insert ``count`` generated records into a fresh MST."""
    builder = RepoBuilder(seed)
    recs = records.iter_records(count, seed, cbrrr.CID, single_repo=True)
    for rec in tqdm(recs, total=count, desc="mst insert", unit="rec", disable=not progress):
        builder.add(rec.path, rec.value)
    return builder


def repo_blocks(builder: RepoBuilder) -> tuple[bytes, list[Block]]:
    """Root CID and every block of the repo: the commit first, then the MST walk."""
    commit_cid, commit_data = builder.commit()
    return commit_cid, [(commit_cid, commit_data), *builder.walk()]


def write_car(out: BinaryIO, root: bytes, blocks: list[Block], progress: bool) -> int:
    """Write a CAR v1 with one root; duplicate blocks are written once. Returns block count."""
    header = cbrrr.encode_dag_cbor({"roots": [cbrrr.CID(root)], "version": 1})
    out.write(varint(len(header)) + header)
    seen: set[bytes] = set()
    for cid, data in tqdm(blocks, desc="write car", unit="blk", disable=not progress):
        if cid in seen:
            continue
        seen.add(cid)
        out.write(varint(len(cid) + len(data)) + cid + data)
    return len(seen)


def build_repo_car(
    count: int, seed: int = records.DEFAULT_SEED, *, progress: bool = False
) -> bytes:
    """The whole CAR in memory (``compare.py --quick`` uses this for small repos)."""
    root, blocks = repo_blocks(build_repo(count, seed, progress=progress))
    buf = io.BytesIO()
    write_car(buf, root, blocks, progress)
    return buf.getvalue()


def verify_car(path: Path, count: int, progress: bool) -> None:
    """Re-read the CAR with atmst: every record reachable, in key order, hashes intact."""
    with path.open("rb") as f:
        store = ReadOnlyCARBlockStore(f)
        commit = cast(
            "dict[str, Any]", cbrrr.decode_dag_cbor(store.get_block(bytes(store.car_root)))
        )
        walker = NodeWalker(NodeStore(store), commit["data"])
        seen = 0
        previous = ""
        for key, value in tqdm(
            walker.iter_kv(), total=count, desc="verify", unit="rec", disable=not progress
        ):
            block = store.get_block(bytes(value))
            if hashlib.sha256(block).digest() != bytes(value)[4:] or key <= previous:
                raise SystemExit(f"verify failed at {key}")
            previous = key
            seen += 1
    if seen != count:
        raise SystemExit(f"verify failed: {seen} records reachable, expected {count}")
    print(f"verified: {seen} records reachable from {commit['data'].encode()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="records in the repo")
    parser.add_argument("--seed", type=int, default=records.DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--verify", action="store_true", help="re-read the CAR with atmst")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    progress = not args.no_progress
    builder = build_repo(args.count, args.seed, progress=progress)
    root, blocks = repo_blocks(builder)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as out:
        n_blocks = write_car(out, root, blocks, progress)
    size = args.out.stat().st_size
    print(f"wrote {args.out}: {n_blocks} blocks ({args.count} records), {size} bytes")
    print(f"  root {cbrrr.CID(root).encode()} (did {builder.did}, rev {builder.rev})")
    if args.verify:
        verify_car(args.out, args.count, progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
