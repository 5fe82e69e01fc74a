"""Crash safety: ``strato pds`` in a child process, written to over HTTP by several threads, is
killed with SIGKILL at a random moment, several rounds. After each restart every acknowledged
record is there (getRecord, and in the repository), the repository verifies (signature, tree),
the event log has no gap, and the ``#commit`` chain of the account is unbroken up to its head.
An import killed while it stages leaves the old repository (or, killed after its swap, the new
one) whole, and the restart drops its leftovers.

The seed of the random kill times is in every failure message, to replay a failing run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from strato import CID, car, dagcbor
from strato.crypto import PrivateKey
from strato.firehose import LmdbEventLog
from strato.firehose.frames import decode_frame
from strato.pds.context import open_store
from strato.pds.keys import KeyStore, MasterKey
from strato.repo import RepoStore, mst
from strato.repo.commit import decode_commit, next_rev, sign_commit
from strato.repo.verify import signing_key_from_did_doc, verify_repo
from strato.storage import Store
from strato_proc import free_ports, start, stop, strato_env, wait_until_up

ROUNDS = 4
WRITERS = 4
COLLECTION = "app.bsky.feed.post"
PASSWORD = "correct horse battery"


@dataclass
class Network:
    """The PLC directory and the PDS child processes."""

    tmp: Path
    log: Path
    plc_url: str
    pds_port: int
    plc: subprocess.Popen[str]
    pds: subprocess.Popen[str] | None = None

    @property
    def pds_url(self) -> str:
        return f"http://127.0.0.1:{self.pds_port}"

    def start_pds(self) -> None:
        self.pds = start(
            self.log,
            "pds", "--port", str(self.pds_port), "--data-dir", str(self.tmp / "pds"),
            "--plc-url", self.plc_url, "--public-url", f"http://localhost:{self.pds_port}",
            env=strato_env(STRATO_PDS_RATE_LIMITS="false"),
        )  # fmt: skip
        wait_until_up(self.pds, f"{self.pds_url}/xrpc/_health", self.log)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    log = tmp_path / "servers.log"
    plc_port, pds_port = free_ports(2)
    plc = start(log, "plc", "--port", str(plc_port), "--data-dir", str(tmp_path / "plc"))
    net = Network(tmp_path, log, f"http://127.0.0.1:{plc_port}", pds_port, plc)
    try:
        wait_until_up(plc, f"{net.plc_url}/_health", log)
        net.start_pds()
        yield net
    finally:
        if net.pds is not None:
            stop(net.pds, signal.SIGKILL)
        stop(plc)


@dataclass
class WriteLoop:
    """Threads calling createRecord until the server goes away; what it acknowledged."""

    url: str
    did: str
    token: str
    acked: dict[str, str] = field(default_factory=dict)  # rkey -> cid
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._write, daemon=True) for _ in range(WRITERS)]
        for thread in threads:
            thread.start()
        return threads

    def _write(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            while True:
                with self.lock:
                    self.counter += 1
                    text = f"post {self.counter}"
                body = {
                    "repo": self.did,
                    "collection": COLLECTION,
                    "record": {"$type": COLLECTION, "text": text, "createdAt": _now()},
                }
                try:
                    response = client.post("/xrpc/com.atproto.repo.createRecord", json=body)
                except httpx.HTTPError:
                    return  # killed: this write was never acknowledged
                assert response.status_code == 200, response.text
                answer = response.json()
                with self.lock:
                    self.acked[answer["uri"].rsplit("/", 1)[1]] = answer["cid"]


def _create_account(network: Network, handle: str) -> tuple[str, str]:
    """A new account's DID and access token."""
    created = httpx.post(
        f"{network.pds_url}/xrpc/com.atproto.server.createAccount",
        json={"handle": handle, "password": PASSWORD},
        timeout=60,
    )
    assert created.status_code == 200, created.text
    return created.json()["did"], created.json()["accessJwt"]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def test_acknowledged_writes_survive_sigkill(network: Network) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    did, token = _create_account(network, "crash.test")
    loop = WriteLoop(network.pds_url, did, token)
    for round_ in range(ROUNDS):
        context = f"seed {seed}, round {round_}"
        before = len(loop.acked)
        threads = loop.run()
        deadline = time.monotonic() + 30
        while len(loop.acked) == before:  # let this round's writes begin
            assert time.monotonic() < deadline, f"no write acknowledged ({context})"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 1.0))
        assert network.pds is not None
        network.pds.send_signal(signal.SIGKILL)
        network.pds.wait(timeout=30)
        for thread in threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), context
        network.start_pds()
        check_records(network, did, loop.acked, context)
        check_store(network, did, loop.acked, context)
    assert network.pds is not None
    assert stop(network.pds) == 0


def check_records(network: Network, did: str, acked: dict[str, str], context: str) -> None:
    """Every acknowledged record is served, with its CID."""
    with httpx.Client(base_url=network.pds_url, timeout=30) as client:
        for rkey, cid in acked.items():
            params = {"repo": did, "collection": COLLECTION, "rkey": rkey}
            response = client.get("/xrpc/com.atproto.repo.getRecord", params=params)
            assert response.status_code == 200, f"{rkey} lost ({context}): {response.text}"
            assert response.json()["cid"] == cid, context


def check_store(network: Network, did: str, acked: dict[str, str], context: str) -> None:
    """Read the data directory (as another process may, while the PDS runs): the repository
    verifies against the DID's key and holds every acknowledged record; the event log has no
    gap; the account's commits chain up to the head."""
    document = httpx.get(f"{network.plc_url}/{did}", timeout=30).json()
    _, did_key = signing_key_from_did_doc(document)
    store = open_store(network.tmp / "pds", sync=False)
    try:
        repos = RepoStore()
        with store.read() as txn:
            head = repos.latest(txn, did)
            exported = b"".join(repos.export(txn, did))
        report = verify_repo(exported, did_key=did_key, did=did)
        assert report.commit_cid == head.commit, context
        records = dict(report.records)
        for rkey, cid in acked.items():
            assert str(records.get(f"{COLLECTION}/{rkey}")) == cid, f"{rkey} ({context})"
        events = all_events(LmdbEventLog(store))
    finally:
        store.close()
    seqs = [seq for seq, _ in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gap in the event log ({context})"
    commits = [body for t, body in (event for _, event in events) if t == "#commit"]
    commits = [body for body in commits if body["repo"] == did]
    check_chain(commits, head.commit, head.rev, context)


def all_events(sequencer: LmdbEventLog) -> list[tuple[int, tuple[str | None, dict[str, Any]]]]:
    found: list[tuple[int, tuple[str | None, dict[str, Any]]]] = []
    cursor = 0
    while batch := sequencer.events_after(cursor):
        for event in batch:
            frame = decode_frame(event.frame)
            found.append((event.seq, (frame.t, frame.body)))
        cursor = batch[-1].seq
    return found


def check_chain(commits: list[dict[str, Any]], head: Any, head_rev: str, context: str) -> None:
    """Each commit's ``since`` is the rev before it and its ``prevData`` the tree before it;
    revs increase; the last one is the repository's head."""
    assert commits, context
    assert commits[0]["since"] is None, context  # the account's first commit
    previous: tuple[str, Any] | None = None
    for body in commits:
        _, blocks = car.read_car(body["blocks"])
        commit = decode_commit(blocks[body["commit"]])
        assert commit.rev == body["rev"], context
        if previous is not None:
            rev, data = previous
            assert body["since"] == rev, f"commit {body['rev']} does not follow {rev} ({context})"
            assert body["rev"] > rev, context
            assert body["prevData"] == data, context
        previous = (body["rev"], commit.data)
    assert (commits[-1]["commit"], commits[-1]["rev"]) == (head, head_rev), context


def test_an_import_killed_midway_leaves_one_whole_repository(network: Network) -> None:
    did, token = _create_account(network, "moving.test")
    for n in range(3):
        record = {"$type": COLLECTION, "text": f"before {n}", "createdAt": _now()}
        made = httpx.post(
            f"{network.pds_url}/xrpc/com.atproto.repo.createRecord",
            json={"repo": did, "collection": COLLECTION, "record": record},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert made.status_code == 200, made.text
    before = _export(network, did)
    store = open_store(network.tmp / "pds", sync=False)
    repos = RepoStore()
    try:
        master = MasterKey.read(network.tmp / "pds" / "master.key")
        data = _large_repository(did, KeyStore(store, master).signing_key(did))
        imported = verify_repo(data)
        answers: list[httpx.Response | httpx.HTTPError] = []
        upload = threading.Thread(target=_import, args=(network, token, data, answers))
        upload.start()
        deadline = time.monotonic() + 60
        while not _spaces(store, repos):  # the import has begun staging
            assert time.monotonic() < deadline, f"the import never staged: {answers}"
            time.sleep(0.002)
        assert network.pds is not None
        network.pds.send_signal(signal.SIGKILL)
        network.pds.wait(timeout=30)
        upload.join(timeout=60)
        network.start_pds()
        deadline = time.monotonic() + 60
        while _spaces(store, repos):  # the restart drops what the import left
            assert time.monotonic() < deadline, "leftovers of the import were not dropped"
            time.sleep(0.01)
        with store.read() as txn:
            blocks, records = repos.counts(txn, did)
            assert txn.count(repos.blocks) == blocks  # nothing but the account's one space
            assert txn.count(repos.records) == records
    finally:
        store.close()
    after = _export(network, did)
    if after != before:  # the kill came after the swap: the new repository, whole
        report = verify_repo(after)
        assert (report.data_cid, report.records) == (imported.data_cid, imported.records)


def _large_repository(did: str, key: PrivateKey) -> bytes:
    """A repository of ``did`` signed with ``key``: 15,000 posts, about 3 MB (several staging
    pieces)."""
    blocks: dict[CID, bytes] = {}
    pairs = []
    for n in range(15_000):
        value = dagcbor.encode({"$type": COLLECTION, "text": f"imported {n}", "createdAt": _now()})
        cid = CID.compute(value)
        blocks[cid] = value
        pairs.append((f"{COLLECTION}/{next_rev()}", cid))
    root, nodes = mst.build(pairs)
    commit, commit_bytes = sign_commit(did, next_rev(), root, key)
    return car.write_car([commit], [(commit, commit_bytes), *nodes.items(), *blocks.items()])


def _import(network: Network, token: str, data: bytes, answers: list[Any]) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.ipld.car"}
    try:
        answers.append(httpx.post(f"{network.pds_url}/xrpc/com.atproto.repo.importRepo",
                                  content=data, headers=headers, timeout=60))  # fmt: skip
    except httpx.HTTPError as err:
        answers.append(err)  # killed: the import was never acknowledged


def _spaces(store: Store, repos: RepoStore) -> int:
    with store.read() as txn:
        return txn.count(repos.spaces)


def _export(network: Network, did: str) -> bytes:
    response = httpx.get(f"{network.pds_url}/xrpc/com.atproto.sync.getRepo", params={"did": did})
    assert response.status_code == 200, response.text
    return response.content
