"""Random write batches against a dict model: the repository holds what the model holds, refuses
exactly the batches the model refuses (writing nothing), every commit's event verifies strictly
against the one before, and the stored blocks are exactly those the current commit reaches."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from repo_helpers import DID, event, reachable
from strato import CID, dagcbor
from strato.crypto import PrivateKey
from strato.errors import InvalidWriteError, RecordExistsError, RecordNotFoundError, RepoError
from strato.repo import CommitData, Create, Delete, Repo, Update, Write
from strato.repo.verify import verify_repo
from strato.sync import verify_commit_event

KEY = PrivateKey.generate("k256")
COLLECTIONS = ("com.example.alpha", "com.example.beta")
RKEYS = tuple(f"r{n}" for n in range(10))

Model = dict[tuple[str, str], int]

#: "auto" picks the write that fits the model (create when absent, else update or delete by
#: the value's parity), so most batches succeed; the others are often refused.
writes = st.tuples(
    st.sampled_from(("auto",) * 24 + ("create", "update", "delete")),
    st.sampled_from(COLLECTIONS),
    st.sampled_from(RKEYS),
    st.integers(0, 3),
)
batches = st.lists(
    st.tuples(
        st.lists(writes, max_size=8, unique_by=lambda w: (w[1], w[2])),
        st.integers(0, 7).map(lambda n: n == 0),
    ),
    min_size=1,
    max_size=12,
)
Batch = list[tuple[str, str, str, int]]


def resolve(model: Model, drawn: tuple[Batch, bool]) -> Batch:
    """The batch with "auto" writes decided, and the first write repeated when drawn so."""
    batch = []
    for drawn_action, collection, rkey, n in drawn[0]:
        action = drawn_action
        if action == "auto":
            if (collection, rkey) not in model:
                action = "create"
            else:
                action = "update" if n % 2 else "delete"
        batch.append((action, collection, rkey, n))
    if drawn[1] and batch:
        batch.append(batch[0])
    return batch


def value(collection: str, n: int) -> dict[str, object]:
    return {"$type": collection, "n": n}


def expected_error(model: Model, batch: Batch) -> type[RepoError] | None:
    seen: set[tuple[str, str]] = set()
    for action, collection, rkey, _ in batch:
        path = (collection, rkey)
        if path in seen:
            return InvalidWriteError
        seen.add(path)
        if action == "create" and path in model:
            return RecordExistsError
        if action != "create" and path not in model:
            return RecordNotFoundError
    return None


def to_write(action: str, collection: str, rkey: str, n: int) -> Write:
    if action == "create":
        return Create(collection, value(collection, n), rkey=rkey)
    if action == "update":
        return Update(collection, rkey, value(collection, n))
    return Delete(collection, rkey)


def contents(repo: Repo) -> dict[tuple[str, str], bytes]:
    found = {}
    for collection in repo.collections():
        for record in repo.list_records(collection, limit=100).records:
            found[(collection, record.rkey)] = record.value
    return found


@given(batches)
def test_random_batches_match_a_dict_model(plan: list[tuple[Batch, bool]]) -> None:
    model: Model = {}
    with tempfile.TemporaryDirectory() as tmp, Repo.open(Path(tmp), DID, KEY, sync=False) as repo:
        previous: CommitData = repo.create()
        for drawn in plan:
            batch = resolve(model, drawn)
            error = expected_error(model, batch)
            before = repo.latest()
            if error is not None:
                with pytest.raises(error):
                    repo.apply_writes([to_write(*write) for write in batch])
                assert repo.latest() == before
                continue
            commit = repo.apply_writes([to_write(*write) for write in batch])
            for action, collection, rkey, n in batch:
                if action == "delete":
                    del model[(collection, rkey)]
                else:
                    model[(collection, rkey)] = n
            verified = verify_commit_event(
                event(commit),
                KEY.public_key.did_key(),
                prev_rev=previous.rev,
                prev_data=previous.data,
            )
            assert verified.inversion_checked
            previous = commit
            expected = {path: dagcbor.encode(value(path[0], n)) for path, n in model.items()}
            assert contents(repo) == expected
        exported = repo.export_bytes()
        report = verify_repo(exported, did_key=KEY.public_key.did_key(), did=DID)
        assert {path: cid for path, cid in report.records} == {
            f"{c}/{r}": CID.compute(dagcbor.encode(value(c, n))) for (c, r), n in model.items()
        }
        stored, wanted = reachable(exported)
        assert stored == wanted
