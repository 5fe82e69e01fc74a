"""The load generator's datasets: every generated ``#commit`` is a valid sync 1.1 event that
chains on the one before it (checked by the Rust verifier), frames carry each host's seqs, the
record mix has creates of every kind and deletes, and a dataset is cached by its spec."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from loadgen import Dataset, DatasetSpec, load_dataset
from loadgen.records import FOLLOW, LIKE, POST, REPOST
from strato import CID
from strato.firehose import decode_frame
from strato.sync import MAX_COMMIT_BLOCKS, verify_commit_event

SPEC = DatasetSpec(hosts=3, accounts_per_host=4, events=240, base_records=40, seed=7)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return load_dataset(SPEC, tmp_path_factory.mktemp("loadgen"))


def test_every_commit_verifies_chained(dataset: Dataset) -> None:
    heads: dict[str, tuple[str, CID]] = {}
    verified = 0
    for host, frames in enumerate(dataset.host_frames):
        hosted = dataset.host_accounts(host)
        for position, data in enumerate(frames):
            frame = decode_frame(data)
            assert frame.t == "#commit"
            assert frame.seq == position + 1
            index = dataset.host_owners[host][position]
            assert index in hosted
            account = dataset.accounts[index]
            assert frame.body["repo"] == account.did
            if account.did not in heads:
                base = dataset.base_chain(index)
                heads[account.did] = (base.rev, base.root)
            prev_rev, prev_data = heads[account.did]
            result = verify_commit_event(
                frame.body,
                account.key.public_key.did_key(),
                prev_rev=prev_rev,
                prev_data=prev_data,
            )
            assert result.signature_checked
            assert result.inversion_checked
            assert result.prev_data_checked
            assert not result.warnings
            assert frame.body["since"] == prev_rev
            assert len(frame.body["blocks"]) < MAX_COMMIT_BLOCKS
            heads[account.did] = (result.rev, result.data_cid)
            verified += 1
    assert verified == SPEC.events
    assert sum(len(frames) for frames in dataset.host_frames) == SPEC.events


def test_revs_are_unique_and_increase_on_each_host(dataset: Dataset) -> None:
    seen: set[str] = set()
    for frames in dataset.host_frames:
        revs = [decode_frame(data).body["rev"] for data in frames]
        assert revs == sorted(revs)
        seen.update(revs)
    assert len(seen) == SPEC.events


def test_record_mix(dataset: Dataset) -> None:
    actions: Counter[str] = Counter()
    for frames in dataset.host_frames:
        for data in frames:
            for op in decode_frame(data).body["ops"]:
                kind = op["path"].split("/")[0] if op["action"] == "create" else op["action"]
                actions[kind] += 1
    assert set(actions) == {POST, LIKE, FOLLOW, REPOST, "delete"}
    assert actions[POST] > actions[LIKE] > actions[FOLLOW]
    assert actions["delete"] < actions[LIKE]


def test_accounts_are_distinct_did_plc_with_their_host(dataset: Dataset) -> None:
    dids = [account.did for account in dataset.accounts]
    assert len(set(dids)) == SPEC.accounts
    assert all(did.startswith("did:plc:") for did in dids)
    assert [account.host for account in dataset.accounts] == [
        i // SPEC.accounts_per_host for i in range(SPEC.accounts)
    ]
    genesis = dataset.accounts[0].genesis
    assert genesis["verificationMethods"]["atproto"] == (
        dataset.accounts[0].key.public_key.did_key()
    )


def test_cached_by_spec(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = dataset.path.parent
    stamp = (dataset.path / "frames.bin").stat().st_mtime_ns
    again = load_dataset(SPEC, cache)
    assert again.path == dataset.path
    assert (again.path / "frames.bin").stat().st_mtime_ns == stamp
    assert again.host_frames == dataset.host_frames
    other = load_dataset(DatasetSpec(hosts=1, accounts_per_host=2, events=5, seed=7), cache)
    assert other.path != dataset.path
    assert sorted(path.name for path in Path(cache).iterdir()) == sorted(
        [dataset.path.name, other.path.name]
    )


def test_same_seed_same_accounts_and_records(tmp_path: Path) -> None:
    spec = DatasetSpec(hosts=1, accounts_per_host=2, events=6, base_records=5, seed=3)
    first = load_dataset(spec, tmp_path / "a")
    second = load_dataset(spec, tmp_path / "b")
    assert [a.did for a in first.accounts] == [a.did for a in second.accounts]
    assert first.host_owners == second.host_owners

    def shape(dataset: Dataset) -> list[list[tuple[str, str]]]:
        return [
            [(op["action"], op["path"].split("/")[0]) for op in decode_frame(data).body["ops"]]
            for data in dataset.host_frames[0]
        ]

    assert shape(first) == shape(second)
    assert len(shape(first)) == 6


def test_empty_dataset_and_bad_spec(tmp_path: Path) -> None:
    empty = load_dataset(DatasetSpec(hosts=2, accounts_per_host=1, events=0), tmp_path)
    assert empty.host_frames == [[], []]
    with pytest.raises(ValueError, match="a dataset needs"):
        load_dataset(DatasetSpec(hosts=0), tmp_path)
