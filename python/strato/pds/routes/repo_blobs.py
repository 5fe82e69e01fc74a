"""``com.atproto.repo.*`` blobs and imports on the PDS: uploadBlob, listMissingBlobs and
importRepo.

- ``uploadBlob`` streams the body into the blob store (hashed, sized and sniffed as it
  arrives); past the configured limit it is 413, as the reference's body limit answers. The
  blob stays temporary until a record references it.
- ``importRepo`` (account migration) reads a CAR of at most the blob limit, verifies it in
  full against the account's signing key, replaces the repository, records the blobs its
  records reference (missing ones are then listed by ``listMissingBlobs``) and emits a
  ``#sync``, all in one writer transaction: a malformed or unverifiable CAR is 400
  ``InvalidRequest`` and nothing is written.
"""

from __future__ import annotations

from typing import Any, Final

from strato import dagcbor
from strato.errors import CommitVerificationError, DecodeError
from strato.pds import events
from strato.pds.blobs.refs import blob_refs
from strato.pds.context import PdsContext
from strato.pds.routes.common import requester, xrpc_errors
from strato.repo import ImportResult
from strato.storage import WriteTxn
from strato.xrpc import BodyStream, RateLimit, RouteLimit, XrpcRequest, XrpcRouter
from strato.xrpc.auth import ACCESS_FULL, AccessCredentials, ServiceCredentials
from strato.xrpc.errors import auth_required, invalid_request
from strato.xrpc.types import repo as types

UNSET: Any = types.UNSET
#: The reference's upload limit per client address.
UPLOAD_LIMIT: Final = RateLimit("upload-blob-day", 1000, 86400.0)


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the blob and import methods of this namespace to ``router``."""
    limit = ctx.settings.blob_limit

    @router.method(
        "com.atproto.repo.uploadBlob", auth=ctx.auth.access_or_service(check_takedown=True),
        max_body=limit, limits=[RouteLimit(UPLOAD_LIMIT)],
    )  # fmt: skip
    async def upload_blob(
        request: XrpcRequest[None, BodyStream],
    ) -> types.UploadBlobOutput:
        did = _uploader(request)
        body = request.input
        with xrpc_errors():
            stored = await ctx.blobs.upload(
                did, body.chunks(), mime_type=body.content_type,
                expected_size=body.content_length,
            )  # fmt: skip
        return types.UploadBlobOutput(
            blob={
                "$type": "blob",
                "ref": {"$link": stored.cid},
                "mimeType": stored.mime_type,
                "size": stored.size,
            }
        )

    @router.method("com.atproto.repo.listMissingBlobs", auth=ctx.auth.access())
    async def list_missing_blobs(
        request: XrpcRequest[types.ListMissingBlobsParams, None],
    ) -> types.ListMissingBlobsOutput:
        did = requester(request)
        params = request.params
        cursor = params.cursor if isinstance(params.cursor, str) else None
        missing, _ = ctx.blobs.list_missing_blobs(did, cursor=cursor, limit=params.limit)
        blobs = [
            types.RecordBlob(cid=blob.cid, record_uri=f"at://{did}/{blob.record_path}")
            for blob in missing
        ]
        # the reference's cursor: the last CID of any non-empty page
        return types.ListMissingBlobsOutput(blobs=blobs, cursor=blobs[-1].cid if blobs else UNSET)

    @router.method(
        "com.atproto.repo.importRepo", auth=ctx.auth.access(ACCESS_FULL, check_takedown=True),
        max_body=limit,
    )  # fmt: skip
    async def import_repo(request: XrpcRequest[None, BodyStream]) -> None:
        did = requester(request)
        data = await request.input.read()
        did_key = ctx.keys.signing_key(did).public_key.did_key()

        def work(txn: WriteTxn) -> ImportResult:
            before = ctx.blobs.record_paths(txn, did)
            result = ctx.repos.import_car(txn, did, data, did_key=did_key)
            rev = result.head.rev
            paths = {path for path, _ in result.blob_refs}
            for path in sorted(before - paths):
                ctx.blobs.set_record_blobs(txn, did, path, [], rev)
            for path in sorted(paths):
                collection, rkey = path.split("/", 1)
                record = ctx.repos.get_record(txn, did, collection, rkey)
                assert record is not None
                refs = blob_refs(dagcbor.decode(record.value))
                ctx.blobs.set_record_blobs(txn, did, path, refs, rev, allow_missing=True)
            events.append_sync(txn, ctx.sequencer, did, rev, ctx.repos.commit_car(txn, did))
            return result

        try:
            with xrpc_errors():
                await ctx.writer.submit(work)
        except (CommitVerificationError, DecodeError) as err:
            raise invalid_request(f"Invalid repository CAR: {err}") from None


def _uploader(request: XrpcRequest[Any, Any]) -> str:
    """The account uploading: the access token's, or the issuer of a service token (one of
    this PDS's accounts, not taken down: its verifier checked)."""
    credentials = request.auth
    if isinstance(credentials, AccessCredentials | ServiceCredentials):
        return credentials.did
    raise auth_required()
