"""Collecting the blob references of a record."""

from __future__ import annotations

from typing import Any

from strato import CID, dagcbor
from strato.pds.blobs import BlobRef, blob_refs

IMAGE = CID.compute(b"image", codec="raw").encode()
VIDEO = CID.compute(b"video", codec="raw").encode()
OLD = CID.compute(b"old", codec="raw").encode()


def _blob(cid: str, mime: str, size: int) -> dict[str, Any]:
    return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": size}


def test_refs_at_any_depth_in_document_order() -> None:
    record = dagcbor.from_json(
        {
            "$type": "app.bsky.feed.post",
            "text": "hi",
            "embed": {
                "$type": "app.bsky.embed.images",
                "images": [
                    {"image": _blob(IMAGE, "image/png", 10), "alt": ""},
                    {"image": _blob(VIDEO, "video/mp4", 20), "alt": ""},
                ],
            },
            "legacy": {"cid": OLD, "mimeType": "image/jpeg"},
            "again": [[_blob(IMAGE, "image/png", 10)]],
        }
    )
    assert blob_refs(record) == [
        BlobRef(cid=IMAGE, mime_type="image/png", size=10),
        BlobRef(cid=VIDEO, mime_type="video/mp4", size=20),
        BlobRef(cid=OLD, mime_type="image/jpeg", size=None),
        BlobRef(cid=IMAGE, mime_type="image/png", size=10),
    ]


def test_things_that_are_not_blob_refs() -> None:
    link = CID.decode(IMAGE)
    record = {
        "text": "no blobs",
        "a": {"$type": "blob", "ref": IMAGE, "mimeType": "image/png", "size": 1},  # str ref
        "b": {"$type": "blob", "ref": link, "mimeType": "image/png", "size": True},
        "c": {"$type": "blob", "ref": link, "size": 1},  # no mimeType
        "d": {"cid": "not a cid", "mimeType": "image/png"},
        "e": {"cid": OLD, "mimeType": "image/png", "extra": 1},  # not the legacy shape
        "f": {"$type": "other", "ref": link, "mimeType": "image/png", "size": 1},
        "g": link,
    }
    assert blob_refs(record) == []
    assert blob_refs("scalar") == []
