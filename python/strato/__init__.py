"""strato: a fast, strict AT Protocol stack with a Rust core.

The byte layer: :class:`CID`, :mod:`strato.dagcbor` (DAG-CBOR and atproto JSON) and
:mod:`strato.car` (CAR files); keys and signatures in :mod:`strato.crypto`; repositories (the
Merkle Search Tree, commits, whole-repo verification, and repositories stored in LMDB through
:mod:`strato.storage`) in :mod:`strato.repo`; firehose event verification in
:mod:`strato.sync`; identifiers in :mod:`strato.syntax`. Errors live in :mod:`strato.errors`.

The layers above are imported by name, as they pull in their own dependencies (LMDB, HTTP):
:mod:`strato.lexicon` (lexicon validation), :mod:`strato.identity` (DID, handle and lexicon
resolution; the did:plc method in :mod:`strato.identity.plc`), :mod:`strato.xrpc`,
:mod:`strato.firehose` (event streams), :mod:`strato.service` (what every server shares). The
services, :mod:`strato.plc`, :mod:`strato.pds` and :mod:`strato.relay`, import those and never
each other; :mod:`strato.cli` is the ``strato`` command that runs them.
"""

from __future__ import annotations

from strato import car, crypto, dagcbor, errors, repo, sync, syntax
from strato._core import CID, __version__

__all__ = ["CID", "__version__", "car", "crypto", "dagcbor", "errors", "repo", "sync", "syntax"]
