"""``com.atproto.repo`` blobs over HTTP: uploadBlob (streaming, sniffing, the size limit), the
blob references a record write records (and refuses when the blob was never uploaded), and
getBlob/listBlobs serving what records reference."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from pds_net import LocalPds, local_network
from pds_repo_helpers import PNG, POST, User, error_of, nothing_written, post, tid, user

UPLOAD = "com.atproto.repo.uploadBlob"


def upload(alice: User, data: bytes, content_type: str = "application/octet-stream") -> Any:
    """uploadBlob; the blob reference."""
    out = alice.ok(UPLOAD, content=data, headers={"Content-Type": content_type})
    return out["blob"]


def with_image(blob: dict[str, Any], text: str = "look") -> dict[str, Any]:
    """A post embedding ``blob`` as an image."""
    images = {"$type": "app.bsky.embed.images", "images": [{"image": blob, "alt": "a"}]}
    return post(text, embed=images)


def test_upload_reference_serve_and_unreference(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    blob = upload(alice, PNG)
    assert blob["$type"] == "blob"
    assert blob["mimeType"] == "image/png"  # sniffed, not the declared type
    assert blob["size"] == len(PNG)
    cid = blob["ref"]["$link"]
    text = upload(alice, b"plain words", "text/plain; charset=utf-8")
    assert text["mimeType"] == "text/plain"
    # not referenced yet: not served, not listed
    params = {"did": alice.did, "cid": cid}
    assert error_of(pds.xrpc("com.atproto.sync.getBlob", params=params)) == (
        400, "InvalidRequest",
    )  # fmt: skip
    written = alice.create(with_image(blob), rkey=tid(1))
    assert written["validationStatus"] == "valid"
    served = pds.xrpc("com.atproto.sync.getBlob", params=params)
    assert served.status_code == 200
    assert served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["content-length"] == str(len(PNG))
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"
    listed = pds.xrpc("com.atproto.sync.listBlobs", params={"did": alice.did}).json()
    assert listed["cids"] == [cid]
    # the commit's event names the blob
    alice.ok("com.atproto.repo.deleteRecord",
             json={"repo": alice.did, "collection": POST, "rkey": tid(1)})  # fmt: skip
    assert pds.xrpc("com.atproto.sync.listBlobs", params={"did": alice.did}).json() == {"cids": []}


def test_a_record_referencing_a_blob_never_uploaded_is_refused(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    bob = user(pds, "bob")
    mine = upload(alice, PNG)
    ghost = {
        **mine,
        "ref": {"$link": "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"},
    }
    with nothing_written(pds, alice, bob):
        refused = alice.call("com.atproto.repo.createRecord",
                             json={"repo": alice.did, "collection": POST,
                                   "record": with_image(ghost)})  # fmt: skip
        assert error_of(refused) == (400, "BlobNotFound")
        # another account's upload is not this account's blob
        theirs = bob.call("com.atproto.repo.createRecord",
                          json={"repo": bob.did, "collection": POST,
                                "record": with_image(mine)})  # fmt: skip
        assert error_of(theirs) == (400, "BlobNotFound")
        wrong_type = {**mine, "mimeType": "image/jpeg"}
        mismatch = alice.call("com.atproto.repo.createRecord",
                              json={"repo": alice.did, "collection": POST,
                                    "record": with_image(wrong_type)})  # fmt: skip
        assert error_of(mismatch) == (400, "InvalidMimeType")
        wrong_size = {**mine, "size": mine["size"] + 1}
        mismatch = alice.call("com.atproto.repo.createRecord",
                              json={"repo": alice.did, "collection": POST,
                                    "record": with_image(wrong_size)})  # fmt: skip
        assert error_of(mismatch) == (400, "InvalidSize")
        batch = alice.call("com.atproto.repo.applyWrites", json={"repo": alice.did, "writes": [
            {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
             "value": post()},
            {"$type": "com.atproto.repo.applyWrites#create", "collection": POST,
             "value": with_image(ghost)},
        ]})  # fmt: skip
        assert error_of(batch) == (400, "BlobNotFound")
    assert pds.xrpc("com.atproto.sync.listBlobs", params={"did": alice.did}).json() == {"cids": []}


def _chunks(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        yield b"x" * 256
        sent += 256


def test_uploads_over_the_limit_and_bad_uploads(tmp_path: Path) -> None:
    with local_network(tmp_path, blob_limit=1000) as pds:
        alice = user(pds, "alice")
        tmp_dir = pds.settings.data_dir / "tmp"
        declared = alice.call(UPLOAD, content=b"x" * 1001,
                              headers={"Content-Type": "text/plain"})  # fmt: skip
        assert error_of(declared) == (413, "PayloadTooLarge")
        with httpx.Client(base_url=pds.url, timeout=30.0) as client:
            streamed = client.post(
                f"/xrpc/{UPLOAD}", content=_chunks(4096),
                headers={"Authorization": f"Bearer {alice.token}",
                         "Content-Type": "text/plain"},
            )  # fmt: skip
        assert error_of(streamed) == (413, "PayloadTooLarge")
        assert list(tmp_dir.iterdir()) == []
        assert list((pds.settings.data_dir / "blobs").rglob("b*")) == []
        exact = upload(alice, b"y" * 1000, "text/plain")
        assert exact["size"] == 1000
        anonymous = pds.xrpc(UPLOAD, content=b"x", headers={"Content-Type": "text/plain"})
        assert error_of(anonymous) == (401, "AuthMissing")
        no_type = pds.xrpc(UPLOAD, token=alice.token, content=b"x")
        assert error_of(no_type) == (400, "InvalidRequest")


def test_list_blobs_pages_and_since(pds: LocalPds) -> None:
    alice = user(pds, "alice")
    cids = []
    for i in range(3):
        blob = upload(alice, PNG + bytes([i]))
        cids.append(blob["ref"]["$link"])
        written = alice.create(with_image(blob), rkey=tid(i))
        if i == 0:
            first_rev = written["commit"]["rev"]

    def listed(**params: object) -> dict[str, Any]:
        response = pds.xrpc("com.atproto.sync.listBlobs", params={"did": alice.did, **params})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    assert listed()["cids"] == sorted(cids)
    page = listed(limit=2)
    assert page["cids"] == sorted(cids)[:2]
    assert listed(limit=2, cursor=page["cursor"])["cids"] == sorted(cids)[2:]
    assert sorted(listed(since=first_rev)["cids"]) == sorted(cids[1:])
    assert error_of(pds.xrpc("com.atproto.sync.listBlobs", params={"did": alice.did,
                                                                   "since": "x"})) == (
        400, "InvalidRequest",
    )  # fmt: skip
