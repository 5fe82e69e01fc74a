"""An XRPC client for calling other services (httpx, async).

:meth:`XrpcClient.query` (GET) and :meth:`XrpcClient.procedure` (POST) take params as a dict
or a params struct (booleans as ``true``/``false``, lists as repeated names) and a JSON input
(a struct or a dict) or raw bytes; the answer is decoded into the given output struct (or
returned as JSON, or bytes for other encodings). An error answer raises :class:`XrpcError`
with the service's status, name and message (a non-JSON error body, as proxies send, keeps
the status and the generic name); a transport failure raises 502 ``UpstreamFailure``, a
timeout 504 ``UpstreamTimeout``, and an answer that does not decode 502 ``UpstreamFailure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar, overload
from urllib.parse import urlencode

import httpx
import msgspec

from strato.lexicon.types._base import dec_hook
from strato.xrpc.errors import ErrorBody, XrpcError

T = TypeVar("T")
Params = Mapping[str, Any] | msgspec.Struct | None


class XrpcClient:
    """Calls to one service at ``base_url``; ``headers`` go with every call (for example a
    service-auth ``Authorization``)."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._own = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._headers = dict(headers or {})

    async def __aenter__(self) -> XrpcClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client (when this object made it)."""
        if self._own:
            await self._client.aclose()

    @overload
    async def query(
        self,
        nsid: str,
        params: Params = None,
        *,
        output: type[T],
        headers: Mapping[str, str] | None = None,
    ) -> T: ...
    @overload
    async def query(
        self,
        nsid: str,
        params: Params = None,
        *,
        output: None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any: ...
    async def query(
        self,
        nsid: str,
        params: Params = None,
        *,
        output: type[Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET ``/xrpc/<nsid>``."""
        response = await self._send("GET", nsid, params, None, {**(headers or {})})
        return _decode(response, output)

    @overload
    async def procedure(
        self, nsid: str, input: Any = None, *, output: type[T], params: Params = None,
        encoding: str | None = None, headers: Mapping[str, str] | None = None,
    ) -> T: ...  # fmt: skip
    @overload
    async def procedure(
        self, nsid: str, input: Any = None, *, output: None = None, params: Params = None,
        encoding: str | None = None, headers: Mapping[str, str] | None = None,
    ) -> Any: ...  # fmt: skip
    async def procedure(
        self,
        nsid: str,
        input: Any = None,
        *,
        output: type[Any] | None = None,
        params: Params = None,
        encoding: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """POST ``/xrpc/<nsid>`` with ``input``: bytes (sent as ``encoding``, default
        ``application/octet-stream``), or a struct or dict sent as JSON."""
        extra: dict[str, str] = {}
        body: bytes | None = None
        if isinstance(input, bytes | bytearray | memoryview):
            body = bytes(input)
            extra["content-type"] = encoding or "application/octet-stream"
        elif input is not None:
            body = msgspec.json.encode(input)
            extra["content-type"] = encoding or "application/json"
        response = await self._send("POST", nsid, params, body, {**extra, **(headers or {})})
        return _decode(response, output)

    async def _send(
        self,
        method: str,
        nsid: str,
        params: Params,
        body: bytes | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        all_headers = {**self._headers, **headers}
        try:
            response = await self._client.request(
                method,
                f"{self.base_url}/xrpc/{nsid}",
                params=urlencode(_query(params)),
                content=body,
                headers=all_headers,
            )
        except httpx.TimeoutException:
            raise XrpcError(504, "UpstreamTimeout", f"{nsid}: the service timed out") from None
        except httpx.HTTPError as err:
            raise XrpcError(502, "UpstreamFailure", f"{nsid}: {err}") from None
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code != 200:
            raise XrpcError(
                502, "UpstreamFailure", f"{nsid}: unexpected status {response.status_code}"
            )
        return response


def _query(params: Params) -> list[tuple[str, str]]:
    if params is None:
        return []
    values = msgspec.to_builtins(params) if isinstance(params, msgspec.Struct) else params
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is None:
                continue
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            pairs.append((name, text))
    return pairs


def _error(response: httpx.Response) -> XrpcError:
    status = response.status_code if response.status_code < 600 else 502
    try:
        body = msgspec.json.decode(response.content, type=ErrorBody)
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec's error for invalid UTF-8
        return XrpcError(status)
    if not body.error or any(c.isspace() for c in body.error):
        return XrpcError(status, None, body.message)
    return XrpcError(status, body.error, body.message)


def _decode(response: httpx.Response, output: type[Any] | None) -> Any:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if output is None:
        if not response.content:
            return None
        if content_type != "application/json":
            return response.content
    try:
        if output is None:
            return msgspec.json.decode(response.content)
        return msgspec.json.decode(response.content, type=output, dec_hook=dec_hook)
    except (msgspec.DecodeError, UnicodeDecodeError) as err:  # msgspec's error for invalid UTF-8
        raise XrpcError(502, "UpstreamFailure", f"invalid response: {err}") from None
