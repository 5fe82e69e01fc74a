"""``com.atproto.repo.*`` blobs and imports on the PDS: uploadBlob, listMissingBlobs and
importRepo.

- ``uploadBlob`` streams the body into the blob store (hashed, sized and sniffed as it
  arrives); past the configured limit it is 413, as the reference's body limit answers. The
  blob stays temporary until a record references it.
- ``importRepo`` (account migration, restoring a backup) reads a CAR of at most the blob limit
  and hands it to :class:`strato.pds.imports.Importer`: verified in full, signed by a key the
  account has had, it replaces the repository as a new commit of this PDS (blobs its records
  reference but this PDS lacks are then listed by ``listMissingBlobs``). A malformed or
  unverifiable CAR is 400 ``InvalidRequest`` with the reason, and nothing is written; a second
  import while one runs is 400 too; each account may import :data:`IMPORT_LIMIT` times.
"""

from __future__ import annotations

from typing import Any, Final

from strato.errors import (
    CommitVerificationError,
    IdentityError,
    IdentityUnavailableError,
    PlcDirectoryError,
)
from strato.pds.context import PdsContext
from strato.pds.routes.common import requester
from strato.xrpc import (
    BodyStream,
    RateLimit,
    RouteLimit,
    XrpcError,
    XrpcRequest,
    XrpcRouter,
    by_account,
)
from strato.xrpc.auth import ACCESS_FULL, AccessCredentials, ServiceCredentials
from strato.xrpc.errors import auth_required, invalid_request
from strato.xrpc.types import repo as types

UNSET: Any = types.UNSET
#: The reference's upload limit per client address.
UPLOAD_LIMIT: Final = RateLimit("upload-blob-day", 1000, 86400.0)
#: Imports per account: a migration or a restore takes one or two; each can be 100 MB of work.
IMPORT_LIMIT: Final = RateLimit("import-repo-hour", 5, 3600.0)


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
        max_body=limit, limits=[RouteLimit(IMPORT_LIMIT, by_account)],
    )  # fmt: skip
    async def import_repo(request: XrpcRequest[None, BodyStream]) -> None:
        did = requester(request)
        try:
            await ctx.importer.run(did, await request.input.read())
        except CommitVerificationError as err:
            raise invalid_request(f"Invalid repository CAR: {err}") from None
        except (PlcDirectoryError, IdentityUnavailableError) as err:
            raise XrpcError(
                502, "UpstreamFailure", f"looking up the account's keys: {err}"
            ) from None
        except IdentityError as err:
            raise invalid_request(f"the account's DID document cannot be read: {err}") from None


def _uploader(request: XrpcRequest[Any, Any]) -> str:
    """The account uploading: the access token's, or the issuer of a service token (one of
    this PDS's accounts, not taken down: its verifier checked)."""
    credentials = request.auth
    if isinstance(credentials, AccessCredentials | ServiceCredentials):
        return credentials.did
    raise auth_required()
