"""DID documents (``strato.identity.document``): every fixture in indigo's identity testdata, and
the extraction rules (key, PDS, handle) on documents built to break each of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_path, skipped_param
from localnet import did_doc
from strato.crypto import K256, P256, PrivateKey
from strato.errors import DidResolutionError, IdentityError
from strato.identity import DidDocument, parse_did_document

FIXTURES = shared_path("testdata", "indigo", "atproto", "identity", "testdata")
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
KEY = "did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"

#: What each fixture holds: (signing key or error reason, PDS or error reason, handle).
EXPECTED: dict[str, tuple[str, str, str | None]] = {
    "did_plc_doc.json": (KEY, "https://bsky.social", "atproto.com"),
    "did_plc_doc_legacy.json": (KEY, "https://bsky.social", "atproto.com"),
    "did_web_doc.json": ("no atproto signing key", "no atproto PDS service", None),
}


def fixture_files() -> list[Any]:
    if not FIXTURES.is_dir():
        return skipped_param(FIXTURES)
    return [pytest.param(path, id=path.name) for path in sorted(FIXTURES.glob("*.json"))]


def outcome(call: Any) -> str:
    try:
        return str(call())
    except IdentityError as err:
        return err.reason


@pytest.mark.parametrize("path", fixture_files())
def test_fixture(path: Path) -> None:
    data = path.read_bytes()
    doc = parse_did_document(data, json.loads(data)["id"])
    key, pds, handle = EXPECTED[path.name]
    assert outcome(doc.signing_key) == key
    assert outcome(doc.pds_endpoint) == pds
    assert doc.declared_handle() == handle


def test_every_fixture_is_expected() -> None:
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} is missing")
    assert {path.name for path in FIXTURES.glob("*.json")} == set(EXPECTED)


def build(**changes: Any) -> DidDocument:
    doc = json.loads(did_doc(DID, handle="alice.example.com"))
    doc.update(changes)
    return parse_did_document(json.dumps(doc), DID)


def vm(id_: str = "#atproto", **fields: Any) -> dict[str, Any]:
    method = {
        "id": id_,
        "type": "Multikey",
        "controller": DID,
        "publicKeyMultibase": KEY[8:],
    }
    method.update(fields)
    return method


def svc(id_: str = "#atproto_pds", **fields: Any) -> dict[str, Any]:
    service = {
        "id": id_,
        "type": "AtprotoPersonalDataServer",
        "serviceEndpoint": "https://pds.example.com",
    }
    service.update(fields)
    return service


# -- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{", "malformed DID document"),
        (b'{"id": "did:plc:\xff"}', "malformed DID document"),
        (b"[]", "malformed DID document: Expected `object`"),
        (b'{"alsoKnownAs": []}', "malformed DID document: Object missing required field `id`"),
        (b'{"id": 5}', "malformed DID document: Expected `str`, got `int` - at `$.id`"),
        (b'{"id": "did:plc:x", "alsoKnownAs": "at://a.com"}', "Expected `array`"),
        (b'{"id": "did:plc:x", "alsoKnownAs": null}', "Expected `array`, got `null`"),
        (b'{"id": "did:plc:x", "verificationMethod": [{"id": "#a"}]}', "missing required field"),
        (b'{"id": "did:plc:x", "service": [{"id": "#a", "type": 1}]}', "Expected `str`"),
        (b'{"id": "plc:ewvi7nxzyoun6zhxrhs64oiz"}', 'DID document id: DID must start with "did:"'),
        (b'{"id": "did:plc:short"}', "DID document id: did:plc identifier must be 24"),
    ],
)
def test_malformed_documents(data: bytes, reason: str) -> None:
    with pytest.raises(DidResolutionError) as info:
        parse_did_document(data)
    assert reason in info.value.reason


def test_a_document_nested_too_deep_is_malformed() -> None:
    """A did:web host's document nested deep enough to exhaust the decoder's stack."""
    data = b'{"id": "did:plc:x", "x": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    with pytest.raises(DidResolutionError) as info:
        parse_did_document(data)
    assert info.value.reason == (
        "malformed DID document: invalid data model value: nested more than 64 levels deep at $.x"
    )


def test_document_for_another_did() -> None:
    other = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    with pytest.raises(DidResolutionError) as info:
        parse_did_document(did_doc(other), DID)
    assert info.value.reason == f"DID document is for {other}"
    assert info.value.subject == DID


def test_unknown_members_and_other_endpoint_shapes_are_ignored() -> None:
    doc = build(
        authentication=None,
        service=[
            {"id": "#hub", "type": "Hub", "serviceEndpoint": {"origins": ["https://a.com"]}},
            {"id": "#set", "type": "Set", "serviceEndpoint": ["https://a.com"]},
            svc(),
        ],
    )
    assert doc.pds_endpoint() == "https://pds.example.com"


# -- signing key ------------------------------------------------------------------------------


def base58btc(data: bytes) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, digit = divmod(number, 58)
        out = alphabet[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


@pytest.mark.parametrize("id_", ["#atproto", f"{DID}#atproto"])
def test_relative_and_absolute_key_ids(id_: str) -> None:
    assert build(verificationMethod=[vm(id_)]).signing_key() == KEY


@pytest.mark.parametrize(
    ("curve", "kind"),
    [(P256, "EcdsaSecp256r1VerificationKey2019"), (K256, "EcdsaSecp256k1VerificationKey2019")],
)
def test_legacy_uncompressed_keys(curve: str, kind: str) -> None:
    public = PrivateKey.generate(curve).public_key
    multibase = "z" + base58btc(public.to_bytes(compressed=False))
    doc = build(verificationMethod=[vm(type=kind, publicKeyMultibase=multibase)])
    assert doc.signing_key() == public.did_key()


def test_first_matching_key_wins_and_others_are_skipped() -> None:
    p256 = PrivateKey.generate(P256).public_key
    doc = build(
        verificationMethod=[
            vm("#atproto_label", publicKeyMultibase=p256.multikey()),
            vm("#atproto", controller="did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"),
            vm("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#atproto", publicKeyMultibase=p256.multikey()),
            vm("#atproto"),
            vm("#atproto", publicKeyMultibase=p256.multikey()),
        ]
    )
    assert doc.signing_key() == KEY


@pytest.mark.parametrize(
    ("method", "reason"),
    [
        (vm("atproto"), "no atproto signing key"),
        (vm("#atproto", controller="did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"), "no atproto signing key"),
        (vm("#atproto", publicKeyMultibase=None), "atproto signing key has no publicKeyMultibase"),
        (vm("#atproto", type="JsonWebKey2020"), "unsupported signing key type 'JsonWebKey2020'"),
        (vm("#atproto", publicKeyMultibase="zabc"), "invalid atproto signing key: "),
        (vm("#atproto", publicKeyMultibase="not-multibase"), "invalid atproto signing key: "),
        (
            vm("#atproto", type="EcdsaSecp256r1VerificationKey2019", publicKeyMultibase="z111"),
            "invalid atproto signing key: ",
        ),
    ],
)
def test_unusable_signing_keys(method: dict[str, Any], reason: str) -> None:
    with pytest.raises(IdentityError) as info:
        build(verificationMethod=[method]).signing_key()
    assert info.value.reason.startswith(reason)
    assert info.value.subject == DID


# -- PDS endpoint -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    ["https://pds.example.com", "https://pds.example.com/", "http://localhost:2583"],
)
def test_pds_endpoints(endpoint: str) -> None:
    assert build(service=[svc(serviceEndpoint=endpoint)]).pds_endpoint() == endpoint


def test_absolute_pds_id_and_first_match() -> None:
    doc = build(
        service=[
            svc("#atproto_pds", type="BskyAppView"),
            svc(f"{DID}#atproto_pds", serviceEndpoint="https://one.example.com"),
            svc(serviceEndpoint="https://two.example.com"),
        ]
    )
    assert doc.pds_endpoint() == "https://one.example.com"


@pytest.mark.parametrize(
    ("service", "reason"),
    [
        (svc("#atproto_labeler"), "no atproto PDS service"),
        (svc(type="AtprotoLabeler"), "no atproto PDS service"),
        (svc(serviceEndpoint={"uri": "https://a.com"}), "PDS serviceEndpoint is not a string"),
        (svc(serviceEndpoint="ftp://a.com"), "scheme must be https (or http)"),
        (svc(serviceEndpoint="https://"), "no host"),
        (svc(serviceEndpoint="https://u:p@a.com"), "user info not allowed"),
        (svc(serviceEndpoint="https://a.com/xrpc"), "path, query and fragment not allowed"),
        (svc(serviceEndpoint="https://a.com?x=1"), "path, query and fragment not allowed"),
        (svc(serviceEndpoint="https://a.com:99999"), "Port out of range 0-65535"),
    ],
)
def test_unusable_pds_endpoints(service: dict[str, Any], reason: str) -> None:
    with pytest.raises(IdentityError) as info:
        build(service=[service]).pds_endpoint()
    assert info.value.reason.endswith(reason)


# -- handle -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aliases", "handle"),
    [
        (["at://Alice.Example.COM"], "alice.example.com"),
        (
            ["https://alice.example.com", "at://bob.example.com", "at://c.example.com"],
            "bob.example.com",
        ),
        (["at://not a handle", "at://bob.example.com"], None),
        (["at://", "at://bob.example.com"], None),
        (["at://bob.example.com/app.bsky.feed.post"], None),
        ([], None),
    ],
)
def test_declared_handle(aliases: list[str], handle: str | None) -> None:
    assert build(alsoKnownAs=aliases).declared_handle() == handle
