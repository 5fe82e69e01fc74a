"""strato: a fast, strict AT Protocol stack with a Rust core.

The byte layer: :class:`CID`, :mod:`strato.dagcbor` (DAG-CBOR and atproto JSON) and
:mod:`strato.car` (CAR files); keys and signatures in :mod:`strato.crypto`; repositories (the
Merkle Search Tree, commits, whole-repo verification) in :mod:`strato.repo`; firehose event
verification in :mod:`strato.sync`. Errors live in :mod:`strato.errors`.
"""

from __future__ import annotations

from strato import car, crypto, dagcbor, errors, repo, sync
from strato._core import CID, __version__

__all__ = ["CID", "__version__", "car", "crypto", "dagcbor", "errors", "repo", "sync"]
