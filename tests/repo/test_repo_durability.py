"""Durability: a subprocess writes commits (some transactions carrying several, as a group
commit does) and prints each record key once its transaction is durable; it is killed with
SIGKILL at a random moment, several rounds over the same store. After each kill every
acknowledged record is there, the repository verifies, and no commit is half-stored: the record
index, the tree and the stored blocks all agree with the last commit."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from repo_helpers import DID, POST, reachable
from strato.crypto import PrivateKey
from strato.repo import Repo
from strato.repo.verify import verify_repo

WRITER = """
import sys
from strato.crypto import PrivateKey
from strato.repo import Create, RepoStore
from strato.repo.local import STORE_NAME, STORE_SCHEMA_VERSION
from strato.storage import Store

path, did, key_hex, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
key = PrivateKey.from_bytes(bytes.fromhex(key_hex), "k256")
repos = RepoStore()
store = Store.open(path, name=STORE_NAME, schema_version=STORE_SCHEMA_VERSION, tables=repos.tables)
with store.read() as txn:
    exists = repos.head(txn, did) is not None
if not exists:
    with store.write() as txn:
        repos.create(txn, did, key)
n = start
while True:
    group = 1 + n % 3
    done = []
    with store.write() as txn:
        for _ in range(group):
            rkey = f"k{n:08d}"
            value = {"$type": "app.bsky.feed.post", "text": "x" * (n % 50), "n": n}
            repos.apply_writes(txn, did, [Create("app.bsky.feed.post", value, rkey=rkey)], key)
            done.append(rkey)
            n += 1
    sys.stdout.write("".join(f"{rkey}\\n" for rkey in done))
    sys.stdout.flush()
"""


def run_round(path: Path, key: PrivateKey, start: int, rng: random.Random) -> list[str]:
    """Starts the writer, kills it after a random time; the record keys it acknowledged."""
    acknowledged: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), DID, key.to_bytes().hex(), str(start)],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        stdout = proc.stdout

        def read() -> None:
            for line in stdout:
                acknowledged.append(line.strip())

        reader = threading.Thread(target=read)
        reader.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join()
    return acknowledged


def test_acknowledged_commits_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "store"
    key = PrivateKey.generate("k256")
    did_key = key.public_key.did_key()
    rng = random.Random(5)
    acknowledged: list[str] = []
    start = 0
    for _ in range(5):
        acked = run_round(path, key, start, rng)
        assert len(acked) >= 3
        acknowledged += acked
        with Repo.open(path, DID) as repo:
            present = {record.rkey for record in repo.list_records(POST, limit=100_000).records}
            assert set(acknowledged) <= present
            exported = repo.export_bytes()
            head = repo.latest()
        report = verify_repo(exported, did_key=did_key, did=DID)
        assert report.commit_cid == head.commit
        assert report.data_cid == head.data
        assert report.rev == head.rev
        assert {path.split("/")[1] for path, _ in report.records} == present
        stored, wanted = reachable(exported)
        assert stored == wanted
        start = max(int(rkey[1:]) for rkey in present) + 1
