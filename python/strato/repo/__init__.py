"""Repositories over the Rust core: the Merkle Search Tree (:mod:`strato.repo.mst`), signed
commits and revs (:mod:`strato.repo.commit`), and verification of a whole repository export
(:mod:`strato.repo.verify`)."""

from __future__ import annotations

from strato.repo import commit, mst, verify

__all__ = ["commit", "mst", "verify"]
