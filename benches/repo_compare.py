"""Compare strato's repositories and whole-event verification with peers, in one process.

This module owns the Python-side comparison for repositories (the Rust criterion bench
``benches/repo.rs`` measures the core underneath). On one generated single-account repo of N
records (``records.py``: posts, likes, follows and reposts keyed ``collection/<TID>``, plus the
profile) it times:

1. MST build of the N keys: strato ``mst.build`` against atmst inserting them one by one
   (``NodeWrangler.put_record``; atmst has no bulk build);
2. a batch of 200 writes (100 creates, 60 updates, 40 deletes): strato ``mst.apply`` in one call
   against atmst's ``put_record``/``del_record`` one by one;
3. the diff of the trees before and after those writes: ``mst.diff`` against atmst's
   ``mst_diff`` + ``record_diff``;
4. the repo as a CAR (signed commit, every MST node, every record): strato ``write_car``, then
   ``read_car(verify=True)`` against libipld ``decode_car`` (which checks no hashes and decodes
   every block);
5. whole ``#commit`` verification of events made the way a PDS makes them (1 to 5 creates or
   updates each; changed and proof nodes, records, signed commit; the payload as a frame body):
   strato ``verify_commit_event`` one at a time, against a peer pipeline of libipld (frame and
   CAR decode), hashlib (every block's hash, blocks sliced from the CAR by a small varint reader
   since libipld returns only decoded blocks), libipld re-encoding the unsigned commit and
   coincurve verifying it (key preloaded, signature converted to DER per event) with no MST
   inversion; the bare ``PublicKey.verify`` of the same commits; and ``verify_commit_events``
   on every core.

Each timing is the best and median of several runs with the garbage collector disabled; ratios
are "peer time / strato time" per item (> 1: strato is faster) against the first strato row of
the operation. Every row has a correctness flag (same roots, same changes, same blocks, every
event accepted and a tampered one rejected by its hash check); the script exits non-zero if one
is false. It refuses to run on a strato debug build unless ``--allow-debug`` is given.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cbrrr
import libipld
import records
from atmst.blockstore import MemoryBlockStore
from atmst.mst.diff import mst_diff, record_diff
from atmst.mst.node_store import NodeStore
from atmst.mst.node_wrangler import NodeWrangler
from benchlib import (
    Goal,
    Row,
    add_run_flags,
    build_profile,
    car_sections,
    environment,
    goal_table,
    links_as_bytes,
    measure,
    refuse_debug,
    scan_car,
    table,
)
from coincurve import PublicKey as CoincurvePublicKey
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from strato import CID, car, dagcbor
from strato.crypto import PrivateKey, PublicKey
from strato.errors import CommitVerificationError
from strato.repo import mst
from strato.repo.commit import decode_commit, next_rev, sign_commit
from strato.sync import CommitItem, verify_commit_event, verify_commit_events

PACKAGES = ("strato", "atmst", "cbrrr", "libipld", "coincurve")
CREATES, UPDATES, DELETES = 100, 60, 40
WRITES = CREATES + UPDATES + DELETES
MAX_EVENT_WRITES = 5
#: atmst builds the tree one key at a time in pure Python (about 15 s for 100k keys): above
#: this many keys it is timed once.
ATMST_BUILD_ONCE_ABOVE = 20_000

BUILD = "MST build"
APPLY = f"MST apply {WRITES} writes"
DIFF = "MST diff (before/after the writes)"
CAR_WRITE = "repo CAR write"
CAR_READ = "repo CAR read"
VERIFY_ONE = "#commit verify (one at a time)"
PEER = "libipld+hashlib+coincurve"
BARE_NOTE = "PublicKey.verify(unsigned commit, sig) only"
UNSIGNED_NOTE = "did_key=None: every check but the signature"


# -- data -------------------------------------------------------------------------------------


@dataclass
class Repo:
    """The generated repo: sorted ``(path, record CID)`` pairs, the record blocks, and new
    records (not in the repo) for the writes and the events."""

    pairs: list[tuple[str, CID]]
    record_blocks: dict[CID, bytes]
    fresh: list[tuple[str, CID, bytes]]


def generate_repo(count: int, fresh: int, seed: int) -> Repo:
    pairs: list[tuple[str, CID]] = []
    blocks: dict[CID, bytes] = {}
    extra: list[tuple[str, CID, bytes]] = []
    for i, rec in enumerate(
        records.iter_records(count + fresh, seed, CID.decode, single_repo=True)
    ):
        data = dagcbor.encode(rec.value)
        cid = CID.compute(data)
        if i < count:
            pairs.append((rec.path, cid))
            blocks[cid] = data
        else:
            extra.append((rec.path, cid, data))
    pairs.sort()
    return Repo(pairs, blocks, extra)


def peer_cid(cid: CID) -> Any:
    """The same link as atmst takes it (cbrrr's CID)."""
    return cbrrr.CID(bytes(cid))


def change_set(
    changes: Sequence[tuple[str, Any, Any]],
) -> set[tuple[str, bytes | None, bytes | None]]:
    """``(path, old, new)`` triples with links as binary CIDs (None: absent)."""
    return {
        (path, None if old is None else bytes(old), None if new is None else bytes(new))
        for path, old, new in changes
    }


# -- MST: build, apply, diff ------------------------------------------------------------------


@dataclass
class AtmstTree:
    """atmst's block store and the root of the tree it holds."""

    store: Any
    root: Any


def atmst_build(pairs: Sequence[tuple[str, Any]]) -> AtmstTree:
    store = MemoryBlockStore()
    nodes = NodeStore(store)
    wrangler = NodeWrangler(nodes)
    root = nodes.get_node(None).cid
    for key, value in pairs:
        root = wrangler.put_record(root, key, value)
    return AtmstTree(store, root)


def atmst_apply(tree: AtmstTree, writes: Sequence[tuple[str, Any]]) -> Any:
    """The writes one by one, from a fresh node cache (strato reads every node from the block
    mapping too); new nodes go to the same block store (putting a block twice is a no-op)."""
    wrangler = NodeWrangler(NodeStore(tree.store))
    root = tree.root
    for key, value in writes:
        if value is None:
            root = wrangler.del_record(root, key)
        else:
            root = wrangler.put_record(root, key, value)
    return root


def atmst_changes(store: Any, old_root: Any, new_root: Any) -> list[tuple[str, Any, Any]]:
    nodes = NodeStore(store)
    created, deleted = mst_diff(nodes, old_root, new_root)
    return [
        (delta.path, delta.prior_value, delta.later_value)
        for delta in record_diff(nodes, created, deleted)
    ]


@dataclass
class MstState:
    """The trees the later sections start from."""

    root: CID
    nodes: dict[CID, bytes]
    atmst: AtmstTree


def mst_rows(repo: Repo, seed: int, repeat: int) -> tuple[list[Row], MstState]:
    pairs = repo.pairs
    count = len(pairs)
    root, nodes = mst.build(pairs)
    rows = [Row(BUILD, "strato", measure(lambda: mst.build(pairs), count, repeat), None)]

    peer_pairs = [(key, peer_cid(value)) for key, value in pairs]
    built: list[AtmstTree] = []
    peer_repeat = 1 if count > ATMST_BUILD_ONCE_ABOVE else repeat
    timing = measure(lambda: built.append(atmst_build(peer_pairs)), count, peer_repeat)
    tree = built[-1]
    same_root = bytes(tree.root) == bytes(root)
    note = "put_record one by one (no bulk build)"
    if peer_repeat == 1:
        note += "; timed once (repeat 1)"
    rows.append(Row(BUILD, "atmst", timing, same_root, note))
    rows[0] = Row(BUILD, "strato", rows[0].timing, same_root, "same root as atmst")

    # 100 creates (new TIDs), 60 updates and 40 deletes of existing keys, interleaved.
    rng = random.Random(f"{seed}-writes")
    chosen = rng.sample([key for key, _ in pairs], UPDATES + DELETES)
    fresh = repo.fresh[: CREATES + UPDATES]
    writes: list[tuple[str, CID | None]] = [(path, cid) for path, cid, _ in fresh[:CREATES]]
    writes += [
        (key, cid) for key, (_, cid, _) in zip(chosen[:UPDATES], fresh[CREATES:], strict=True)
    ]
    writes += [(key, None) for key in chosen[UPDATES:]]
    rng.shuffle(writes)
    peer_writes = [(key, None if value is None else peer_cid(value)) for key, value in writes]

    before = dict(pairs)
    after = dict(pairs)
    for key, value in writes:
        if value is None:
            del after[key]
        else:
            after[key] = value
    expected_root, _ = mst.build(after.items())

    applied = mst.apply(nodes, root, writes)
    peer_root = atmst_apply(tree, peer_writes)
    same_new_root = bytes(applied.root) == bytes(peer_root) == bytes(expected_root)
    rows += [
        Row(
            APPLY,
            "strato",
            measure(lambda: mst.apply(nodes, root, writes), WRITES, repeat),
            same_new_root,
            "one call; root = build of the result",
        ),
        Row(
            APPLY,
            "atmst",
            measure(lambda: atmst_apply(tree, peer_writes), WRITES, repeat),
            same_new_root,
            "put/del_record one by one",
        ),
    ]

    expected = change_set(
        [(key, before.get(key), after.get(key)) for key in before.keys() | after.keys()]
    )
    expected = {change for change in expected if change[1] != change[2]}
    both = {**nodes, **applied.blocks}
    ours = mst.diff(both, root, applied.root)
    ours_ok = change_set([(op.path, op.prev, op.cid) for op in ours.ops]) == expected
    theirs_ok = change_set(atmst_changes(tree.store, tree.root, peer_root)) == expected
    changes = len(expected)
    rows += [
        Row(
            DIFF,
            "strato",
            measure(lambda: mst.diff(both, root, applied.root), changes, repeat),
            ours_ok,
            "per changed record",
        ),
        Row(
            DIFF,
            "atmst",
            measure(lambda: atmst_changes(tree.store, tree.root, peer_root), changes, repeat),
            theirs_ok,
            "mst_diff + record_diff",
        ),
    ]
    return rows, MstState(root, nodes, tree)


# -- repo CAR ---------------------------------------------------------------------------------


def car_rows(
    repo: Repo, state: MstState, key: PrivateKey, did: str, repeat: int
) -> tuple[list[Row], int]:
    commit_cid, commit_bytes = sign_commit(did, next_rev(), state.root, key)
    blocks = [(commit_cid, commit_bytes), *state.nodes.items(), *repo.record_blocks.items()]
    expected = {bytes(cid): data for cid, data in blocks}
    n = len(expected)
    roots = [commit_cid]

    data = car.write_car(roots, blocks)
    header, scanned = scan_car(data)
    write_ok = scanned == expected and dagcbor.decode(header)["roots"] == roots

    got_roots, got = car.read_car(data, verify=True)
    read_ok = got_roots == roots and {bytes(c): b for c, b in got.items()} == expected

    peer_header, peer_blocks = libipld.decode_car(data)
    decoded = {cid: links_as_bytes(dagcbor.decode(block)) for cid, block in expected.items()}
    peer_ok = peer_header["roots"] == [bytes(commit_cid)] and peer_blocks == decoded

    rows = [
        Row(
            CAR_WRITE, "strato", measure(lambda: car.write_car(roots, blocks), n, repeat), write_ok
        ),
        Row(
            CAR_READ,
            "strato",
            measure(lambda: car.read_car(data, verify=True), n, repeat),
            read_ok,
            "verify=True",
        ),
        Row(
            CAR_READ,
            "libipld",
            measure(lambda: libipld.decode_car(data), n, repeat),
            peer_ok,
            "no hash check; decodes blocks",
        ),
    ]
    return rows, len(data)


# -- #commit events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One ``#commit`` as a frame body, what the consumer knows before it, and its commit's
    signed bytes and signature (for the bare signature rate)."""

    frame: bytes
    prev_rev: str
    prev_data: CID
    unsigned: bytes
    sig: bytes
    writes: int
    blocks: int


def make_events(
    repo: Repo, state: MstState, key: PrivateKey, did: str, *, count: int, seed: int
) -> list[Event]:
    """``count`` consecutive commits of 1 to 5 creates or updates, made as a PDS makes them:
    the changed and proof nodes (sync 1.1), the new records and the signed commit in the CAR."""
    rng = random.Random(f"{seed}-events")
    blocks = dict(state.nodes)
    root, rev = state.root, next_rev()
    keys = [path for path, _ in repo.pairs]
    fresh = iter(repo.fresh[CREATES + UPDATES :])
    events = []
    for seq in range(1, count + 1):
        writes: list[tuple[str, CID | None]] = []
        record_blocks: list[tuple[CID, bytes]] = []
        for _ in range(rng.randint(1, MAX_EVENT_WRITES)):
            path, cid, data = next(fresh)
            if rng.random() < 0.3:  # an update of an existing record
                path = rng.choice(keys)
                if any(path == written for written, _ in writes):
                    continue
            else:
                keys.append(path)
            writes.append((path, cid))
            record_blocks.append((cid, data))
        applied = mst.apply(blocks, root, writes)
        blocks.update(applied.blocks)
        proof = mst.proof_nodes(blocks, applied.root, applied.ops)
        new_rev = next_rev(rev)
        commit_cid, commit_bytes = sign_commit(did, new_rev, applied.root, key)
        car_blocks = [(commit_cid, commit_bytes), *((cid, blocks[cid]) for cid in proof)]
        car_blocks += record_blocks
        payload = {
            "seq": seq,
            "rebase": False,
            "tooBig": False,
            "repo": did,
            "commit": commit_cid,
            "rev": new_rev,
            "since": rev,
            "blocks": car.write_car([commit_cid], car_blocks),
            "ops": [
                {"action": op.action, "path": op.path, "cid": op.cid}
                | ({"prev": op.prev} if op.prev is not None else {})
                for op in applied.ops
            ],
            "blobs": [],
            "prevData": root,
            "time": "2026-11-24T00:00:00.000Z",
        }
        commit = decode_commit(commit_bytes)
        frame = dagcbor.encode(payload)
        events.append(
            Event(frame, rev, root, commit.unsigned, commit.sig, len(writes), len(car_blocks))
        )
        root, rev = applied.root, new_rev
    return events


def tampered(event: Event) -> Event:
    """``event`` with one byte of a record block changed (a digit of its ``createdAt``), so the
    CAR and the record still decode but the block's hash no longer matches its CID."""
    payload = dagcbor.decode(event.frame)
    assert isinstance(payload, dict)
    blocks = bytearray(payload["blocks"])
    # The first "createdAt" is in a record (commit and MST nodes have none); skip the key, the
    # value's 2-byte header and 22 characters of "YYYY-MM-DDTHH:MM:SS.mmmZ".
    pos = blocks.index(b"createdAt") + len(b"createdAt") + 2 + 22
    assert chr(blocks[pos]).isdigit()
    blocks[pos] = ord("0") + (blocks[pos] - ord("0") + 1) % 10
    payload["blocks"] = bytes(blocks)
    return Event(
        dagcbor.encode(payload),
        event.prev_rev,
        event.prev_data,
        event.unsigned,
        event.sig,
        event.writes,
        event.blocks,
    )


def peer_verify(frame: bytes, public: CoincurvePublicKey, prev_data: bytes) -> str:
    """The peer pipeline: "ok", or why the event fails. Decodes the frame and its CAR (libipld),
    hashes every block (hashlib, raw blocks sliced from the CAR), checks the commit against the
    message, re-encodes it without ``sig`` (libipld) and verifies that (coincurve). No MST
    inversion."""
    body = libipld.decode_dag_cbor(frame)
    data = body["blocks"]
    header, blocks = libipld.decode_car(data)
    _, sections = car_sections(data)
    sha256 = hashlib.sha256
    for cid, block in sections:
        if cid[2:4] != b"\x12\x20" or sha256(block).digest() != cid[4:]:
            return "hash_mismatch"
    commit_cid = body["commit"]
    commit = blocks.get(commit_cid)
    if commit is None:
        return "missing_block"
    if (
        header["roots"] != [commit_cid]
        or commit["did"] != body["repo"]
        or commit["rev"] != body["rev"]
        or body["prevData"] != prev_data
    ):
        return "field_mismatch"
    der = cdata_to_der(deserialize_compact(commit.pop("sig")))
    return "ok" if public.verify(der, libipld.encode_dag_cbor(commit)) else "bad_signature"


def strato_code(event: Event, did_key: str | None) -> str:
    """What strato says of ``event``: "ok" if it verifies with every check made (the signature
    too if ``did_key`` is given), else its error code."""
    try:
        verified = verify_commit_event(
            event.frame, did_key, prev_rev=event.prev_rev, prev_data=event.prev_data
        )
    except CommitVerificationError as error:
        return error.code
    checked = verified.signature_checked == (did_key is not None) and verified.inversion_checked
    return "ok" if checked and verified.prev_data_checked else "not fully checked"


def event_rows(events: Sequence[Event], key: PrivateKey, repeat: int) -> list[Row]:
    did_key = key.public_key.did_key()
    public: PublicKey = key.public_key
    peer_public = CoincurvePublicKey(public.to_bytes())
    count = len(events)
    bad = tampered(events[0])

    ours_ok = all(strato_code(e, did_key) == "ok" for e in events)
    ours_ok = ours_ok and strato_code(bad, did_key) == "hash_mismatch"
    unsigned_ok = all(strato_code(e, None) == "ok" for e in events)
    unsigned_ok = unsigned_ok and strato_code(bad, None) == "hash_mismatch"
    peer_args = [(e.frame, bytes(e.prev_data)) for e in events]
    peer_ok = all(peer_verify(frame, peer_public, prev) == "ok" for frame, prev in peer_args)
    peer_ok = peer_ok and peer_verify(bad.frame, peer_public, bytes(bad.prev_data)) == (
        "hash_mismatch"
    )
    signed = [(e.unsigned, e.sig) for e in events]
    bare_ok = all(public.verify(m, s) for m, s in signed)

    def ours() -> list[object]:
        return [
            verify_commit_event(e.frame, did_key, prev_rev=e.prev_rev, prev_data=e.prev_data)
            for e in events
        ]

    def ours_unsigned() -> list[object]:
        return [
            verify_commit_event(e.frame, None, prev_rev=e.prev_rev, prev_data=e.prev_data)
            for e in events
        ]

    def theirs() -> list[str]:
        return [peer_verify(frame, peer_public, prev) for frame, prev in peer_args]

    def bare() -> list[bool]:
        return [public.verify(m, s) for m, s in signed]

    items: list[CommitItem] = [
        {"payload": e.frame, "did_key": did_key, "prev_rev": e.prev_rev, "prev_data": e.prev_data}
        for e in events
    ]
    results = verify_commit_events(items)
    batch_ok = all(not isinstance(r, CommitVerificationError) for r in results)
    bad_item: CommitItem = {**items[0], "payload": bad.frame}
    [bad_result] = verify_commit_events([bad_item])
    batch_ok = batch_ok and isinstance(bad_result, CommitVerificationError)
    batch_ok = batch_ok and getattr(bad_result, "code", None) == "hash_mismatch"

    peer_timing = measure(theirs, count, repeat)
    batch = f"#commit verify ({count} in one call)"
    return [
        Row(VERIFY_ONE, "strato", measure(ours, count, repeat), ours_ok, "verify_commit_event"),
        Row(VERIFY_ONE, PEER, peer_timing, peer_ok, "no inversion; DER, key preloaded"),
        Row(VERIFY_ONE, "strato", measure(bare, count, repeat), bare_ok, BARE_NOTE),
        Row(
            VERIFY_ONE,
            "strato",
            measure(ours_unsigned, count, repeat),
            unsigned_ok,
            UNSIGNED_NOTE,
        ),
        Row(
            batch,
            "strato",
            measure(lambda: verify_commit_events(items), count, repeat),
            batch_ok,
            f"verify_commit_events, {os.cpu_count()} threads",
        ),
        Row(batch, PEER, peer_timing, peer_ok, "loop, one thread"),
    ]


# -- report -----------------------------------------------------------------------------------


GOALS = [
    Goal(BUILD, "atmst", 100.0),
    Goal(VERIFY_ONE, PEER, 1.3),
    Goal(
        VERIFY_ONE,
        "strato",
        0.8,
        note=BARE_NOTE,
        label=f"{VERIFY_ONE}: >= 0.8x the bare PublicKey.verify rate",
    ),
]


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="records in the repo")
    parser.add_argument("--events", type=int, default=200, help="#commit events to verify")
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement")
    parser.add_argument("--seed", type=int, default=records.DEFAULT_SEED)
    add_run_flags(parser, "smoke run: 2000 records, 50 events, 3 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.events, args.repeat = 2_000, 50, 3
    if args.count < 2 * (UPDATES + DELETES):
        parser.error(f"--count must be at least {2 * (UPDATES + DELETES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    profile = build_profile()
    if refuse_debug("repo_compare", profile, args.allow_debug):
        return 2
    print(
        "\n".join(("- " if args.markdown else "") + line for line in environment(profile, PACKAGES))
    )

    rng = random.Random(f"{args.seed}-account")
    key = PrivateKey.from_bytes(rng.randbytes(32), "k256")
    did = "did:plc:" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz234567", k=24))
    repo = generate_repo(args.count, CREATES + UPDATES + MAX_EVENT_WRITES * args.events, args.seed)
    # The corpus lives for the whole run: keep it out of the collector's sight.
    gc.collect()
    gc.freeze()

    rows, state = mst_rows(repo, args.seed, args.repeat)
    car_rows_, car_size = car_rows(repo, state, key, did, args.repeat)
    rows += car_rows_
    events = make_events(repo, state, key, did, count=args.events, seed=args.seed)
    gc.collect()
    gc.freeze()
    rows += event_rows(events, key, args.repeat)

    writes = sum(e.writes for e in events)
    frames = sum(len(e.frame) for e in events)
    blocks = sum(e.blocks for e in events)
    print(
        f"repo: {args.count} records ({len(state.nodes)} MST nodes, CAR {car_size} bytes); "
        f"{len(events)} #commit events ({writes} writes, {blocks / len(events):.1f} CAR blocks "
        f"and {frames / len(events):.0f} bytes per frame on average); repeat {args.repeat}"
    )
    print()
    print(table(rows, args.markdown))
    print()
    print(
        "ratio = peer time per item / strato time per item (> 1: strato is faster); for the "
        "other strato rows of an operation, their time / the first strato row's time."
    )
    print()
    print(goal_table(rows, GOALS, args.markdown))
    return 0 if all(row.correct is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
