"""Pre-generated load: simulated accounts spread over simulated hosts, and every host's
``subscribeRepos`` frames, encoded once and cached on disk.

A :class:`DatasetSpec` (hosts, accounts per host, events, records already in each repository,
seed) determines a dataset: account keys are derived from the seed, so the DIDs, records and
which account writes when are the same on every run (only the revs follow the clock of the
generation). :func:`load_dataset` generates a dataset once and afterwards reads it back from
``<cache_dir>/loadgen-<hash of the spec>/``:

- ``manifest.cbor``: the spec, the clock the revs come from, each account's DID, handle and
  did:plc genesis operation (its PDS endpoint is a placeholder: :mod:`.directory` registers
  the account with an update naming the host's real URL, so a DID does not depend on a port);
- ``frames.bin``: every frame, host after host, each host's in its ``seq`` order (seq 1 up);
- ``index.bin``: the frames' offsets, then each frame's account.

Each account's repository starts with ``base_records`` records (not streamed: the state when
the stream starts; :meth:`Dataset.base_chain` rebuilds it from the seed when a host serves
``getRepo``). Each event is one ``#commit`` of one account, drawn with a mild skew (some
accounts write more than others): mostly one created record (:mod:`.records` mix), a few
threads of several posts, ~5 % deletes. Revs are TIDs one microsecond apart in stream order,
an hour before the dataset was made, so they are unique across all hosts (the benchmark keys
its latency table on them) and never in the future.
"""

from __future__ import annotations

import array
import functools
import hashlib
import json
import mmap
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from strato import dagcbor
from strato._core import PrivateKey, tid_from_parts
from strato.firehose import encode_message
from strato.identity.plc.operations import Operation, create_genesis

from loadgen.chain import AccountChain, Change
from loadgen.host import HostedAccount, SimulatedHost
from loadgen.records import POST, RecordMaker, iso_time

#: Bumped whenever what a spec generates changes (old caches are then ignored).
FORMAT_VERSION: Final = 1
#: The PDS endpoint of a genesis operation, replaced when the account is registered.
PLACEHOLDER_ENDPOINT: Final = "https://loadgen.invalid"
_POOL_PER_COLLECTION: Final = 8
_DELETE_SHARE: Final = 0.05
_THREAD_SHARE: Final = 0.04


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate: ``events`` commits over ``hosts`` x ``accounts_per_host`` accounts
    whose repositories start with ``base_records`` records each (100 gives the network's
    ~2.8 KB average frame when accounts make a few events each)."""

    hosts: int = 1
    accounts_per_host: int = 100
    events: int = 10_000
    base_records: int = 100
    seed: int = 1

    @property
    def accounts(self) -> int:
        return self.hosts * self.accounts_per_host

    def key(self) -> str:
        """The cache key: a hash of the spec and :data:`FORMAT_VERSION`."""
        text = json.dumps({"format": FORMAT_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SimAccount:
    """A simulated account: its DID, handle, signing key, did:plc genesis operation, and the
    index of the host that serves it."""

    did: str
    handle: str
    key: PrivateKey
    genesis: Operation
    host: int


def account_key(seed: int, label: str) -> PrivateKey:
    """A k256 key derived from the seed (a hash is a valid scalar but with negligible odds)."""
    return PrivateKey.from_bytes(
        hashlib.sha256(f"loadgen/{seed}/{label}".encode()).digest(), "k256"
    )


def make_account(seed: int, label: str, host: int, rotation: PrivateKey) -> SimAccount:
    """The account named ``label`` (``handle = <label>.loadgen.test``): its key and genesis."""
    key = account_key(seed, label)
    handle = f"{label}.loadgen.test"
    genesis, did = create_genesis(
        signing_key=key.public_key.did_key(),
        rotation_keys=[rotation.public_key.did_key()],
        handle=handle,
        pds_endpoint=PLACEHOLDER_ENDPOINT,
        signer=rotation,
    )
    return SimAccount(did, handle, key, genesis, host)


class Dataset:
    """A generated dataset, loaded: its accounts and every host's frames."""

    def __init__(self, spec: DatasetSpec, path: Path) -> None:
        self.spec = spec
        self.path = path
        manifest = dagcbor.decode((path / "manifest.cbor").read_bytes())
        self.start_us: int = manifest["startUs"]
        self.clock_id: int = manifest["clockId"]
        self.rotation_key = account_key(spec.seed, "rotation")
        self.accounts = [
            SimAccount(
                did, handle, account_key(spec.seed, _label(i)), genesis, i // spec.accounts_per_host
            )
            for i, (did, handle, genesis) in enumerate(manifest["accounts"])
        ]
        bounds: list[int] = manifest["hostStarts"]
        index = array.array("Q")
        index.frombytes((path / "index.bin").read_bytes())
        offsets, owners = index[: spec.events + 1], index[spec.events + 1 :]
        #: Each host's frames (seq = position + 1) and the account (index in
        #: :attr:`accounts`) of each frame.
        self.host_frames: list[list[bytes]] = []
        self.host_owners: list[list[int]] = []
        with (path / "frames.bin").open("rb") as file:
            # Mapped, not read: the frames are copied out once, not held twice.
            data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if offsets[-1] else b""
            for host in range(spec.hosts):
                first, last = bounds[host], bounds[host + 1]
                frames = [data[offsets[i] : offsets[i + 1]] for i in range(first, last)]
                self.host_frames.append(frames)
                self.host_owners.append(list(owners[first:last]))
            if isinstance(data, mmap.mmap):
                data.close()

    @property
    def frame_bytes(self) -> int:
        """The size of all frames."""
        return sum(len(frame) for frames in self.host_frames for frame in frames)

    def host_accounts(self, host: int) -> list[int]:
        """The indexes of the accounts ``host`` serves."""
        per = self.spec.accounts_per_host
        return list(range(host * per, (host + 1) * per))

    def hosts(
        self, *, name: str = "127.0.0.1", track_send_times: bool = False
    ) -> list[SimulatedHost]:
        """A :class:`SimulatedHost` per host of the dataset, holding its accounts and frames
        (nothing released yet), known as ``name:PORT``; not started."""
        hosts = []
        for host in range(self.spec.hosts):
            indexes = self.host_accounts(host)
            first = indexes[0]
            accounts = [
                HostedAccount(self.accounts[i].did, functools.partial(self.base_chain, i))
                for i in indexes
            ]
            owners = [owner - first for owner in self.host_owners[host]]
            hosts.append(
                SimulatedHost(
                    accounts,
                    self.host_frames[host],
                    owners,
                    name=name,
                    track_send_times=track_send_times,
                )
            )
        return hosts

    def base_chain(self, account: int) -> AccountChain:
        """The repository of ``account`` as it is before its first event."""
        return _base_chain(self.spec, self.start_us, self.clock_id, self.accounts[account])


def load_dataset(spec: DatasetSpec, cache_dir: str | os.PathLike[str]) -> Dataset:
    """The dataset of ``spec``, generated into ``cache_dir`` unless it is there already."""
    root = Path(cache_dir)
    path = root / f"loadgen-{spec.key()}"
    if not (path / "manifest.cbor").exists():
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".loadgen-", dir=root))
        try:
            generate(spec, work)
            try:
                work.rename(path)
            except OSError:  # another process made it meanwhile
                if not (path / "manifest.cbor").exists():
                    raise
        finally:
            if work.exists():
                shutil.rmtree(work)
    return Dataset(spec, path)


# -- generation -----------------------------------------------------------------------------------


def generate(spec: DatasetSpec, out: Path) -> None:
    """Write the dataset of ``spec`` into the directory ``out``."""
    if spec.hosts < 1 or spec.accounts_per_host < 1 or spec.events < 0:
        raise ValueError(f"a dataset needs hosts, accounts and events >= 0: {spec}")
    # The revs are an hour old: never in the future, and newer than any base repository's.
    start_us = (time.time_ns() // 1000 - 3_600_000_000) // 1_000_000 * 1_000_000
    clock_id = random.Random(f"{spec.seed}/clock").randrange(1000)
    rotation = account_key(spec.seed, "rotation")
    accounts = [
        make_account(spec.seed, _label(i), i // spec.accounts_per_host, rotation)
        for i in range(spec.accounts)
    ]
    owners = _schedule(spec)
    events_of: list[list[int]] = [[] for _ in accounts]
    for event, owner in enumerate(owners):
        events_of[owner].append(event)
    # Host order: each host's events in stream order; seq = position within the host + 1.
    order = sorted(range(spec.events), key=lambda event: (accounts[owners[event]].host, event))
    position = [0] * spec.events
    host_starts = [0] * (spec.hosts + 1)
    for rank, event in enumerate(order):
        position[event] = rank
        host_starts[accounts[owners[event]].host + 1] = rank + 1
    for host in range(1, spec.hosts + 1):
        host_starts[host] = max(host_starts[host], host_starts[host - 1])
    spans = array.array("Q", [0]) * (2 * spec.events)
    with (out / "frames.tmp").open("wb") as tmp:
        offset = 0
        for index, account in enumerate(accounts):
            chain = _base_chain(spec, start_us, clock_id, account)
            maker = RecordMaker(random.Random(f"{spec.seed}/{index}/events"), others=50)
            for event in events_of[index]:
                micros = start_us + event
                rev = tid_from_parts(micros, clock_id)
                body = chain.commit_changes(
                    _changes(maker, chain, micros, clock_id), rev, iso_time(micros)
                )
                frame = encode_message(
                    "#commit", {"seq": position[event] - host_starts[account.host] + 1, **body}
                )
                tmp.write(frame)
                spans[2 * event], spans[2 * event + 1] = offset, len(frame)
                offset += len(frame)
    _write_host_order(out, order, spans, owners)
    manifest = {
        "format": FORMAT_VERSION,
        "spec": asdict(spec),
        "startUs": start_us,
        "clockId": clock_id,
        "accounts": [[a.did, a.handle, a.genesis] for a in accounts],
        "hostStarts": host_starts,
    }
    (out / "manifest.cbor").write_bytes(dagcbor.encode(manifest))


def _write_host_order(
    out: Path, order: list[int], spans: array.array[int], owners: list[int]
) -> None:
    offsets = array.array("Q", [0])
    with (out / "frames.tmp").open("rb") as tmp, (out / "frames.bin").open("wb") as frames:
        size = os.fstat(tmp.fileno()).st_size
        view = mmap.mmap(tmp.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        for event in order:
            start, length = spans[2 * event], spans[2 * event + 1]
            if view is not None:
                frames.write(view[start : start + length])
            offsets.append(offsets[-1] + length)
        if view is not None:
            view.close()
    (out / "frames.tmp").unlink()
    index = offsets + array.array("Q", [owners[event] for event in order])
    (out / "index.bin").write_bytes(index.tobytes())


def _label(index: int) -> str:
    return f"u{index}"


def _schedule(spec: DatasetSpec) -> list[int]:
    """Which account makes each event: a mild skew (weight 1/sqrt(rank)), shuffled ranks."""
    rng = random.Random(f"{spec.seed}/schedule")
    ranks = list(range(spec.accounts))
    rng.shuffle(ranks)
    weights = [1 / (rank + 1) ** 0.5 for rank in ranks]
    return rng.choices(range(spec.accounts), weights=weights, k=spec.events)


def _pool(seed: int) -> dict[str, list[bytes]]:
    """A few record values per collection, shared by every base repository (values repeat
    in real repositories too; paths do not)."""
    maker = RecordMaker(random.Random(f"{seed}/pool"), others=20)
    micros = 1_700_000_000_000_000
    return {
        collection: [
            dagcbor.encode(maker.record(collection, micros)) for _ in range(_POOL_PER_COLLECTION)
        ]
        for collection in (
            "app.bsky.feed.post",
            "app.bsky.feed.like",
            "app.bsky.graph.follow",
            "app.bsky.feed.repost",
        )
    }


_POOLS: dict[int, dict[str, list[bytes]]] = {}


def _base_chain(
    spec: DatasetSpec, start_us: int, clock_id: int, account: SimAccount
) -> AccountChain:
    pool = _POOLS.get(spec.seed)
    if pool is None:
        pool = _POOLS[spec.seed] = _pool(spec.seed)
    rng = random.Random(f"{spec.seed}/{account.did}/base")
    maker = RecordMaker(rng, others=1)
    micros = start_us - 90 * 86_400_000_000
    records = []
    for _ in range(spec.base_records):
        micros += rng.randrange(1, 3_600_000_000)
        collection = maker.collection()
        records.append(
            (f"{collection}/{tid_from_parts(micros, clock_id)}", rng.choice(pool[collection]))
        )
    return AccountChain.create(
        account.did, account.key, tid_from_parts(start_us - 1, clock_id), records
    )


def _changes(maker: RecordMaker, chain: AccountChain, micros: int, clock_id: int) -> list[Change]:
    rng = maker.rng
    if chain.paths and rng.random() < _DELETE_SHARE:
        return [(rng.choice(chain.paths), None)]
    if rng.random() < _THREAD_SHARE:
        return [
            (f"{POST}/{tid_from_parts(micros, (clock_id + k) % 1024)}", maker.record(POST, micros))
            for k in range(rng.randrange(2, 5))
        ]
    collection = maker.collection()
    return [(f"{collection}/{tid_from_parts(micros, clock_id)}", maker.record(collection, micros))]


__all__ = [
    "FORMAT_VERSION",
    "PLACEHOLDER_ENDPOINT",
    "Dataset",
    "DatasetSpec",
    "SimAccount",
    "account_key",
    "generate",
    "load_dataset",
    "make_account",
]
