"""An async HTTP client for a PLC directory (ours or plc.directory), used by the PDS to create
and update DIDs and by tools to read them.

Answers map to errors as follows: 400 on a submitted operation raises
:class:`~strato.errors.PlcValidationError` with the directory's message as ``reason``; 404
and 410 on a read raise :class:`~strato.errors.DidNotFoundError`; anything else unexpected
(a 5xx, a transport failure, a body that is not JSON) raises
:class:`~strato.errors.PlcDirectoryError`.
"""

from __future__ import annotations

from typing import Any, Final, cast
from urllib.parse import quote

import httpx
import msgspec

from strato.crypto import PrivateKey
from strato.errors import DidNotFoundError, PlcDirectoryError, PlcValidationError
from strato.identity.plc.operations import (
    Operation,
    create_genesis,
    create_tombstone,
    create_update,
    is_tombstone,
)

DEFAULT_TIMEOUT: Final = 10.0


class PlcClient:
    """A client for the directory at ``url`` (``https://plc.directory``, ``http://127.0.0.1:2582``).

    Use as ``async with PlcClient(url) as plc: ...`` (or call :meth:`aclose`). ``transport``
    lets tests talk to an app in-process (``httpx.ASGITransport``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url, timeout=timeout, transport=transport, follow_redirects=False
        )

    async def __aenter__(self) -> PlcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- reads --------------------------------------------------------------------------------

    async def get_document(self, did: str) -> dict[str, Any]:
        """The DID document."""
        return cast(dict[str, Any], await self._get_json(did, ""))

    async def get_data(self, did: str) -> dict[str, Any]:
        """The current PLC data (rotationKeys, verificationMethods, alsoKnownAs, services)."""
        return cast(dict[str, Any], await self._get_json(did, "/data"))

    async def get_log(self, did: str) -> list[Operation]:
        """The current chain of operations (nullified ones left out)."""
        return cast(list[Operation], await self._get_json(did, "/log"))

    async def get_audit_log(self, did: str) -> list[dict[str, Any]]:
        """Every operation with ``cid``, ``nullified`` and ``createdAt``."""
        return cast(list[dict[str, Any]], await self._get_json(did, "/log/audit"))

    async def get_last_operation(self, did: str) -> Operation:
        """The latest operation (possibly a tombstone)."""
        return cast(Operation, await self._get_json(did, "/log/last"))

    async def export(self, after: int = 0, count: int | None = None) -> list[dict[str, Any]]:
        """One page of the sequenced export: operations with ``seq > after``."""
        params = {"after": str(after)}
        if count is not None:
            params["count"] = str(count)
        response = await self._request("GET", "/export", params=params)
        if response.status_code != httpx.codes.OK:
            raise PlcDirectoryError(_message(response), response.status_code)
        return [_decode(response, line) for line in response.content.splitlines() if line]

    async def health(self) -> dict[str, Any]:
        """The directory's ``/_health`` answer."""
        response = await self._request("GET", "/_health")
        if response.status_code != httpx.codes.OK:
            raise PlcDirectoryError(_message(response), response.status_code)
        return cast(dict[str, Any], _decode(response, response.content))

    # -- writes -------------------------------------------------------------------------------

    async def submit(self, did: str, operation: Operation) -> None:
        """Submit a signed operation for ``did``."""
        response = await self._request("POST", _path(did), json=operation)
        if response.status_code == httpx.codes.BAD_REQUEST:
            raise PlcValidationError(_message(response))
        if response.status_code != httpx.codes.OK:
            raise PlcDirectoryError(_message(response), response.status_code)

    async def create_did(
        self,
        signing_key: str,
        rotation_keys: list[str],
        handle: str,
        pds_endpoint: str,
        *,
        signer: PrivateKey,
    ) -> str:
        """Build, sign (with ``signer``, which must hold one of ``rotation_keys``) and submit an
        atproto genesis operation; returns the new DID."""
        op, did = create_genesis(
            signing_key=signing_key,
            rotation_keys=rotation_keys,
            handle=handle,
            pds_endpoint=pds_endpoint,
            signer=signer,
        )
        await self.submit(did, op)
        return did

    async def update(
        self,
        did: str,
        signer: PrivateKey,
        *,
        handle: str | None = None,
        pds_endpoint: str | None = None,
        signing_key: str | None = None,
        rotation_keys: list[str] | None = None,
    ) -> Operation:
        """Change the handle, PDS endpoint, atproto signing key or rotation keys of ``did``
        (after its latest operation, signed with the rotation key ``signer``); returns the
        submitted operation."""
        last = await self.get_last_operation(did)
        op = create_update(
            last,
            signer,
            handle=handle,
            pds_endpoint=pds_endpoint,
            signing_key=signing_key,
            rotation_keys=rotation_keys,
        )
        await self.submit(did, op)
        return op

    async def tombstone(self, did: str, signer: PrivateKey) -> Operation:
        """End ``did`` with a tombstone signed by the rotation key ``signer``."""
        last = await self.get_last_operation(did)
        if is_tombstone(last):
            raise PlcValidationError("the DID is already tombstoned")
        op = create_tombstone(last, signer)
        await self.submit(did, op)
        return op

    # -- plumbing -----------------------------------------------------------------------------

    async def _get_json(self, did: str, suffix: str) -> Any:
        response = await self._request("GET", _path(did) + suffix)
        if response.status_code in (httpx.codes.NOT_FOUND, httpx.codes.GONE):
            raise DidNotFoundError(_message(response), did)
        if response.status_code != httpx.codes.OK:
            raise PlcDirectoryError(_message(response), response.status_code)
        return _decode(response, response.content)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise PlcDirectoryError(f"{method} {self.url}{path} failed: {err!r}") from err


def _path(did: str) -> str:
    return "/" + quote(did, safe=":")


def _decode(response: httpx.Response, data: bytes) -> Any:
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as err:  # msgspec's error for invalid UTF-8
        raise PlcDirectoryError(f"answer is not JSON: {err}", response.status_code) from err


def _message(response: httpx.Response) -> str:
    """The ``message`` of a directory's error body, else the start of the body."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return response.text[:200] or response.reason_phrase
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else response.text[:200]
