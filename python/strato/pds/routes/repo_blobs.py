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

import asyncio
from typing import Any, Final

from strato import dagcbor
from strato.errors import AccountNotFoundError, CommitVerificationError
from strato.pds import events
from strato.pds.accounts import AccountStatus
from strato.pds.blobs.refs import blob_refs
from strato.pds.context import PdsContext
from strato.pds.routes.common import requester, xrpc_errors
from strato.repo.commit import verify_commit_signature
from strato.repo.staging import staging_pieces
from strato.repo.verify import read_repo, require_repository_of
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
        "com.atproto.repo.uploadBlob", auth=ctx.auth.access_or_service(), max_body=limit,
        limits=[RouteLimit(UPLOAD_LIMIT)],
    )  # fmt: skip
    async def upload_blob(
        request: XrpcRequest[None, BodyStream],
    ) -> types.UploadBlobOutput:
        did = _uploader(ctx, request)
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

    @router.method("com.atproto.repo.importRepo", auth=ctx.auth.access(ACCESS_FULL), max_body=limit)
    async def import_repo(request: XrpcRequest[None, BodyStream]) -> None:
        did = requester(request)
        _not_taken_down(ctx, did)
        data = await request.input.read()
        key = ctx.keys.signing_key(did)
        try:
            repo = await asyncio.to_thread(read_repo, data, check_records=True)
            require_repository_of(repo, did)
            verify_commit_signature(repo.commit_block, key.public_key.did_key())
        except CommitVerificationError as err:
            raise invalid_request(f"Invalid repository CAR: {err}") from None

        def work(txn: WriteTxn) -> None:
            before = ctx.blobs.record_paths(txn, did)
            staging = ctx.repos.begin_import(txn, did, after=repo.rev)
            for piece in staging_pieces(repo):
                ctx.repos.stage(txn, staging, piece)
            result = ctx.repos.finish_import(txn, staging, repo.data_cid, key)
            if result.previous is not None:
                while not ctx.repos.drop_space(txn, did, result.previous.space, limit=1 << 62):
                    pass
            rev = result.head.rev
            refs = {}
            for path, cid in repo.records(0, repo.record_count):
                found = blob_refs(dagcbor.decode(repo.get(cid) or b""))
                if found:
                    refs[path] = found
            for path in sorted(before - refs.keys()):
                ctx.blobs.set_record_blobs(txn, did, path, [], rev)
            for path, found in sorted(refs.items()):
                ctx.blobs.set_record_blobs(txn, did, path, found, rev, allow_missing=True)
            events.append_sync(txn, ctx.sequencer, did, rev, ctx.repos.commit_car(txn, did))

        with xrpc_errors():
            await ctx.writer.submit(work)


def _uploader(ctx: PdsContext, request: XrpcRequest[Any, Any]) -> str:
    """The account uploading: the access token's, or the issuer of a service token (one of
    this PDS's accounts); a taken-down account may not upload."""
    credentials = request.auth
    if isinstance(credentials, AccessCredentials | ServiceCredentials):
        did = credentials.did
    else:
        raise auth_required()
    _not_taken_down(ctx, did)
    return did


def _not_taken_down(ctx: PdsContext, did: str) -> None:
    try:
        status = ctx.accounts.get(did).status
    except AccountNotFoundError:
        raise auth_required("Account not found", "AccountNotFound") from None
    if status is AccountStatus.TAKENDOWN:
        raise auth_required("Account has been taken down", "AccountTakedown")
