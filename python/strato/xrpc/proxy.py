"""The ``atproto-proxy`` request header: ``<did>#<service id>`` names the service a PDS should
forward the request to (spec: XRPC, "Service Proxying"). Only parsing lives here; the PDS
resolves the DID document and forwards."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from strato.syntax import is_did
from strato.xrpc.errors import invalid_request

HEADER: Final = "atproto-proxy"
# a DID-URL fragment: the characters of a service id (pchar without "#")
_SERVICE_ID: Final = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%-]+")


@dataclass(frozen=True, slots=True)
class ProxyTarget:
    """The DID whose document lists the service, and the service entry's id (no ``#``)."""

    did: str
    service_id: str

    def __str__(self) -> str:
        return f"{self.did}#{self.service_id}"

    @property
    def audience(self) -> str:
        """The ``aud`` of the service token sent with the forwarded request."""
        return str(self)


def parse_proxy_header(value: str) -> ProxyTarget:
    """``did:web:api.bsky.app#bsky_appview`` to its parts; anything else is a 400
    ``InvalidRequest`` naming the header, as the reference answers."""
    did, hash_, service_id = value.partition("#")
    if not hash_ or not is_did(did) or _SERVICE_ID.fullmatch(service_id) is None:
        raise invalid_request(f"invalid {HEADER} header: {value!r}")
    return ProxyTarget(did, service_id)
