"""strato: a fast, strict AT Protocol stack with a Rust core.

The byte layer: :class:`CID`, :mod:`strato.dagcbor` (DAG-CBOR and atproto JSON) and
:mod:`strato.car` (CAR files); keys and signatures in :mod:`strato.crypto`. Errors live in
:mod:`strato.errors`.
"""

from __future__ import annotations

from strato import car, crypto, dagcbor, errors
from strato._core import CID, __version__

__all__ = ["CID", "__version__", "car", "crypto", "dagcbor", "errors"]
