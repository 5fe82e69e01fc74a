"""Repositories: the Merkle Search Tree (:mod:`strato.repo.mst`) over the Rust core."""

from __future__ import annotations

from strato.repo import mst

__all__ = ["mst"]
