"""Blobs of the PDS: files on disk named by their CID, with their bookkeeping in LMDB.

Files. A blob's CID is CIDv1, raw codec, SHA-256 of its exact bytes (spec: blobs). Its file is
``<dir>/blobs/<h0h1>/<h2h3>/<cid>`` where ``h`` is the hex SHA-256 (so directories stay small).
One file serves every account that uploaded the same bytes. An upload streams into
``<dir>/tmp/`` while it is hashed, sized and sniffed, is flushed to disk (fsync), and is then
renamed into place; the size limit is enforced as bytes arrive, and a refused or broken upload
leaves nothing behind. Files are mode 0600 and directories 0700 (:mod:`strato.storage.private`).

Lifecycle, per account (spec: blobs, and the reference PDS's blob transactor):

- an upload is *temporary*: not served, not listed, removed by :meth:`BlobStore.collect_garbage`
  once it has been temporary for the grace period (:data:`DEFAULT_TEMP_GRACE`);
- when a record that references it is written (:meth:`BlobStore.set_record_blobs`, inside the
  repo commit's transaction) it becomes *permanent*: served by ``getBlob``, listed by
  ``listBlobs``; its MIME type and size must match the reference;
- when the last record referencing it is deleted or changed it becomes temporary again, so the
  same garbage collection removes it after the grace period (the reference deletes it at once;
  this keeps a delete-then-recreate of a record working and removes files in one place);
- deleting the account drops all of its blobs at once (:meth:`BlobStore.delete_account_blobs`);
- a takedown (:meth:`BlobStore.set_takedown`) hides the blob of that account and refuses its
  re-upload.

Imported repositories (migration) may reference blobs not uploaded yet; those references are
kept and :meth:`BlobStore.list_missing_blobs` lists them until the blobs arrive.

Tables (:data:`BLOB_TABLES`): ``blobs`` (``did NUL cid`` -> :class:`BlobMeta`), ``blob_owners``
(``cid NUL did``: which accounts hold a file), ``blob_temp`` (``u64(since) did NUL cid``: the
temporary blobs in age order), ``blob_refs`` (``did NUL cid NUL path`` -> the rev that wrote
the reference), ``record_blobs`` (``did NUL path NUL cid``: a record's references) and
``blob_takedowns`` (``did NUL cid`` -> the takedown reference).

File removal happens only inside a write transaction that finds no owner left, so it cannot
race an upload of the same bytes (uploads place their file inside one, too). A crash between
dropping a blob's row and removing its file leaves an unowned file, which
:meth:`BlobStore.collect_garbage` removes on a later run.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final

import msgspec

from strato import CID
from strato.errors import (
    BlobError,
    BlobMimeTypeMismatchError,
    BlobNotFoundError,
    BlobSizeMismatchError,
    BlobTakenDownError,
    BlobTooLargeError,
)
from strato.pds.blobs.refs import BlobRef
from strato.pds.blobs.sniff import SNIFF_BYTES, sniff_mime_type
from strato.storage import (
    ReadTxn,
    Store,
    WriteTxn,
    prefix,
    prefix_end,
    split_key,
    text_key,
    u64,
)
from strato.storage.private import create_file, make_dir

#: The tables the blob store uses; include them in the PDS's :class:`Store`.
BLOB_TABLES: Final = (
    "blobs",
    "blob_owners",
    "blob_temp",
    "blob_refs",
    "record_blobs",
    "blob_takedowns",
)
#: The default upload limit (bytes): 100 MB, what the reference PDS's installer configures.
DEFAULT_BLOB_LIMIT: Final = 100 * 1024 * 1024
#: How long an unreferenced blob is kept (ms): the spec asks for at least an hour and
#: recommends several.
DEFAULT_TEMP_GRACE: Final = 6 * 3_600_000
#: The MIME type of a blob whose type neither its bytes nor the client tell.
FALLBACK_MIME_TYPE: Final = "application/octet-stream"
# The CIDv1 prefix of a raw-codec SHA-256 CID: version 1, codec 0x55, multihash 0x12, 32 bytes.
_RAW_SHA256_PREFIX: Final = b"\x01\x55\x12\x20"
_GC_BATCH: Final = 1000


class BlobMeta(msgspec.Struct, array_like=True, kw_only=True):
    """One account's blob: its type and size, and since when it is temporary (None when a
    record references it)."""

    mime_type: str
    size: int
    created_at: int
    temp_since: int | None


class StoredBlob(msgspec.Struct, frozen=True, kw_only=True):
    """An uploaded blob, as ``uploadBlob`` describes it."""

    cid: str
    mime_type: str
    size: int


class BlobFile(msgspec.Struct, frozen=True, kw_only=True):
    """A blob that may be served: where its bytes are and how to label them."""

    cid: str
    mime_type: str
    size: int
    path: Path


class MissingBlob(msgspec.Struct, frozen=True, kw_only=True):
    """A blob a record references but that was never uploaded (``listMissingBlobs``)."""

    cid: str
    record_path: str


class GcReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one garbage collection removed."""

    blobs: int
    files: int
    partial_uploads: int


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(BlobMeta)


class BlobStore:
    """Blob files under ``directory`` and their rows in ``store``."""

    def __init__(
        self,
        store: Store,
        directory: str | os.PathLike[str],
        *,
        max_size: int = DEFAULT_BLOB_LIMIT,
        temp_grace: int = DEFAULT_TEMP_GRACE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.directory = Path(directory)
        self.max_size = max_size
        self.temp_grace = temp_grace
        self._clock = clock
        self._files = self.directory / "blobs"
        self._tmp = self.directory / "tmp"
        make_dir(self._files)
        make_dir(self._tmp)

    def now(self) -> int:
        """The store's clock, in milliseconds."""
        return int(self._clock() * 1000)

    def path_of(self, cid: str) -> Path:
        """Where the file of ``cid`` lives (whether or not it exists)."""
        digest = CID.decode(cid).digest.hex()
        return self._files / digest[0:2] / digest[2:4] / cid

    # -- uploads --------------------------------------------------------------------------------

    async def upload(
        self,
        did: str,
        chunks: AsyncIterable[bytes],
        *,
        mime_type: str | None = None,
        expected_size: int | None = None,
    ) -> StoredBlob:
        """Store the bytes of ``chunks`` as a temporary blob of ``did``.

        ``mime_type`` is what the client declared (used when sniffing finds nothing);
        ``expected_size`` its ``Content-Length``. Raises :class:`BlobTooLargeError` as soon as
        the bytes pass :attr:`max_size` (or when ``expected_size`` does),
        :class:`BlobError` when the body's length is not ``expected_size``, and
        :class:`BlobTakenDownError` for a blob taken down for this account; in every case
        nothing stays on disk. Uploading a blob again is a no-op that returns it."""
        if expected_size is not None and expected_size > self.max_size:
            raise BlobTooLargeError(f"blob is larger than the {self.max_size}-byte limit")
        temporary = self._tmp / f"upload-{secrets.token_hex(16)}"
        try:
            size, digest, head = await self._receive(chunks, temporary, expected_size)
            cid = CID.decode(_RAW_SHA256_PREFIX + digest).encode()
            mime = sniff_mime_type(head) or _declared(mime_type)
            return await asyncio.to_thread(self._place, did, temporary, cid, mime, size)
        finally:
            temporary.unlink(missing_ok=True)

    async def _receive(
        self, chunks: AsyncIterable[bytes], temporary: Path, expected_size: int | None
    ) -> tuple[int, bytes, bytes]:
        """Write ``chunks`` to ``temporary`` (flushed to disk); their size, SHA-256 and head."""
        hasher = hashlib.sha256()
        head = b""
        size = 0
        with os.fdopen(create_file(temporary), "wb") as file:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_size:
                    raise BlobTooLargeError(f"blob is larger than the {self.max_size}-byte limit")
                if expected_size is not None and size > expected_size:
                    raise BlobError(f"body is longer than the declared {expected_size} bytes")
                hasher.update(chunk)
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                file.write(chunk)
            if expected_size is not None and size != expected_size:
                raise BlobError(f"body is {size} bytes, not the declared {expected_size}")
            file.flush()
            await asyncio.to_thread(os.fsync, file.fileno())
        return size, hasher.digest(), head

    def _place(self, did: str, temporary: Path, cid: str, mime: str, size: int) -> StoredBlob:
        """Move the upload into place and record it, in one write transaction."""
        final = self.path_of(cid)

        def work(txn: WriteTxn) -> StoredBlob:
            if txn.get("blob_takedowns", text_key(did, cid)) is not None:
                raise BlobTakenDownError("blob is taken down", cid)
            if not final.exists():
                make_dir(final.parent)
                os.replace(temporary, final)
                _fsync_dir(final.parent)
            now = self.now()
            meta = _meta(txn, did, cid)
            if meta is None:
                meta = BlobMeta(mime_type=mime, size=size, created_at=now, temp_since=None)
                txn.put("blob_owners", text_key(cid, did), b"")
                if _referenced(txn, did, cid):  # an imported record waited for it
                    txn.put("blobs", text_key(did, cid), _encoder.encode(meta))
                else:
                    _make_temporary(txn, did, cid, meta, now)
            elif meta.temp_since is not None:  # a fresh upload restarts the grace period
                txn.delete("blob_temp", u64(meta.temp_since) + text_key(did, cid))
                meta.mime_type = mime
                _make_temporary(txn, did, cid, meta, now)
            return StoredBlob(cid=cid, mime_type=meta.mime_type, size=meta.size)

        return self._store.transact(work)

    # -- references from records ----------------------------------------------------------------

    def set_record_blobs(
        self,
        txn: WriteTxn,
        did: str,
        path: str,
        refs: Sequence[BlobRef],
        rev: str,
        *,
        allow_missing: bool = False,
    ) -> None:
        """Make the record at ``path`` (``collection/rkey``) of ``did`` reference exactly
        ``refs`` (empty when the record is deleted), inside the commit's transaction ``txn``
        whose rev is ``rev``. Newly referenced blobs become permanent; blobs no record
        references any more become temporary.

        Raises :class:`BlobNotFoundError` for a reference to a blob this account never
        uploaded (unless ``allow_missing``: an imported repository) and
        :class:`BlobMismatchError` (:class:`BlobMimeTypeMismatchError`,
        :class:`BlobSizeMismatchError`) when a reference's MIME type or size is not the blob's;
        nothing is written then."""
        wanted = {ref.cid: ref for ref in refs}
        for cid, ref in wanted.items():
            meta = _meta(txn, did, cid)
            if meta is None:
                if not allow_missing:
                    raise BlobNotFoundError("record references a blob that was not uploaded", cid)
            elif meta.mime_type != ref.mime_type:
                raise BlobMimeTypeMismatchError(
                    f"reference says {ref.mime_type!r}, the blob is {meta.mime_type!r}", cid
                )
            elif ref.size is not None and meta.size != ref.size:
                raise BlobSizeMismatchError(
                    f"reference says {ref.size} bytes, the blob has {meta.size}", cid
                )
        record_prefix = prefix(did, path)
        current = {split_key(key)[2] for key, _ in txn.items("record_blobs", prefix=record_prefix)}
        now = self.now()
        for cid in current - wanted.keys():
            txn.delete("record_blobs", text_key(did, path, cid))
            txn.delete("blob_refs", text_key(did, cid, path))
            meta = _meta(txn, did, cid)
            if meta is not None and not _referenced(txn, did, cid):
                _make_temporary(txn, did, cid, meta, now)
        for cid in wanted:
            txn.put("record_blobs", text_key(did, path, cid), b"")
            txn.put("blob_refs", text_key(did, cid, path), rev.encode())
            meta = _meta(txn, did, cid)
            if meta is not None and meta.temp_since is not None:
                txn.delete("blob_temp", u64(meta.temp_since) + text_key(did, cid))
                meta.temp_since = None
                txn.put("blobs", text_key(did, cid), _encoder.encode(meta))

    def record_paths(self, txn: ReadTxn, did: str) -> set[str]:
        """The paths (``collection/rkey``) of ``did``'s records that reference blobs (what an
        import must clear when it replaces the repository)."""
        return {split_key(key)[1] for key, _ in txn.items("record_blobs", prefix=prefix(did))}

    # -- reading --------------------------------------------------------------------------------

    def blob(self, did: str, cid: str) -> BlobFile:
        """The blob ``cid`` of ``did`` to serve (``getBlob``). :class:`BlobNotFoundError` when
        it is unknown, temporary (not referenced by a record) or its file is gone;
        :class:`BlobTakenDownError` when taken down."""
        with self._store.read() as txn:
            key = _blob_key(did, cid)
            if key is not None and txn.get("blob_takedowns", key) is not None:
                raise BlobTakenDownError("blob is taken down", cid)
            meta = None if key is None else _meta(txn, did, cid)
        if meta is None or meta.temp_since is not None:
            raise BlobNotFoundError("blob not found", cid)
        path = self.path_of(cid)
        if not path.is_file():
            raise BlobNotFoundError("blob file is missing", cid)
        return BlobFile(cid=cid, mime_type=meta.mime_type, size=meta.size, path=path)

    def list_blobs(
        self, did: str, *, since: str | None = None, cursor: str | None = None, limit: int = 500
    ) -> tuple[list[str], str | None]:
        """CIDs of the stored blobs records of ``did`` reference, in CID order (``listBlobs``);
        with ``since``, only those referenced by a record written after that rev. Returns the
        page and the cursor of the next one (None at the end)."""
        cids: list[str] = []
        with self._store.read() as txn:
            for cid, refs in _ref_groups(txn, did, cursor):
                if since is not None and all(rev <= since for _, rev in refs):
                    continue
                if _meta(txn, did, cid) is None:
                    continue
                cids.append(cid)
                if len(cids) >= limit:
                    return cids, cid
        return cids, None

    def list_missing_blobs(
        self, did: str, *, cursor: str | None = None, limit: int = 500
    ) -> tuple[list[MissingBlob], str | None]:
        """Blobs records of ``did`` reference that were never uploaded (``listMissingBlobs``),
        each with one referencing record, in CID order; and the next page's cursor."""
        missing: list[MissingBlob] = []
        with self._store.read() as txn:
            for cid, refs in _ref_groups(txn, did, cursor):
                if _meta(txn, did, cid) is not None:
                    continue
                missing.append(MissingBlob(cid=cid, record_path=refs[0][0]))
                if len(missing) >= limit:
                    return missing, cid
        return missing, None

    def blob_counts(self, did: str) -> tuple[int, int]:
        """How many distinct blobs records of ``did`` reference, and how many of them are
        stored (``checkAccountStatus``'s ``expectedBlobs`` and ``importedBlobs``)."""
        expected = imported = 0
        with self._store.read() as txn:
            for cid, _ in _ref_groups(txn, did, None):
                expected += 1
                imported += _meta(txn, did, cid) is not None
        return expected, imported

    # -- moderation -----------------------------------------------------------------------------

    def set_takedown(self, did: str, cid: str, ref: str | None) -> None:
        """Take the blob ``cid`` of ``did`` down under the reference ``ref``, or with None
        reverse it. :class:`BlobNotFoundError` when the account has no such blob."""

        def work(txn: WriteTxn) -> None:
            if _meta(txn, did, cid) is None:
                raise BlobNotFoundError("blob not found", cid)
            if ref is None:
                txn.delete("blob_takedowns", text_key(did, cid))
            else:
                txn.put("blob_takedowns", text_key(did, cid), ref.encode())

        self._store.transact(work)

    def exists(self, did: str, cid: str) -> bool:
        """Whether ``did`` has the blob ``cid`` (referenced or temporary, taken down or not)."""
        with self._store.read() as txn:
            key = _blob_key(did, cid)
            return key is not None and txn.get("blobs", key) is not None

    def takedown_ref(self, did: str, cid: str) -> str | None:
        """The takedown reference of the blob, or None when it is not taken down."""
        with self._store.read() as txn:
            key = _blob_key(did, cid)
            found = None if key is None else txn.get("blob_takedowns", key)
        return None if found is None else found.decode()

    # -- removal --------------------------------------------------------------------------------

    def delete_account_blobs(self, txn: WriteTxn, did: str) -> list[str]:
        """Drop every blob row, reference and takedown of ``did`` inside ``txn`` (account
        deletion); returns the CIDs whose files :meth:`delete_files` should then remove."""
        cids = []
        for key, value in list(txn.items("blobs", prefix=prefix(did))):
            cid = split_key(key)[1]
            meta = _decoder.decode(value)
            if meta.temp_since is not None:
                txn.delete("blob_temp", u64(meta.temp_since) + key)
            txn.delete("blob_owners", text_key(cid, did))
            cids.append(cid)
        for table in ("blobs", "blob_refs", "record_blobs", "blob_takedowns"):
            txn.delete_range(table, prefix(did), prefix_end(prefix(did)))
        return cids

    def delete_files(self, cids: Iterable[str]) -> int:
        """Remove the files of those ``cids`` that no account holds any more (after the
        transaction that dropped their rows has committed); returns how many were removed."""
        wanted = sorted(set(cids))

        def work(txn: WriteTxn) -> int:
            # Inside a write transaction no upload can place one of these files meanwhile.
            removed = 0
            for cid in wanted:
                if not _any(txn, "blob_owners", prefix(cid)):
                    try:
                        self.path_of(cid).unlink()
                        removed += 1
                    except FileNotFoundError:
                        pass
            return removed

        return self._store.transact(work) if wanted else 0

    def collect_garbage(self, *, scan_files: bool = False) -> GcReport:
        """Remove blobs temporary for the grace period or longer and their files, and partial
        uploads older than that left in ``tmp/`` by a crash. With ``scan_files`` (at start-up,
        say) also every file on disk that no account holds, which a crash between a blob's
        removal and its file's can leave."""
        now = self.now()
        cutoff = now - self.temp_grace
        expired: list[str] = []
        while True:
            batch = self._store.transact(lambda txn: _drop_expired(txn, cutoff))
            expired.extend(batch)
            if len(batch) < _GC_BATCH:
                break
        files = self.delete_files(expired)
        if scan_files:
            files += self.delete_files(self._unowned_files())
        partial = 0
        for leftover in self._tmp.iterdir():
            if leftover.stat().st_mtime * 1000 < cutoff:
                leftover.unlink(missing_ok=True)
                partial += 1
        return GcReport(blobs=len(expired), files=files, partial_uploads=partial)

    def _unowned_files(self) -> list[str]:
        """CIDs of files on disk with no owner (left by a crash before their removal)."""
        with self._store.read() as txn:
            return [
                path.name
                for path in self._files.glob("*/*/*")
                if _is_cid(path.name) and not _any(txn, "blob_owners", prefix(path.name))
            ]


def _declared(mime_type: str | None) -> str:
    """The client's declared type when it looks like one (``type/subtype``)."""
    if mime_type:
        essence = mime_type.split(";", 1)[0].strip().lower()
        kind, _, subtype = essence.partition("/")
        if kind and subtype and " " not in essence:
            return essence
    return FALLBACK_MIME_TYPE


def _is_cid(name: str) -> bool:
    try:
        CID.decode(name)
    except ValueError:
        return False
    return True


def _blob_key(did: str, cid: str) -> bytes | None:
    try:
        key = text_key(did, cid)
    except ValueError:
        return None
    return key if len(key) <= 511 else None


def _meta(txn: ReadTxn, did: str, cid: str) -> BlobMeta | None:
    data = txn.get("blobs", text_key(did, cid))
    return None if data is None else _decoder.decode(data)


def _any(txn: ReadTxn, table: str, key_prefix: bytes) -> bool:
    return next(txn.items(table, prefix=key_prefix, limit=1), None) is not None


def _referenced(txn: ReadTxn, did: str, cid: str) -> bool:
    return _any(txn, "blob_refs", prefix(did, cid))


def _make_temporary(txn: WriteTxn, did: str, cid: str, meta: BlobMeta, now: int) -> None:
    meta.temp_since = now
    txn.put("blobs", text_key(did, cid), _encoder.encode(meta))
    txn.put("blob_temp", u64(now) + text_key(did, cid), b"")


def _ref_groups(
    txn: ReadTxn, did: str, cursor: str | None
) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """``(cid, [(record path, rev), ...])`` for each blob ``did``'s records reference, in CID
    order, after the CID ``cursor``."""
    start = None if cursor is None else prefix_end(prefix(did, cursor))
    group: list[tuple[str, str]] = []
    current: str | None = None
    for key, value in txn.items("blob_refs", start=start, prefix=prefix(did)):
        _, cid, path = split_key(key)
        if cid != current:
            if current is not None:
                yield current, group
            current, group = cid, []
        group.append((path, value.decode()))
    if current is not None:
        yield current, group


def _drop_expired(txn: WriteTxn, cutoff: int) -> list[str]:
    """Drop up to one batch of temporary blobs temporary since ``cutoff`` or before; their
    CIDs."""
    dropped = []
    for key, _ in list(txn.items("blob_temp", stop=u64(cutoff + 1), limit=_GC_BATCH)):
        did, cid = split_key(key[8:])
        txn.delete("blob_temp", key)
        txn.delete("blobs", text_key(did, cid))
        txn.delete("blob_owners", text_key(cid, did))
        dropped.append(cid)
    return dropped


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
