"""The blob references a record holds, at any depth.

A record refers to a blob with a blob object, ``{"$type": "blob", "ref": <CID link>,
"mimeType": ..., "size": ...}`` (spec: data model, blob type), or, in old records, the legacy
form ``{"cid": "<CID string>", "mimeType": ...}`` with no size. The PDS collects every one when
a record is written, to make those blobs permanent
(:meth:`strato.pds.blobs.BlobStore.set_record_blobs`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from strato import CID


class BlobRef(msgspec.Struct, frozen=True, kw_only=True):
    """One reference from a record to a blob; ``size`` is None in the legacy form."""

    cid: str
    mime_type: str
    size: int | None


def blob_refs(record: Any) -> list[BlobRef]:
    """Every blob reference in a decoded record (DAG-CBOR values: dicts, lists, CIDs...), in
    document order, repeats included."""
    found: list[BlobRef] = []
    stack = [record]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            ref = _as_blob_ref(value)
            if ref is not None:
                found.append(ref)
                continue
            stack.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            stack.extend(reversed(value))
    return found


def _as_blob_ref(value: dict[str, Any]) -> BlobRef | None:
    mime = value.get("mimeType")
    if not isinstance(mime, str):
        return None
    if value.get("$type") == "blob":
        link, size = value.get("ref"), value.get("size")
        if isinstance(link, CID) and type(size) is int:
            return BlobRef(cid=link.encode(), mime_type=mime, size=size)
        return None
    legacy = value.get("cid")
    if value.keys() == {"cid", "mimeType"} and isinstance(legacy, str):
        try:
            return BlobRef(cid=CID.decode(legacy).encode(), mime_type=mime, size=None)
        except ValueError:
            return None
    return None
