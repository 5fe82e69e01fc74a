"""BlobStore: streaming uploads (limits, sniffing, nothing left behind), references from
records, serving, listing, takedowns, account deletion, garbage collection, persistence."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pds_store_helpers import ALICE, BOB, HOUR_MS, Clock, open_store
from strato import CID
from strato.errors import (
    BlobError,
    BlobMismatchError,
    BlobNotFoundError,
    BlobTakenDownError,
    BlobTooLargeError,
)
from strato.pds.blobs import (
    BLOB_TABLES,
    DEFAULT_BLOB_LIMIT,
    DEFAULT_TEMP_GRACE,
    BlobRef,
    BlobStore,
    GcReport,
    MissingBlob,
    StoredBlob,
)
from strato.storage import Store

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
LIMIT = 4096
POST = "app.bsky.feed.post/3kabc"
OTHER_POST = "app.bsky.feed.post/3kxyz"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "pds", (*BLOB_TABLES, "caller")) as opened:
        yield opened


@pytest.fixture
def blobs(store: Store, tmp_path: Path, clock: Clock) -> BlobStore:
    return BlobStore(store, tmp_path / "blobdir", max_size=LIMIT, clock=clock)


async def _chunks(data: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _upload(
    blobs: BlobStore,
    data: bytes,
    did: str = ALICE,
    *,
    mime_type: str | None = None,
    expected_size: int | None = None,
) -> StoredBlob:
    return asyncio.run(
        blobs.upload(did, _chunks(data), mime_type=mime_type, expected_size=expected_size)
    )


def _ref(blob: StoredBlob) -> BlobRef:
    return BlobRef(cid=blob.cid, mime_type=blob.mime_type, size=blob.size)


def _reference(
    store: Store, blobs: BlobStore, did: str, path: str, refs: list[BlobRef], *, rev: str = "3k1"
) -> None:
    with store.write() as txn:
        blobs.set_record_blobs(txn, did, path, refs, rev)


def _files(blobs: BlobStore) -> list[Path]:
    return sorted(path for path in blobs.directory.rglob("*") if path.is_file())


def _rows(store: Store) -> dict[str, int]:
    with store.read() as txn:
        return {table: txn.count(table) for table in BLOB_TABLES if txn.count(table)}


# -- uploads ---------------------------------------------------------------------------------


def test_defaults() -> None:
    assert DEFAULT_BLOB_LIMIT == 100 * 1024 * 1024
    assert DEFAULT_TEMP_GRACE >= HOUR_MS


def test_upload_stores_a_temporary_blob(blobs: BlobStore) -> None:
    stored = _upload(blobs, PNG, mime_type="application/octet-stream")
    assert stored == StoredBlob(
        cid=CID.compute(PNG, codec="raw").encode(), mime_type="image/png", size=len(PNG)
    )
    path = blobs.path_of(stored.cid)
    digest = hashlib.sha256(PNG).hexdigest()
    assert path == blobs.directory / "blobs" / digest[:2] / digest[2:4] / stored.cid
    assert path.read_bytes() == PNG
    assert _files(blobs) == [path]  # nothing else: the temporary upload was moved into place
    with pytest.raises(BlobNotFoundError) as caught:  # temporary: not served
        blobs.blob(ALICE, stored.cid)
    assert caught.value.reason == "blob not found"
    assert blobs.list_blobs(ALICE) == ([], None)


@pytest.mark.parametrize(
    ("data", "declared", "mime"),
    [
        (b"plain words", "text/plain; charset=utf-8", "text/plain"),
        (b"plain words", "Text/Markdown", "text/markdown"),
        (b"plain words", None, "application/octet-stream"),
        (b"plain words", "nonsense", "application/octet-stream"),
        (b"plain words", "bad type/x", "application/octet-stream"),
        (PNG, "image/jpeg", "image/png"),  # the bytes win over the declaration
        (b"", "text/plain", "text/plain"),  # an empty blob is allowed
    ],
)
def test_mime_type(blobs: BlobStore, data: bytes, declared: str | None, mime: str) -> None:
    stored = _upload(blobs, data, mime_type=declared)
    assert stored.mime_type == mime
    assert stored.size == len(data)


def test_an_upload_at_the_limit_is_accepted(blobs: BlobStore) -> None:
    assert _upload(blobs, bytes(LIMIT), expected_size=LIMIT).size == LIMIT


def test_an_upload_over_the_limit_leaves_nothing(store: Store, blobs: BlobStore) -> None:
    with pytest.raises(BlobTooLargeError) as caught:
        _upload(blobs, bytes(LIMIT + 1))
    assert caught.value.reason == f"blob is larger than the {LIMIT}-byte limit"
    assert _files(blobs) == []
    assert _rows(store) == {}


def test_a_declared_size_over_the_limit_is_refused_before_reading(blobs: BlobStore) -> None:
    read = []

    async def body() -> AsyncIterator[bytes]:
        read.append(True)
        yield b"x"

    with pytest.raises(BlobTooLargeError):
        asyncio.run(blobs.upload(ALICE, body(), expected_size=LIMIT + 1))
    assert read == []
    assert _files(blobs) == []


@pytest.mark.parametrize(
    ("data", "expected", "reason"),
    [
        (b"12345", 4, "body is longer than the declared 4 bytes"),
        (b"123", 4, "body is 3 bytes, not the declared 4"),
    ],
)
def test_body_length_must_match_the_declared_size(
    store: Store, blobs: BlobStore, data: bytes, expected: int, reason: str
) -> None:
    with pytest.raises(BlobError) as caught:
        _upload(blobs, data, expected_size=expected)
    assert caught.value.reason == reason
    assert _files(blobs) == []
    assert _rows(store) == {}


def test_a_broken_upload_leaves_nothing(store: Store, blobs: BlobStore) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        asyncio.run(blobs.upload(ALICE, body()))
    assert _files(blobs) == []
    assert _rows(store) == {}


def test_uploading_again_is_a_no_op(store: Store, blobs: BlobStore) -> None:
    first = _upload(blobs, PNG)
    assert _upload(blobs, PNG) == first
    assert len(_files(blobs)) == 1
    assert _rows(store) == {"blobs": 1, "blob_owners": 1, "blob_temp": 1}


def test_accounts_share_one_file(store: Store, blobs: BlobStore) -> None:
    first = _upload(blobs, PNG, ALICE)
    assert _upload(blobs, PNG, BOB) == first
    assert len(_files(blobs)) == 1
    _reference(store, blobs, BOB, POST, [_ref(first)])
    with pytest.raises(BlobNotFoundError):  # Alice's copy is still temporary
        blobs.blob(ALICE, first.cid)
    assert blobs.blob(BOB, first.cid).path.read_bytes() == PNG


# -- references from records -----------------------------------------------------------------


def test_a_referenced_blob_is_served_and_listed(store: Store, blobs: BlobStore) -> None:
    stored = _upload(blobs, PNG)
    _reference(store, blobs, ALICE, POST, [_ref(stored)])
    served = blobs.blob(ALICE, stored.cid)
    assert (served.cid, served.mime_type, served.size) == (stored.cid, "image/png", len(PNG))
    assert served.path.read_bytes() == PNG
    assert blobs.list_blobs(ALICE) == ([stored.cid], None)
    assert blobs.list_blobs(BOB) == ([], None)
    with pytest.raises(BlobNotFoundError):
        blobs.blob(BOB, stored.cid)


def test_a_legacy_reference_has_no_size_to_check(store: Store, blobs: BlobStore) -> None:
    stored = _upload(blobs, PNG)
    _reference(
        store, blobs, ALICE, POST, [BlobRef(cid=stored.cid, mime_type="image/png", size=None)]
    )
    assert blobs.blob(ALICE, stored.cid).size == len(PNG)


@pytest.mark.parametrize(
    ("mime", "size", "reason"),
    [
        ("image/jpeg", None, "reference says 'image/jpeg', the blob is 'image/png'"),
        ("image/png", 5, f"reference says 5 bytes, the blob has {len(PNG)}"),
    ],
)
def test_references_must_match_the_blob(
    store: Store, blobs: BlobStore, mime: str, size: int | None, reason: str
) -> None:
    stored = _upload(blobs, PNG)
    before = _rows(store)
    with pytest.raises(BlobMismatchError) as caught:
        _reference(store, blobs, ALICE, POST, [BlobRef(cid=stored.cid, mime_type=mime, size=size)])
    assert caught.value.reason == reason
    assert caught.value.cid == stored.cid
    assert _rows(store) == before


def test_a_reference_to_a_blob_never_uploaded(store: Store, blobs: BlobStore) -> None:
    cid = CID.compute(b"never uploaded", codec="raw").encode()
    uploaded = _upload(blobs, PNG)
    before = _rows(store)
    with pytest.raises(BlobNotFoundError) as caught:
        _reference(
            store,
            blobs,
            ALICE,
            POST,
            [_ref(uploaded), BlobRef(cid=cid, mime_type="image/png", size=1)],
        )
    assert caught.value.reason == "record references a blob that was not uploaded"
    assert caught.value.cid == cid
    assert _rows(store) == before  # the good reference was not written either


def test_references_commit_with_the_callers_transaction(store: Store, blobs: BlobStore) -> None:
    stored = _upload(blobs, PNG)
    with pytest.raises(RuntimeError, match="commit failed"):
        _reference_then_fail(store, blobs, stored)
    with pytest.raises(BlobNotFoundError):
        blobs.blob(ALICE, stored.cid)


def _reference_then_fail(store: Store, blobs: BlobStore, stored: StoredBlob) -> None:
    with store.write() as txn:
        blobs.set_record_blobs(txn, ALICE, POST, [_ref(stored)], "3k1")
        raise RuntimeError("commit failed")


def test_dereferenced_blobs_become_temporary(store: Store, blobs: BlobStore, clock: Clock) -> None:
    shared = _upload(blobs, PNG)
    own = _upload(blobs, b"only in one post", mime_type="text/plain")
    _reference(store, blobs, ALICE, POST, [_ref(shared), _ref(own)])
    _reference(store, blobs, ALICE, OTHER_POST, [_ref(shared)])
    _reference(store, blobs, ALICE, POST, [])  # the first post is deleted
    assert blobs.blob(ALICE, shared.cid).cid == shared.cid  # the other post still has it
    with pytest.raises(BlobNotFoundError):
        blobs.blob(ALICE, own.cid)
    assert blobs.list_blobs(ALICE) == ([shared.cid], None)
    # re-referenced within the grace period (a record deleted and written again): served again
    clock.advance_ms(HOUR_MS)
    _reference(store, blobs, ALICE, POST, [_ref(own)])
    assert blobs.blob(ALICE, own.cid).size == len(b"only in one post")
    # updating a record to drop one of its blobs
    _reference(store, blobs, ALICE, OTHER_POST, [])
    with pytest.raises(BlobNotFoundError):
        blobs.blob(ALICE, shared.cid)


def test_imported_records_may_reference_missing_blobs(store: Store, blobs: BlobStore) -> None:
    data = [bytes([i]) * 10 for i in range(5)]
    cids = [CID.compute(chunk, codec="raw").encode() for chunk in data]
    with store.write() as txn:
        for i, cid in enumerate(cids):
            ref = BlobRef(cid=cid, mime_type="application/octet-stream", size=10)
            blobs.set_record_blobs(
                txn, ALICE, f"app.bsky.feed.post/{i}", [ref], "3k1", allow_missing=True
            )
    order = sorted(range(5), key=lambda i: cids[i])
    expected = [MissingBlob(cid=cids[i], record_path=f"app.bsky.feed.post/{i}") for i in order]
    page, cursor = blobs.list_missing_blobs(ALICE, limit=3)
    assert page == expected[:3]
    assert cursor == expected[2].cid
    assert blobs.list_missing_blobs(ALICE, cursor=cursor, limit=3) == (expected[3:], None)
    assert blobs.blob_counts(ALICE) == (5, 0)
    for chunk in data[:2]:
        _upload(blobs, chunk)  # the migration copies blobs over
    assert blobs.blob_counts(ALICE) == (5, 2)
    assert [m.cid for m in blobs.list_missing_blobs(ALICE)[0]] == sorted(cids[2:])
    served = blobs.blob(ALICE, cids[0])  # referenced already, so permanent at once
    assert served.path.read_bytes() == data[0]
    assert sorted(blobs.list_blobs(ALICE)[0]) == sorted(cids[:2])


def test_list_blobs_pages_and_since(store: Store, blobs: BlobStore) -> None:
    stored = [_upload(blobs, f"blob {i}".encode()) for i in range(6)]
    for i, blob in enumerate(stored):
        _reference(store, blobs, ALICE, f"app.bsky.feed.post/{i}", [_ref(blob)], rev=f"3k{i}")
    cids = sorted(blob.cid for blob in stored)
    page, cursor = blobs.list_blobs(ALICE, limit=4)
    assert page == cids[:4]
    assert cursor == cids[3]
    assert blobs.list_blobs(ALICE, cursor=cursor, limit=4) == (cids[4:], None)
    recent = sorted(blob.cid for blob in stored[3:])
    assert blobs.list_blobs(ALICE, since="3k2") == (recent, None)
    assert blobs.list_blobs(ALICE, since="3k9") == ([], None)
    # a blob counts as recent when any record referencing it is
    _reference(store, blobs, ALICE, OTHER_POST, [_ref(stored[0])], rev="3k7")
    assert blobs.list_blobs(ALICE, since="3k6") == ([stored[0].cid], None)


# -- serving, takedowns ----------------------------------------------------------------------


def test_a_missing_file(store: Store, blobs: BlobStore) -> None:
    stored = _upload(blobs, PNG)
    _reference(store, blobs, ALICE, POST, [_ref(stored)])
    blobs.path_of(stored.cid).unlink()
    with pytest.raises(BlobNotFoundError) as caught:
        blobs.blob(ALICE, stored.cid)
    assert caught.value.reason == "blob file is missing"


@pytest.mark.parametrize("cid", ["", "not-a-cid", "x" * 600, "a\x00b"])
def test_serving_malformed_cids(blobs: BlobStore, cid: str) -> None:
    with pytest.raises(BlobNotFoundError):
        blobs.blob(ALICE, cid)
    assert blobs.takedown_ref(ALICE, cid) is None


def test_takedown(store: Store, blobs: BlobStore) -> None:
    stored = _upload(blobs, PNG)
    _reference(store, blobs, ALICE, POST, [_ref(stored)])
    blobs.set_takedown(ALICE, stored.cid, "ticket-4")
    assert blobs.takedown_ref(ALICE, stored.cid) == "ticket-4"
    with pytest.raises(BlobTakenDownError) as caught:
        blobs.blob(ALICE, stored.cid)
    assert caught.value.reason == "blob is taken down"
    blobs.set_takedown(ALICE, stored.cid, None)
    assert blobs.takedown_ref(ALICE, stored.cid) is None
    assert blobs.blob(ALICE, stored.cid).cid == stored.cid


def test_a_taken_down_blob_cannot_be_uploaded_again(store: Store, blobs: BlobStore) -> None:
    stored = _upload(blobs, PNG)
    blobs.set_takedown(ALICE, stored.cid, "ticket-5")
    blobs.collect_garbage()
    with pytest.raises(BlobTakenDownError) as caught:
        _upload(blobs, PNG)
    assert caught.value.cid == stored.cid
    assert list((blobs.directory / "tmp").iterdir()) == []
    assert _upload(blobs, PNG, BOB).cid == stored.cid  # another account may


def test_takedown_of_an_unknown_blob(blobs: BlobStore) -> None:
    with pytest.raises(BlobNotFoundError) as caught:
        blobs.set_takedown(ALICE, CID.compute(b"x", codec="raw").encode(), "ticket")
    assert caught.value.reason == "blob not found"


# -- removal ---------------------------------------------------------------------------------


def test_account_deletion(store: Store, blobs: BlobStore) -> None:
    shared = _upload(blobs, PNG, ALICE)
    _upload(blobs, PNG, BOB)
    own = _upload(blobs, b"alice only", ALICE)
    temporary = _upload(blobs, b"alice temporary", ALICE)
    _reference(store, blobs, ALICE, POST, [_ref(shared), _ref(own)])
    blobs.set_takedown(ALICE, own.cid, "ticket")
    with store.write() as txn:
        cids = blobs.delete_account_blobs(txn, ALICE)
    assert sorted(cids) == sorted([shared.cid, own.cid, temporary.cid])
    assert blobs.delete_files(cids) == 2  # Bob still holds the shared file
    assert blobs.path_of(shared.cid).exists()
    assert not blobs.path_of(own.cid).exists()
    assert not blobs.path_of(temporary.cid).exists()
    assert _rows(store) == {"blobs": 1, "blob_owners": 1, "blob_temp": 1}  # Bob's upload
    assert blobs.delete_files([]) == 0


def test_garbage_collection(store: Store, blobs: BlobStore, clock: Clock) -> None:
    referenced = _upload(blobs, PNG)
    _reference(store, blobs, ALICE, POST, [_ref(referenced)])
    old = _upload(blobs, b"never referenced")
    dropped = _upload(blobs, b"referenced, then dropped")
    _reference(store, blobs, ALICE, OTHER_POST, [_ref(dropped)])
    clock.advance_ms(HOUR_MS)
    _reference(store, blobs, ALICE, OTHER_POST, [])
    clock.advance_ms(DEFAULT_TEMP_GRACE - HOUR_MS)
    fresh = _upload(blobs, b"just uploaded")
    assert blobs.collect_garbage() == GcReport(blobs=1, files=1, partial_uploads=0)
    assert not blobs.path_of(old.cid).exists()
    assert blobs.path_of(dropped.cid).exists()  # dropped an hour later: still in its grace
    assert blobs.path_of(fresh.cid).exists()
    clock.advance_ms(HOUR_MS)
    assert blobs.collect_garbage() == GcReport(blobs=1, files=1, partial_uploads=0)
    assert not blobs.path_of(dropped.cid).exists()
    assert blobs.path_of(fresh.cid).exists()
    assert blobs.blob(ALICE, referenced.cid).path.read_bytes() == PNG
    clock.advance_ms(DEFAULT_TEMP_GRACE)
    assert blobs.collect_garbage().blobs == 1  # the fresh one, now old
    assert _files(blobs) == [blobs.path_of(referenced.cid)]


def test_garbage_collection_keeps_files_other_accounts_hold(
    store: Store, blobs: BlobStore, clock: Clock
) -> None:
    alice = _upload(blobs, PNG, ALICE)
    _upload(blobs, PNG, BOB)
    _reference(store, blobs, BOB, POST, [_ref(alice)])
    clock.advance_ms(DEFAULT_TEMP_GRACE)
    assert blobs.collect_garbage() == GcReport(blobs=1, files=0, partial_uploads=0)
    assert blobs.blob(BOB, alice.cid).path.read_bytes() == PNG


def test_garbage_collection_in_batches(store: Store, blobs: BlobStore, clock: Clock) -> None:
    with store.write() as txn:  # more expired rows than one batch (1000), written directly
        for i in range(1001):
            cid = CID.compute(i.to_bytes(2, "big"), codec="raw").encode()
            txn.put("blob_temp", (0).to_bytes(8, "big") + f"{ALICE}\x00{cid}".encode(), b"")
    assert blobs.collect_garbage().blobs == 1001
    assert _rows(store) == {}


def test_garbage_collection_of_leftovers(blobs: BlobStore, clock: Clock) -> None:
    partial = blobs.directory / "tmp" / "upload-crashed"
    partial.write_bytes(b"half an upload")
    recent = blobs.directory / "tmp" / "upload-in-progress"
    recent.write_bytes(b"still arriving")
    stale = clock.now - DEFAULT_TEMP_GRACE / 1000 - 1
    os.utime(partial, (stale, stale))
    orphan_cid = CID.compute(b"orphan", codec="raw").encode()
    orphan = blobs.path_of(orphan_cid)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"orphan")  # a file whose row a crash removed first
    stray = orphan.parent / "not-a-cid"
    stray.write_bytes(b"someone else's file")
    assert blobs.collect_garbage() == GcReport(blobs=0, files=0, partial_uploads=1)
    assert orphan.exists()
    assert blobs.collect_garbage(scan_files=True) == GcReport(blobs=0, files=1, partial_uploads=0)
    assert not orphan.exists()
    assert stray.exists()  # not a blob of ours: left alone
    assert not partial.exists()
    assert recent.exists()


def test_blobs_survive_reopening(tmp_path: Path, clock: Clock) -> None:
    with open_store(tmp_path / "pds", BLOB_TABLES) as store:
        blobs = BlobStore(store, tmp_path / "blobdir", clock=clock)
        stored = _upload(blobs, PNG)
        _reference(store, blobs, ALICE, POST, [_ref(stored)])
        blobs.set_takedown(ALICE, stored.cid, "ticket")
        blobs.set_takedown(ALICE, stored.cid, None)
        pending = _upload(blobs, b"pending")
    with open_store(tmp_path / "pds", BLOB_TABLES) as store:
        blobs = BlobStore(store, tmp_path / "blobdir", clock=clock)
        assert blobs.blob(ALICE, stored.cid).path.read_bytes() == PNG
        assert blobs.list_blobs(ALICE) == ([stored.cid], None)
        clock.advance_ms(DEFAULT_TEMP_GRACE)
        assert blobs.collect_garbage().blobs == 1
        assert not blobs.path_of(pending.cid).exists()


def test_concurrent_uploads_of_the_same_bytes(store: Store, blobs: BlobStore) -> None:
    dids = [f"did:plc:user{i}" for i in range(8)]

    async def upload_all() -> list[StoredBlob]:
        return await asyncio.gather(*(blobs.upload(did, _chunks(PNG)) for did in dids))

    results = asyncio.run(upload_all())
    assert {result.cid for result in results} == {CID.compute(PNG, codec="raw").encode()}
    assert _files(blobs) == [blobs.path_of(results[0].cid)]
    assert _rows(store)["blob_owners"] == len(dids)
    with store.write() as txn:
        cids = [cid for did in dids[:-1] for cid in blobs.delete_account_blobs(txn, did)]
    assert blobs.delete_files(cids) == 0  # the last account still holds the file
    with store.write() as txn:
        last = blobs.delete_account_blobs(txn, dids[-1])
    assert blobs.delete_files(last) == 1
    assert _files(blobs) == []
