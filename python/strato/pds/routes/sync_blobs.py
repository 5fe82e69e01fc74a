"""``com.atproto.sync.*`` blobs on the PDS: getBlob (a blob's bytes streamed from its file,
labelled with its stored MIME type and the reference's protective headers) and listBlobs.

A blob is served only once a record references it; an unknown, temporary or taken-down blob
is 400 ``InvalidRequest`` "Blob not found", as the reference answers. Repository availability
is checked as for the other sync reads (:func:`.sync.available`).
"""

from __future__ import annotations

from typing import Any, Final

from starlette.responses import FileResponse, Response

from strato.errors import BlobError
from strato.pds.context import PdsContext
from strato.pds.routes.sync import available, viewer
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.errors import invalid_request
from strato.xrpc.types import sync as types

UNSET: Any = types.UNSET
#: What getBlob answers with besides the type and length: the browser must neither sniff nor
#: run what it gets (the reference's headers).
BLOB_HEADERS: Final = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
}


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the blob methods of this namespace to ``router``."""
    auth = viewer(ctx)

    @router.method("com.atproto.sync.getBlob", auth=auth)
    async def get_blob(request: XrpcRequest[types.GetBlobParams, None]) -> Response:
        params = request.params
        did = available(ctx, request, params.did).did
        try:
            found = ctx.blobs.blob(did, params.cid)
        except BlobError:
            raise invalid_request("Blob not found") from None
        return FileResponse(
            found.path, media_type=found.mime_type, headers=dict(BLOB_HEADERS),
            filename=found.cid,
        )  # fmt: skip

    @router.method("com.atproto.sync.listBlobs", auth=auth)
    async def list_blobs(
        request: XrpcRequest[types.ListBlobsParams, None],
    ) -> types.ListBlobsOutput:
        params = request.params
        did = available(ctx, request, params.did).did
        cids, _ = ctx.blobs.list_blobs(
            did, since=params.since if isinstance(params.since, str) else None,
            cursor=params.cursor if isinstance(params.cursor, str) else None,
            limit=params.limit,
        )  # fmt: skip
        # the reference's cursor: the last CID of any non-empty page
        return types.ListBlobsOutput(cids=cids, cursor=cids[-1] if cids else UNSET)
