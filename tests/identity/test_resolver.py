"""DID and handle resolution (``strato.identity.methods`` through ``IdentityResolver``) against
real servers on 127.0.0.1: a PLC directory and well-known files over HTTP, ``_atproto`` TXT
records over DNS; bidirectional handle verification; the URL shapes of public hosts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from localnet import LocalDns, LocalHttp, did_doc
from strato.errors import (
    DidNotFoundError,
    DidResolutionError,
    HandleNotFoundError,
    HandleResolutionError,
    IdentifierError,
    IdentityUnavailableError,
    UnsafeAddressError,
)
from strato.identity import Identity, IdentityResolver
from strato.netpolicy import NetworkPolicy

ALICE = "did:plc:alicealicealicealicealic"
BOB = "did:plc:bobbobbobbobbobbobbobbob"
KEY = "did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"
T = TypeVar("T")


def resolve(
    dns: LocalDns,
    http: LocalHttp,
    call: Callable[[IdentityResolver], Awaitable[T]],
    **options: Any,
) -> T:
    """Run ``call`` with a local-network resolver pointed at the test servers."""

    async def run() -> T:
        local_network = options.pop("local_network", True)
        options.setdefault("policy", NetworkPolicy(local_network=local_network))
        options.setdefault("timeout", 3.0)
        async with IdentityResolver(
            plc_url=http.url,
            nameservers=[dns.address],
            local_http_port=http.port,
            **options,
        ) as resolver:
            return await call(resolver)

    return asyncio.run(run())


def did_of(dns: LocalDns, http: LocalHttp, did: str) -> Any:
    return resolve(dns, http, lambda r: r.resolve_did(did))


def handle_of(dns: LocalDns, http: LocalHttp, handle: str, **options: Any) -> str:
    return resolve(dns, http, lambda r: r.resolve_handle(handle), **options)


def identity_of(dns: LocalDns, http: LocalHttp, identifier: str) -> Identity:
    return resolve(dns, http, lambda r: r.resolve(identifier))


# -- did:plc ----------------------------------------------------------------------------------


def test_did_plc(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="alice.test"))
    doc = did_of(local_dns, local_http, ALICE)
    assert doc.id == ALICE
    assert doc.signing_key() == KEY
    assert local_http.hits[("127.0.0.1", f"/{ALICE}")] == 1


def test_plc_url_with_trailing_slash(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_http.serve(f"/{ALICE}", did_doc(ALICE))

    async def call(resolver: IdentityResolver) -> str:
        return (await resolver.resolve_did(ALICE)).id

    async def run() -> str:
        async with IdentityResolver(plc_url=local_http.url + "/") as resolver:
            return await call(resolver)

    assert asyncio.run(run()) == ALICE


@pytest.mark.parametrize(
    ("served", "error", "reason"),
    [
        ((404, b""), DidNotFoundError, "DID document not found (HTTP 404)"),
        ((410, b""), DidNotFoundError, "DID document tombstoned or deactivated (HTTP 410)"),
        ((400, b""), DidResolutionError, "HTTP 400 from "),
        ((500, b""), IdentityUnavailableError, "HTTP 500 from "),
        ((429, b""), IdentityUnavailableError, "HTTP 429 from "),
        ((200, b"not json"), DidResolutionError, "malformed DID document: JSON is malformed"),
        ((200, did_doc(BOB)), DidResolutionError, f"DID document is for {BOB}"),
        ((200, b"x" * (64 * 1024 + 1)), DidResolutionError, "response too large"),
    ],
)
def test_did_plc_failures(
    local_dns: LocalDns,
    local_http: LocalHttp,
    served: tuple[int, bytes],
    error: type[Exception],
    reason: str,
) -> None:
    status, body = served
    if status != 404:
        local_http.serve(f"/{ALICE}", body, status=status)
    with pytest.raises(error) as info:
        did_of(local_dns, local_http, ALICE)
    assert getattr(info.value, "reason", "").startswith(reason)
    assert getattr(info.value, "subject", None) == ALICE


@pytest.mark.parametrize(
    ("did", "error", "reason"),
    [
        ("did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF", DidResolutionError, None),
        ("did:plc:short", IdentifierError, "did:plc identifier must be 24"),
        ("did:PLC:alicealicealicealicealic", IdentifierError, "DID method must be one or more"),
        ("alice.test", IdentifierError, 'DID must start with "did:"'),
        ("did:web:example.com:user:alice", DidResolutionError, "path-based did:web"),
        ("did:web:localhost%3Ax", DidResolutionError, "bad did:web port 'x'"),
        (
            "did:web:under_score.com",
            DidResolutionError,
            "did:web host: handle has a disallowed character '_'",
        ),
        ("did:web:alice.onion", DidResolutionError, "did:web host: reserved top-level domain"),
    ],
)
def test_bad_dids(
    local_dns: LocalDns, local_http: LocalHttp, did: str, error: type[Exception], reason: str | None
) -> None:
    with pytest.raises(error) as info:
        did_of(local_dns, local_http, did)
    assert getattr(info.value, "reason", "").startswith(reason or "unsupported DID method 'key'")
    assert local_http.hits.total() == 0


# -- did:web ----------------------------------------------------------------------------------


def test_did_web_on_a_local_network(local_dns: LocalDns, local_http: LocalHttp) -> None:
    did = f"did:web:localhost%3A{local_http.port}"
    local_http.serve("/.well-known/did.json", did_doc(did, pds=None), host="localhost")
    assert did_of(local_dns, local_http, did).id == did


def test_did_web_host_through_local_dns(local_dns: LocalDns, local_http: LocalHttp) -> None:
    did = "did:web:feed.test"
    local_dns.a("feed.test", "127.0.0.1")
    local_http.serve("/.well-known/did.json", did_doc(did), host="feed.test")
    assert did_of(local_dns, local_http, did).id == did
    local_http.routes.clear()
    with pytest.raises(DidNotFoundError):
        did_of(local_dns, local_http, did)
    with pytest.raises(DidNotFoundError) as info:
        did_of(local_dns, local_http, "did:web:gone.test")
    assert info.value.reason.startswith("host gone.test does not resolve")


@pytest.mark.parametrize("address", ["10.0.0.7", "169.254.169.254", "0.0.0.0"])
def test_did_web_on_a_non_public_address_is_refused_on_a_local_network(
    local_dns: LocalDns, local_http: LocalHttp, address: str
) -> None:
    did = "did:web:feed.test"
    local_dns.a("feed.test", address)
    local_http.serve("/.well-known/did.json", did_doc(did), host="feed.test")
    with pytest.raises(UnsafeAddressError) as info:
        did_of(local_dns, local_http, did)
    assert info.value.subject == did
    assert f"(feed.test resolves to {address})" in info.value.reason
    assert local_http.hits.total() == 0


def test_did_web_public_url_shape(local_dns: LocalDns) -> None:
    did = "did:web:example.com"
    local_dns.a("example.com", "93.184.216.34")
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.headers['Host']} {request.url}")
        return httpx.Response(200, content=did_doc(did))

    async def run() -> str:
        async with IdentityResolver(
            nameservers=[local_dns.address], transport=httpx.MockTransport(handler)
        ) as resolver:
            return (await resolver.resolve_did(did)).id

    assert asyncio.run(run()) == did
    assert seen == ["example.com https://93.184.216.34/.well-known/did.json"]


def test_did_web_port_needs_a_local_network(local_dns: LocalDns, local_http: LocalHttp) -> None:
    with pytest.raises(DidResolutionError) as info:
        resolve(
            local_dns,
            local_http,
            lambda r: r.resolve_did("did:web:localhost%3A1234"),
            local_network=False,
        )
    assert info.value.reason == "did:web with a port is only allowed on a local network"


# -- handles ----------------------------------------------------------------------------------


def test_handle_by_dns(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_dns.txt("_atproto.alice.test", "v=spf1 -all", f"did={ALICE}")
    assert handle_of(local_dns, local_http, "Alice.TEST") == ALICE
    assert local_http.hits.total() == 0


def test_handle_by_dns_repeated_record(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_dns.txt("_atproto.alice.test", f"did={ALICE}", f"did={ALICE}")
    assert handle_of(local_dns, local_http, "alice.test") == ALICE


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ([f"did={ALICE}", f"did={BOB}"], "several did= TXT records name different DIDs"),
        (["did=alice"], 'invalid DID in TXT record: DID must start with "did:"'),
        (["did=did:plc:short"], "invalid DID in TXT record: did:plc identifier must be 24"),
    ],
)
def test_bad_dns_records_fall_back_to_http(
    local_dns: LocalDns, local_http: LocalHttp, values: list[str], reason: str
) -> None:
    local_dns.txt("_atproto.alice.test", *values)
    local_dns.a("alice.test", "127.0.0.1")
    with pytest.raises(HandleResolutionError) as info:
        handle_of(local_dns, local_http, "alice.test")
    assert not isinstance(info.value, HandleNotFoundError)
    assert info.value.reason.startswith(reason)
    assert local_http.hits[("alice.test", "/.well-known/atproto-did")] == 1
    local_http.serve("/.well-known/atproto-did", BOB, host="alice.test")
    assert handle_of(local_dns, local_http, "alice.test") == BOB


def test_handle_by_http(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_dns.a("alice.test", "127.0.0.1")
    local_http.serve("/.well-known/atproto-did", f"  {ALICE}\n", host="alice.test")
    assert handle_of(local_dns, local_http, "alice.test") == ALICE
    assert local_dns.queries[("_atproto.alice.test", "TXT")] == 1


def test_dns_answer_wins_over_http(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_dns.txt("_atproto.alice.test", f"did={ALICE}")
    local_dns.a("alice.test", "127.0.0.1")
    local_http.serve("/.well-known/atproto-did", BOB, host="alice.test")
    assert handle_of(local_dns, local_http, "alice.test") == ALICE


@pytest.mark.parametrize(
    ("served", "error", "reason"),
    [
        ((404, ""), HandleNotFoundError, "well-known atproto-did not found (HTTP 404)"),
        ((403, ""), HandleResolutionError, "HTTP 403 from "),
        ((503, ""), IdentityUnavailableError, "HTTP 503 from "),
        ((200, "<html>hello</html>"), HandleResolutionError, "invalid DID in well-known"),
        ((200, "x" * 2049), HandleResolutionError, "response too large"),
    ],
)
def test_handle_http_failures(
    local_dns: LocalDns,
    local_http: LocalHttp,
    served: tuple[int, str],
    error: type[Exception],
    reason: str,
) -> None:
    status, body = served
    local_dns.a("alice.test", "127.0.0.1")
    if status != 404:
        local_http.serve("/.well-known/atproto-did", body, status=status, host="alice.test")
    with pytest.raises(error) as info:
        handle_of(local_dns, local_http, "alice.test")
    assert type(info.value) is error
    assert getattr(info.value, "reason", "").startswith(reason)


def test_handle_not_found_anywhere(local_dns: LocalDns, local_http: LocalHttp) -> None:
    with pytest.raises(HandleNotFoundError) as info:
        handle_of(local_dns, local_http, "nobody.test")
    assert info.value.reason.startswith("host nobody.test does not resolve")
    assert info.value.subject == "nobody.test"


def test_dns_failure_is_reported_over_http_not_found(
    local_dns: LocalDns, local_http: LocalHttp
) -> None:
    local_dns.servfail.add("_atproto.alice.test")
    local_dns.a("alice.test", "127.0.0.1")
    with pytest.raises(IdentityUnavailableError) as info:
        handle_of(local_dns, local_http, "alice.test")
    assert info.value.reason.startswith("DNS failure for TXT _atproto.alice.test")


def test_dns_timeout(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_dns.silent.add("_atproto.alice.test")
    local_dns.a("alice.test", "127.0.0.1")
    with pytest.raises(IdentityUnavailableError) as info:
        handle_of(local_dns, local_http, "alice.test", timeout=0.5)
    assert info.value.reason == "DNS timeout for TXT _atproto.alice.test"


@pytest.mark.parametrize(
    ("handle", "local_network", "reason"),
    [
        ("alice.example", False, "reserved top-level domain .example"),
        ("alice.localhost", False, "reserved top-level domain .localhost"),
        ("handle.invalid", True, "reserved top-level domain .invalid"),
        ("alice.onion", True, "reserved top-level domain .onion"),
        ("alice", True, "handle must have at least two labels (a domain name with a TLD)"),
        ("-alice.com", True, "handle label must not start or end with a hyphen"),
        ("alice.com.", True, "handle has an empty label (a leading, trailing or double dot)"),
    ],
)
def test_bad_handles(
    local_dns: LocalDns, local_http: LocalHttp, handle: str, local_network: bool, reason: str
) -> None:
    with pytest.raises(IdentifierError) as info:
        handle_of(local_dns, local_http, handle, local_network=local_network)
    assert info.value.reason == reason
    assert local_dns.queries.total() == 0


def test_local_network_accepts_private_tlds(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_dns.txt("_atproto.alice.internal", f"did={ALICE}")
    assert handle_of(local_dns, local_http, "alice.internal") == ALICE


def test_handle_public_url_shape(local_dns: LocalDns) -> None:
    local_dns.a("alice.example.com", "93.184.216.34")
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.headers['Host']} {request.url}")
        return httpx.Response(200, text=ALICE)

    async def run() -> str:
        async with IdentityResolver(
            nameservers=[local_dns.address], transport=httpx.MockTransport(handler)
        ) as resolver:
            return await resolver.resolve_handle("alice.example.com")

    assert asyncio.run(run()) == ALICE
    assert seen == ["alice.example.com https://93.184.216.34/.well-known/atproto-did"]


# -- bidirectional verification ---------------------------------------------------------------


def test_resolve_handle_verified(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_dns.txt("_atproto.alice.test", f"did={ALICE}")
    doc = did_doc(ALICE, handle="Alice.Test", pds="http://pds.test:2583")
    local_http.serve(f"/{ALICE}", doc)
    identity = identity_of(local_dns, local_http, "ALICE.test")
    assert identity == Identity(
        did=ALICE,
        handle="alice.test",
        declared_handle="alice.test",
        handle_error=None,
        signing_key=KEY,
        pds="http://pds.test:2583",
        doc=identity.doc,
        doc_json=doc,
    )
    assert identity.doc.id == ALICE


def test_resolve_did_verified(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_dns.txt("_atproto.alice.test", f"did={ALICE}")
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="alice.test"))
    identity = identity_of(local_dns, local_http, ALICE)
    assert (identity.handle, identity.handle_error) == ("alice.test", None)


def test_handle_pointing_at_a_did_that_declares_another(
    local_dns: LocalDns, local_http: LocalHttp
) -> None:
    local_dns.txt("_atproto.mallory.test", f"did={ALICE}")
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="alice.test"))
    with pytest.raises(HandleResolutionError) as info:
        identity_of(local_dns, local_http, "mallory.test")
    assert info.value.reason == f"handle mismatch: the DID document of {ALICE} declares alice.test"
    assert info.value.subject == "mallory.test"
    assert local_dns.queries[("_atproto.alice.test", "TXT")] == 0


def test_handle_pointing_at_a_did_without_handle(
    local_dns: LocalDns, local_http: LocalHttp
) -> None:
    local_dns.txt("_atproto.alice.test", f"did={ALICE}")
    local_http.serve(f"/{ALICE}", did_doc(ALICE))
    with pytest.raises(HandleResolutionError) as info:
        identity_of(local_dns, local_http, "alice.test")
    assert info.value.reason == f"handle mismatch: the DID document of {ALICE} declares no handle"


def test_did_claiming_a_handle_of_someone_else(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_dns.txt("_atproto.alice.test", f"did={ALICE}")
    local_http.serve(f"/{BOB}", did_doc(BOB, handle="alice.test"))
    identity = identity_of(local_dns, local_http, BOB)
    assert identity.handle is None
    assert identity.declared_handle == "alice.test"
    assert identity.handle_error == f"alice.test resolves to {ALICE}"


def test_did_claiming_an_unresolvable_handle(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_http.serve(f"/{BOB}", did_doc(BOB, handle="bob.test", key=None, pds=None))
    identity = identity_of(local_dns, local_http, BOB)
    assert identity.handle is None
    assert identity.handle_error is not None
    assert identity.handle_error.startswith("bob.test: host bob.test does not resolve")
    assert (identity.signing_key, identity.pds) == (None, None)


def test_did_without_handle(local_dns: LocalDns, local_http: LocalHttp) -> None:
    local_http.serve(f"/{BOB}", did_doc(BOB))
    identity = identity_of(local_dns, local_http, BOB)
    assert identity.handle is None
    assert identity.handle_error == "the DID document declares no valid handle"
    assert json.loads(identity.doc_json)["id"] == BOB
