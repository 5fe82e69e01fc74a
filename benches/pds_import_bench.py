"""One account's ``importRepo`` against another account's writes, on one strato PDS over HTTP:
the latency of ``createRecord`` (p50, p99, max) for one account while another imports a ~50 MB
repository CAR, and the same without the import, for comparison.

The PDS runs as a subprocess (``python -m strato pds``, every transaction flushed, rate limits
off) with a strato PLC directory, as in ``pds_bench.py``. The importing account arrives as a
migration does: the bench makes a did:plc with a signing key of its own, creates the account
with ``createAccount`` and a service token of that DID, and imports a repository of generated
Bluesky records (``records.py``) it signed with that key, so the import checks the signature
against the DID document. The writer is one client calling ``createRecord`` in a loop, each call
after the last has answered, in three windows per round: alone (``--window`` seconds), during
the import (from the upload's first byte to its answer), and after it for ``--window`` seconds
more (while the PDS drops the repository the import replaced). The first round is a move (into
an empty repository, announced with a ``#sync``); the next ones import the same repository again
(nothing differs: a ``#commit`` without ops), each staging the whole repository anew and then
dropping the replaced one.

    python benches/pds_import_bench.py [--size-mb 50] [--rounds 2] [--window 8] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import records
from benchlib import build_profile, environment, refuse_debug, render
from pds_bench import COLLECTION, PASSWORD, Account, Peer, plc_directory, post, strato_pds
from strato import CID, car, dagcbor
from strato.crypto import K256, PrivateKey
from strato.identity.plc import PlcClient
from strato.repo import mst
from strato.repo.commit import next_rev, sign_commit
from strato.xrpc.auth import create_service_jwt

WRITER = "writer.test"
MOVER = "mover.test"
IMPORT_TIMEOUT = 600.0


@dataclass
class Latencies:
    """createRecord round trips, in seconds."""

    samples: list[float] = field(default_factory=list)

    def row(self, phase: str, seconds: float) -> list[str]:
        ordered = sorted(self.samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return [
            phase, str(len(ordered)), f"{seconds:.2f} s",
            f"{statistics.median(ordered) * 1e3:.1f} ms", f"{p99 * 1e3:.1f} ms",
            f"{ordered[-1] * 1e3:.1f} ms",
        ]  # fmt: skip


class WriteLoop:
    """createRecord after createRecord for one account, in a thread, until stopped."""

    def __init__(self, url: str, account: Account) -> None:
        self.url = url
        self.account = account
        self.latencies = Latencies()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WriteLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.account.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=60.0) as client:
            count = 0
            while not self._stop.is_set():
                count += 1
                body = {"repo": self.account.did, "collection": COLLECTION,
                        "record": post(f"during the import {count}")}  # fmt: skip
                started = time.perf_counter()
                response = client.post("/xrpc/com.atproto.repo.createRecord", json=body)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"createRecord: {response.status_code} {response.text}")
                if not self._stop.is_set():
                    self.latencies.samples.append(elapsed)


def repository_car(did: str, key: PrivateKey, size_mb: float) -> tuple[bytes, int]:
    """A repository of ``did`` signed with ``key`` of about ``size_mb`` MB of generated
    records; the CAR and its record count."""
    blocks: dict[CID, bytes] = {}
    pairs: list[tuple[str, CID]] = []
    size = 0
    for record in records.iter_records(10**9, make_link=CID.decode, single_repo=True):
        data = dagcbor.encode(record.value)
        cid = CID.compute(data)
        blocks[cid] = data
        pairs.append((record.path, cid))
        # nodes and framing add about a fifth to the records' bytes
        size += int(len(data) * 1.2) + 40
        if size >= size_mb * 1e6:
            break
    root, nodes = mst.build(pairs)
    commit, commit_bytes = sign_commit(did, next_rev(), root, key)
    return car.write_car([commit], [(commit, commit_bytes), *nodes.items(), *blocks.items()]), len(
        pairs
    )


async def arrive(peer: Peer, plc_url: str) -> tuple[Account, PrivateKey]:
    """An account that moves in: a did:plc with the bench's key, created here with a service
    token of that DID."""
    signing, rotation = PrivateKey.generate(K256), PrivateKey.generate(K256)
    async with PlcClient(plc_url) as plc:
        did = await plc.create_did(
            signing.public_key.did_key(), [rotation.public_key.did_key()], "mover.old.example",
            "https://old.example", signer=rotation,
        )  # fmt: skip
    async with httpx.AsyncClient(base_url=peer.url, timeout=60.0) as http:
        service_did = (await http.get("/xrpc/com.atproto.server.describeServer")).json()["did"]
        token = create_service_jwt(signing, did, service_did, "com.atproto.server.createAccount")
        created = await http.post(
            "/xrpc/com.atproto.server.createAccount",
            json={"handle": MOVER, "did": did, "password": PASSWORD},
            headers={"Authorization": f"Bearer {token}"},
        )
        created.raise_for_status()
    body: dict[str, Any] = created.json()
    return Account(did, MOVER, body["accessJwt"]), signing


def import_repo(url: str, account: Account, data: bytes) -> float:
    """One importRepo; its seconds."""
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/xrpc/com.atproto.repo.importRepo",
        content=data,
        headers={"Authorization": f"Bearer {account.token}",
                 "Content-Type": "application/vnd.ipld.car"},
        timeout=IMPORT_TIMEOUT,
    )  # fmt: skip
    if response.status_code != 200:
        raise RuntimeError(f"importRepo: {response.status_code} {response.text}")
    return time.perf_counter() - started


def run(args: argparse.Namespace, work: Path) -> tuple[list[list[str]], list[str]]:
    lines = [["phase", "createRecords", "window", "p50", "p99", "max"]]
    notes: list[str] = []
    with (
        plc_directory(work, work / "plc.log") as plc_url,
        strato_pds(work, plc_url, [WRITER], None) as peer,
    ):
        mover, key = asyncio.run(arrive(peer, plc_url))
        started = time.perf_counter()
        data, count = repository_car(mover.did, key, args.size_mb)
        notes.append(
            f"repository: {count} records, {len(data) / 1e6:.1f} MB CAR "
            f"(built in {time.perf_counter() - started:.1f} s)"
        )
        writer = peer.accounts[WRITER]
        for round_ in range(1, args.rounds + 1):
            with WriteLoop(peer.url, writer) as alone:
                time.sleep(args.window)
            lines.append(alone.latencies.row(f"alone, before import {round_}", args.window))
            with WriteLoop(peer.url, writer) as during:
                time.sleep(0.5)  # the loop is running before the upload begins
                during.latencies.samples.clear()
                seconds = import_repo(peer.url, mover, data)
            lines.append(during.latencies.row(f"during import {round_}", seconds))
            with WriteLoop(peer.url, writer) as after:
                time.sleep(args.window)
            lines.append(after.latencies.row(f"after import {round_}", args.window))
            notes.append(f"import {round_}: {seconds:.2f} s")
    return lines, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=50.0, help="the repository CAR's size")
    parser.add_argument("--rounds", type=int, default=2, help="imports")
    parser.add_argument("--window", type=float, default=8.0, help="seconds before and after")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--allow-debug", action="store_true", help="run on a debug build")
    args = parser.parse_args(argv)
    profile = build_profile()
    if refuse_debug("pds_import_bench.py", profile, args.allow_debug):
        return 2
    with tempfile.TemporaryDirectory(prefix="strato-import-bench-") as tmp:
        lines, notes = run(args, Path(tmp))
    for line in environment(profile, ("strato", "uvicorn", "starlette", "httpx"), notes):
        print(line)
    print()
    print(render(lines, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
