"""Blobs of the PDS: uploads streamed to content-addressed files, references from records,
listing, takedowns and garbage collection (:mod:`.store`); MIME sniffing (:mod:`.sniff`); the
blob references in a record (:mod:`.refs`).

Errors are :class:`strato.errors.BlobError` and its subclasses, each with a ``reason`` and the
``cid`` concerned.
"""

from __future__ import annotations

from strato.pds.blobs.refs import BlobRef, blob_refs
from strato.pds.blobs.sniff import sniff_mime_type
from strato.pds.blobs.store import (
    BLOB_TABLES,
    DEFAULT_BLOB_LIMIT,
    DEFAULT_TEMP_GRACE,
    FALLBACK_MIME_TYPE,
    BlobFile,
    BlobStore,
    GcReport,
    MissingBlob,
    StoredBlob,
)

__all__ = [
    "BLOB_TABLES",
    "DEFAULT_BLOB_LIMIT",
    "DEFAULT_TEMP_GRACE",
    "FALLBACK_MIME_TYPE",
    "BlobFile",
    "BlobRef",
    "BlobStore",
    "GcReport",
    "MissingBlob",
    "StoredBlob",
    "blob_refs",
    "sniff_mime_type",
]
