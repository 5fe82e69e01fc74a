"""Service proxying over HTTP: a second app on 127.0.0.1 (a did:web service with its own DID
document) receives what the PDS forwards and checks the service token with
:class:`ServiceAuthVerifier`, resolving the account's key through the PLC directory; the
configured appview gets ``app.bsky.*``; protected methods, missing auth and bad targets are
refused before anything is sent."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from localnet import serve_app
from pds_identity_helpers import error_of
from pds_net import LocalPds, local_network
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from strato.crypto import PublicKey
from strato.identity import parse_did_document
from strato.identity.plc import PlcClient
from strato.xrpc.auth import ServiceAuthVerifier, ServiceCredentials, bearer_token
from strato.xrpc.errors import XrpcError

SERVICE_ID = "test_svc"


class Upstream:
    """A service at ``did:web:localhost%3A<port>``: its document names ``#test_svc`` at its own
    URL (and the ``others``, id -> endpoint); every XRPC call it gets is recorded with the
    verified service credentials."""

    def __init__(self) -> None:
        self.plc_url = ""
        self.port = 0
        self.others: dict[str, str] = {}
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/.well-known/did.json", self._did_json),
                Route("/xrpc/{nsid}", self._xrpc, methods=["GET", "HEAD", "POST"]),
            ]
        )

    @property
    def did(self) -> str:
        return f"did:web:localhost%3A{self.port}"

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    async def _did_json(self, request: Request) -> Response:
        services = [
            {"id": f"#{name}", "type": "TestService", "serviceEndpoint": endpoint}
            for name, endpoint in {SERVICE_ID: self.url, **self.others}.items()
        ]
        return JSONResponse({"id": self.did, "service": services})

    async def _key(self, did: str, key_id: str, refresh: bool) -> PublicKey:
        async with PlcClient(self.plc_url) as plc:
            doc = parse_did_document(json.dumps(await plc.get_document(did)), did)
        return PublicKey.from_did_key(doc.signing_key())

    async def _xrpc(self, request: Request) -> Response:
        nsid = request.path_params["nsid"]
        audiences = frozenset({f"{self.did}#{SERVICE_ID}", f"{self.did}#bsky_appview"})
        verifier = ServiceAuthVerifier(audiences=audiences, resolve_key=self._key)
        token = bearer_token(request)
        try:
            credentials: ServiceCredentials | str = await verifier.verify(token or "", nsid)
        except XrpcError as err:
            credentials = err.error
        self.received.append(
            {
                "nsid": nsid,
                "method": request.method,
                "query": request.url.query,
                "headers": dict(request.headers),
                "body": await request.body(),
                "credentials": credentials,
            }
        )
        if nsid == "com.example.refuse":
            return JSONResponse({"error": "NotForYou", "message": "go away"}, 400,
                                headers={"retry-after": "7"})  # fmt: skip
        if nsid == "com.example.crash":
            return JSONResponse({"error": "InternalServerError"}, 500)
        if nsid == "com.example.garbled":
            return Response(b'{"error": "\xff"}', 400, media_type="application/json")
        if nsid == "com.example.endless":  # an error answer that never ends

            async def endless() -> AsyncIterator[bytes]:
                yield b'{"error":"Endless","message":"'
                while True:
                    yield b"x" * 65536
                    await asyncio.sleep(0)  # lets the response see the PDS hang up

            return StreamingResponse(endless(), 400, media_type="application/json")
        if nsid == "com.example.deep":  # an error nested deep enough to exhaust a decoder
            deep = b'{"error":"Deep","x":' + b"[" * 2000 + b"]" * 2000 + b"}"
            return Response(deep, 400, media_type="application/json")
        return Response(
            json.dumps({"echo": nsid, "query": request.url.query}),
            media_type="application/json",
            headers={"atproto-repo-rev": "3kabc", "content-language": "en", "x-private": "no"},
        )


@contextlib.contextmanager
def network(tmp: Path, **settings: Any) -> Iterator[tuple[LocalPds, Upstream]]:
    upstream = Upstream()
    with serve_app(upstream.app) as url:
        upstream.port = int(url.rsplit(":", 1)[1])
        options = {"appview_url": upstream.url, "appview_did": upstream.did, **settings}
        with local_network(tmp, local_network=True, **options) as pds:
            upstream.plc_url = pds.plc_url
            yield pds, upstream


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[LocalPds, Upstream]]:
    with network(tmp_path) as running:
        yield running


def call(pds: LocalPds, nsid: str, token: str | None, *, proxy: str | None = None,
         **kwargs: Any) -> httpx.Response:  # fmt: skip
    headers = dict(kwargs.pop("headers", {}))
    if proxy is not None:
        headers["atproto-proxy"] = proxy
    return pds.xrpc(nsid, token=token, headers=headers, **kwargs)


def test_a_proxied_query_carries_a_service_token(proxied: tuple[LocalPds, Upstream]) -> None:
    pds, upstream = proxied
    session = pds.create_account("alice.test")
    target = f"{upstream.did}#{SERVICE_ID}"
    response = call(
        pds, "com.example.getThing", session["accessJwt"], proxy=target,
        params={"a": "1", "b": ["x", "y"]}, headers={"accept-language": "fr"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json() == {"echo": "com.example.getThing", "query": "a=1&b=x&b=y"}
    assert response.headers["atproto-repo-rev"] == "3kabc"
    assert response.headers["content-language"] == "en"
    assert "x-private" not in response.headers
    (received,) = upstream.received
    credentials = received["credentials"]
    assert isinstance(credentials, ServiceCredentials)
    assert (credentials.iss, credentials.aud, credentials.lxm) == (
        session["did"], target, "com.example.getThing",
    )  # fmt: skip
    assert received["method"] == "GET"
    assert received["headers"]["accept-language"] == "fr"
    assert "atproto-proxy" not in received["headers"]


def test_a_proxied_procedure_forwards_its_body(proxied: tuple[LocalPds, Upstream]) -> None:
    pds, upstream = proxied
    session = pds.create_account("alice.test")
    body = b'{"text": "hello"}'
    response = call(
        pds, "com.example.doThing", session["accessJwt"], proxy=f"{upstream.did}#{SERVICE_ID}",
        content=body, headers={"content-type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    (received,) = upstream.received
    assert (received["method"], received["body"]) == ("POST", body)
    assert received["headers"]["content-type"] == "application/json"


def test_app_bsky_goes_to_the_appview(proxied: tuple[LocalPds, Upstream]) -> None:
    pds, upstream = proxied
    session = pds.create_account("alice.test")
    response = call(pds, "app.bsky.feed.getTimeline", session["accessJwt"], params={"limit": 5})
    assert response.status_code == 200, response.text
    (received,) = upstream.received
    credentials = received["credentials"]
    assert isinstance(credentials, ServiceCredentials)
    assert credentials.aud == f"{upstream.did}#bsky_appview"
    assert credentials.lxm == "app.bsky.feed.getTimeline"
    # without a header, other namespaces have no target
    assert error_of(call(pds, "com.example.getThing", session["accessJwt"])) == (
        501, "MethodNotImplemented",
    )  # fmt: skip
    assert len(upstream.received) == 1


def test_methods_served_here_are_not_forwarded(proxied: tuple[LocalPds, Upstream]) -> None:
    pds, upstream = proxied
    session = pds.create_account("alice.test")
    target = f"{upstream.did}#{SERVICE_ID}"
    response = call(pds, "app.bsky.actor.getPreferences", session["accessJwt"], proxy=target)
    assert response.json() == {"preferences": []}
    response = call(pds, "com.atproto.server.getSession", session["accessJwt"], proxy=target)
    assert response.json()["did"] == session["did"]
    assert upstream.received == []


def test_refusals_send_nothing(proxied: tuple[LocalPds, Upstream]) -> None:
    pds, upstream = proxied
    session = pds.create_account("alice.test")
    token = session["accessJwt"]
    password = pds.ctx.accounts.create_app_password(None, session["did"], "app").password
    app_token = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": "alice.test", "password": password},
    ).json()["accessJwt"]
    target = f"{upstream.did}#{SERVICE_ID}"
    cases = [
        (call(pds, "com.example.getThing", None, proxy=target), (401, "AuthMissing")),
        (call(pds, "app.bsky.feed.getTimeline", None), (401, "AuthMissing")),
        (call(pds, "com.atproto.admin.sendEmail", token, proxy=target, json={}),
         (400, "InvalidToken")),
        (call(pds, "com.atproto.server.notAMethod", token, proxy=target),
         (501, "MethodNotImplemented")),
        (call(pds, "chat.bsky.convo.listConvos", app_token, proxy=target), (400, "InvalidToken")),
        (call(pds, "com.example.getThing", token, proxy="nonsense"), (400, "InvalidRequest")),
        (call(pds, "com.example.getThing", token, proxy=f"{upstream.did}#"),
         (400, "InvalidRequest")),
        (call(pds, "com.example.getThing", token, proxy=f"{upstream.did}#other"),
         (400, "InvalidRequest")),
        (call(pds, "com.example.getThing", token, proxy="did:web:localhost%3A1#test_svc"),
         (400, "InvalidRequest")),
        (call(pds, "com.example.getThing", token, proxy="did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#x"),
         (400, "InvalidRequest")),
    ]  # fmt: skip
    for response, expected in cases:
        assert error_of(response) == expected, response.text
    with pds.client(token) as client:
        put = client.put("/xrpc/com.example.getThing", headers={"atproto-proxy": target})
    assert error_of(put) == (400, "InvalidRequest")
    assert upstream.received == []


def test_the_privileged_methods_go_with_full_access(proxied: tuple[LocalPds, Upstream]) -> None:
    pds, upstream = proxied
    session = pds.create_account("alice.test")
    target = f"{upstream.did}#{SERVICE_ID}"
    response = call(pds, "chat.bsky.convo.listConvos", session["accessJwt"], proxy=target)
    assert response.status_code == 200, response.text
    assert [received["nsid"] for received in upstream.received] == ["chat.bsky.convo.listConvos"]


def test_upstream_errors_come_back_as_xrpc_errors(proxied: tuple[LocalPds, Upstream]) -> None:
    pds, upstream = proxied
    token = pds.create_account("alice.test")["accessJwt"]
    target = f"{upstream.did}#{SERVICE_ID}"
    refused = call(pds, "com.example.refuse", token, proxy=target)
    assert error_of(refused) == (400, "NotForYou")
    assert refused.json()["message"] == "go away"
    assert refused.headers["retry-after"] == "7"
    assert error_of(call(pds, "com.example.crash", token, proxy=target)) == (
        502,
        "InternalServerError",
    )
    assert error_of(call(pds, "com.example.garbled", token, proxy=target)) == (
        400,
        "InvalidRequest",
    )
    deep = call(pds, "com.example.deep", token, proxy=target)
    assert error_of(deep) == (400, "InvalidRequest")  # the name is lost, not the status
    endless = call(pds, "com.example.endless", token, proxy=target)
    assert error_of(endless) == (400, "InvalidRequest")  # read no further than an error's size


def test_an_unreachable_upstream_is_an_upstream_failure(tmp_path: Path) -> None:
    with local_network(
        tmp_path, local_network=True, appview_url="http://127.0.0.1:1", appview_did="did:web:x.test"
    ) as pds:
        token = pds.create_account("alice.test")["accessJwt"]
        response = call(pds, "app.bsky.feed.getTimeline", token)
        assert error_of(response) == (502, "UpstreamFailure")


def test_outside_a_local_network_only_public_https_services(tmp_path: Path) -> None:
    for url in (
        "http://appview.example.com",
        "https://127.0.0.1",
        "https://10.0.0.1:8443",
        "https://[::1]",
        "https://localhost",
    ):
        with local_network(
            tmp_path / url.replace("/", "_"), appview_url=url, appview_did="did:web:x.test"
        ) as pds:
            token = pds.create_account("alice.test")["accessJwt"]
            response = call(pds, "app.bsky.feed.getTimeline", token)
            assert error_of(response) == (400, "InvalidRequest"), url


def test_a_target_on_a_non_public_address_is_refused_on_a_local_network(
    proxied: tuple[LocalPds, Upstream],
) -> None:
    pds, upstream = proxied
    kinds = {
        "unspecified": f"http://0.0.0.0:{upstream.port}",  # 0.0.0.0 reaches this machine
        "private": f"http://10.0.0.1:{upstream.port}",
        "link-local": "http://169.254.169.254",
        "shared": "http://100.64.0.1",
        "ula": "http://[fd00::1]:8080",
    }
    upstream.others = {f"svc_{kind}": endpoint for kind, endpoint in kinds.items()}
    token = pds.create_account("alice.test")["accessJwt"]
    for kind, endpoint in kinds.items():
        response = call(pds, "com.example.getThing", token, proxy=f"{upstream.did}#svc_{kind}")
        assert error_of(response) == (400, "InvalidRequest"), kind
        reason = "private" if kind == "ula" else kind
        message = f"proxy service endpoint {endpoint!r} refused: {reason} address"
        assert response.json()["message"] == message
    assert upstream.received == []
