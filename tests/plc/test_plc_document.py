"""The DID document the directory renders (``strato.plc.document``), as the reference does."""

from __future__ import annotations

from plc_helpers import did_key, key
from strato.identity.plc import DidData
from strato.plc.document import did_document

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


def test_document_with_k256_and_p256_keys() -> None:
    k256, p256 = did_key(key("k")), did_key(key("p", "p256"))
    data = DidData(
        did=DID,
        rotation_keys=[k256],
        verification_methods={"atproto": k256, "atproto_label": p256},
        also_known_as=["at://alice.test"],
        services={"atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": "https://p"}},
    )
    assert did_document(data) == {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/multikey/v1",
            "https://w3id.org/security/suites/secp256k1-2019/v1",
            "https://w3id.org/security/suites/ecdsa-2019/v1",
        ],
        "id": DID,
        "alsoKnownAs": ["at://alice.test"],
        "verificationMethod": [
            {
                "id": f"{DID}#atproto",
                "type": "Multikey",
                "controller": DID,
                "publicKeyMultibase": k256.removeprefix("did:key:"),
            },
            {
                "id": f"{DID}#atproto_label",
                "type": "Multikey",
                "controller": DID,
                "publicKeyMultibase": p256.removeprefix("did:key:"),
            },
        ],
        "service": [
            {
                "id": "#atproto_pds",
                "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": "https://p",
            }
        ],
    }


def test_unknown_key_type_gets_no_context_and_contexts_do_not_repeat() -> None:
    k256 = did_key(key("k"))
    data = DidData(
        did=DID,
        rotation_keys=[],
        verification_methods={"a": k256, "b": k256, "other": "did:key:zUnknownKeyType"},
        also_known_as=[],
        services={},
    )
    document = did_document(data)
    assert document["@context"] == [
        "https://www.w3.org/ns/did/v1",
        "https://w3id.org/security/multikey/v1",
        "https://w3id.org/security/suites/secp256k1-2019/v1",
    ]
    assert document["verificationMethod"][2]["publicKeyMultibase"] == "zUnknownKeyType"
    assert document["service"] == []
