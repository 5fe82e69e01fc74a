"""Repository writes and exports on LMDB (``strato.repo.RepoStore``), without HTTP.

- createRecord-equivalent commits: one ``apply_writes`` of one create per write transaction,
  not flushed (``sync=False``) and flushed; and a group commit of 16 such commits per flushed
  transaction (what the PDS does under load). Each commit is signed, its tree updated, its
  firehose CAR slice (with proof nodes) built and its blocks reference-counted.
- ``getRepo``-equivalent export of a 10k- and a 100k-record repository (the streamed CAR joined),
  and the diff since the rev before the last tenth of the records was written (200 per
  commit).

Correctness flags: the export verifies (``verify_repo``: every block hash, the tree rebuilt,
the signature) and holds every record; the last commit's ``#commit`` event verifies strictly.
Refuses to run on a strato debug build unless ``--allow-debug``.

    python benches/pds_repo_bench.py [--commits 2000] [--sizes 10000,100000] [--repeat 3]
        [--quick] [--markdown]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from collections.abc import Sequence
from functools import partial
from typing import Any

from benchlib import Row, add_run_flags, build_profile, environment, measure, refuse_debug, table
from strato.crypto import PrivateKey
from strato.repo import REPO_TABLES, CommitData, Create, RepoStore
from strato.repo.verify import verify_repo
from strato.storage import Store
from strato.sync import verify_commit_event

DID = "did:plc:benchrepo0000000000000000"
POST = "app.bsky.feed.post"
KEY = PrivateKey.from_bytes(hashlib.sha256(b"bench repo key").digest(), "k256")
DID_KEY = KEY.public_key.did_key()


def post(n: int) -> dict[str, Any]:
    return {
        "$type": POST,
        "text": f"post number {n}, with a little text to make it look like one",
        "createdAt": "2026-11-24T00:00:00.000Z",
        "langs": ["en"],
    }


def open_store(directory: str, *, sync: bool) -> Store:
    return Store.open(directory, name="bench", schema_version=1, tables=REPO_TABLES, sync=sync)


def event_ok(commit: CommitData, previous: CommitData) -> bool:
    payload = {
        "seq": 1,
        "rebase": False,
        "tooBig": False,
        "repo": commit.did,
        "commit": commit.commit,
        "rev": commit.rev,
        "since": commit.since,
        "blocks": commit.blocks,
        "ops": [
            {"action": op.action, "path": op.path, "cid": op.cid}
            | ({} if op.prev is None else {"prev": op.prev})
            for op in commit.ops
        ],
        "blobs": [],
        "prevData": commit.prev_data,
        "time": "2026-11-24T00:00:00.000Z",
    }
    verified = verify_commit_event(payload, DID_KEY, prev_rev=previous.rev, prev_data=previous.data)
    return verified.inversion_checked


def commit_all(
    store: Store, repos: RepoStore, commits: int, group: int, made: list[CommitData]
) -> None:
    """``commits`` one-record commits, ``group`` per write transaction."""
    for start in range(0, commits, group):
        with store.write() as txn:
            for n in range(start, min(start + group, commits)):
                writes = [Create(POST, post(n), rkey=f"k{n:08d}")]
                made.append(repos.apply_writes(txn, DID, writes, KEY))


def write_rows(commits: int, repeat: int) -> list[Row]:
    rows = []
    for sync, group in ((False, 1), (True, 1), (True, 16)):
        runs = []
        correct = True
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as directory:
                store = open_store(directory, sync=sync)
                repos = RepoStore()
                with store.write() as txn:
                    repos.create(txn, DID, KEY)
                made: list[CommitData] = []
                runs.append(
                    measure(partial(commit_all, store, repos, commits, group, made), commits, 1)
                )
                correct = correct and event_ok(made[-1], made[-2])
                with store.read() as txn:
                    export = b"".join(repos.export(txn, DID))
                correct = correct and len(verify_repo(export, did_key=DID_KEY).records) == commits
                store.close()
        best = min(runs, key=lambda timing: timing.best)
        flushed = "flushed" if sync else "sync=False"
        name = f"createRecord commit, {flushed}"
        note = "one commit per write txn"
        if group > 1:
            name = f"createRecord commit, group of {group}, {flushed}"
            note = f"{group} commits per write txn"
        rows.append(Row(name, "strato", best, correct, note))
    return rows


def export_rows(size: int, repeat: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as directory:
        store = open_store(directory, sync=False)
        repos = RepoStore()
        with store.write() as txn:
            repos.create(txn, DID, KEY)
        batch = 200
        revs = []
        for start in range(0, size, batch):
            with store.write() as txn:
                writes = [
                    Create(POST, post(n), rkey=f"k{n:08d}")
                    for n in range(start, min(start + batch, size))
                ]
                revs.append(repos.apply_writes(txn, DID, writes, KEY).rev)
        since = revs[len(revs) * 9 // 10 - 1]

        def export(since: str | None = None) -> bytes:
            with store.read() as txn:
                return b"".join(repos.export(txn, DID, since=since))

        data = export()
        correct = len(verify_repo(data, did_key=DID_KEY, did=DID).records) == size
        mib = len(data) / (1 << 20)
        rows = [
            Row(
                f"getRepo export, {size} records",
                "strato",
                measure(export, 1, repeat),
                correct,
                f"{mib:.1f} MiB CAR, streamed in 64 KiB chunks",
            ),
            Row(
                f"getRepo since, {size} records, last tenth",
                "strato",
                measure(lambda: export(since), 1, repeat),
                len(export(since)) < len(data),
                f"{len(export(since)) / 1024:.0f} KiB CAR",
            ),
        ]
        store.close()
        return rows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--sizes", default="10000,100000", help="repository sizes to export")
    parser.add_argument("--repeat", type=int, default=3)
    add_run_flags(parser, "a smoke run: 200 commits, a 2000-record export, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.commits, args.sizes, args.repeat = 200, "2000", 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    profile = build_profile()
    if refuse_debug("pds_repo_bench", profile, args.allow_debug):
        return 2
    prefix = "- " if args.markdown else ""
    print("\n".join(prefix + line for line in environment(profile, ("lmdb",))))
    print(f"commits: {args.commits}, export sizes: {args.sizes}, repeat {args.repeat}\n")
    rows = write_rows(args.commits, args.repeat)
    for size in (int(s) for s in args.sizes.split(",")):
        rows += export_rows(size, args.repeat)
    print(table(rows, args.markdown))
    return 0 if all(row.correct for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
