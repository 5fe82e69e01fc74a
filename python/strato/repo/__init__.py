"""Repositories over the Rust core: the Merkle Search Tree (:mod:`strato.repo.mst`), signed
commits and revs (:mod:`strato.repo.commit`), verification of a whole repository export
(:mod:`strato.repo.verify`), and repositories stored in LMDB: :class:`RepoStore`
(:mod:`strato.repo.store`, inside a caller's transaction, for the PDS) and :class:`Repo`
(:mod:`strato.repo.local`, one transaction per call), written with the batches of
:mod:`strato.repo.writes`."""

from __future__ import annotations

from strato.repo import commit, mst, verify
from strato.repo.local import Repo
from strato.repo.store import (
    REPO_TABLES,
    ImportResult,
    RecordData,
    RecordPage,
    RepoHead,
    RepoStore,
    Staging,
)
from strato.repo.writes import (
    UNCHECKED,
    CommitData,
    Create,
    Delete,
    Update,
    Write,
    WriteResult,
    blob_refs,
)

__all__ = [
    "REPO_TABLES",
    "UNCHECKED",
    "CommitData",
    "Create",
    "Delete",
    "ImportResult",
    "RecordData",
    "RecordPage",
    "Repo",
    "RepoHead",
    "RepoStore",
    "Staging",
    "Update",
    "Write",
    "WriteResult",
    "blob_refs",
    "commit",
    "mst",
    "verify",
]
