"""The DID document a PLC directory serves for a DID (``GET /:did``).

Rendered as the reference directory does (did-method-plc ``packages/lib/src/document.ts``):
``@context`` is the DID core and Multikey contexts, plus one suite context per key curve in
use (``ecdsa-2019`` for P-256, ``secp256k1-2019`` for k256); each verification method is a
``Multikey`` with id ``<did>#<name>`` and the did:key without its ``did:key:`` prefix as
``publicKeyMultibase``; each service has id ``#<name>`` and its endpoint as
``serviceEndpoint``.
"""

from __future__ import annotations

from typing import Any, Final

from strato.crypto import K256, P256, PublicKey
from strato.errors import InvalidKeyError
from strato.identity.plc.log import DidData

MEDIA_TYPE: Final = "application/did+ld+json"
BASE_CONTEXT: Final = ("https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1")
CURVE_CONTEXT: Final = {
    P256: "https://w3id.org/security/suites/ecdsa-2019/v1",
    K256: "https://w3id.org/security/suites/secp256k1-2019/v1",
}


def did_document(data: DidData) -> dict[str, Any]:
    """The DID document of ``data``."""
    context = list(BASE_CONTEXT)
    methods = []
    for name, key in data.verification_methods.items():
        curve_context = _curve_context(key)
        if curve_context is not None and curve_context not in context:
            context.append(curve_context)
        methods.append(
            {
                "id": f"{data.did}#{name}",
                "type": "Multikey",
                "controller": data.did,
                "publicKeyMultibase": key.removeprefix("did:key:"),
            }
        )
    services = [
        {"id": f"#{name}", "type": service["type"], "serviceEndpoint": service["endpoint"]}
        for name, service in data.services.items()
    ]
    return {
        "@context": context,
        "id": data.did,
        "alsoKnownAs": data.also_known_as,
        "verificationMethod": methods,
        "service": services,
    }


def _curve_context(key: str) -> str | None:
    """The suite context of a k256 or P-256 did:key; None for another key (no context is
    known for it, as in the reference)."""
    try:
        return CURVE_CONTEXT[PublicKey.from_did_key(key).curve]
    except InvalidKeyError:
        return None
