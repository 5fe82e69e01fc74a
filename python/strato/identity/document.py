"""DID documents: strict parsing and the atproto data in them.

Owns :class:`DidDocument` (decoded with msgspec once the text is within the data model's limits,
:func:`strato.datamodel.check_json`, since it comes from whoever runs a did:web host: wrong types
are errors, unknown members such as ``@context`` or ``authentication`` are ignored) and the three
extractions atproto defines:

- the **signing key**: the first verification method whose id is ``#atproto`` (relative) or
  ``<did>#atproto`` (absolute) and whose controller is the DID. Type ``Multikey`` carries a
  multikey; the legacy ``EcdsaSecp256r1VerificationKey2019`` / ``EcdsaSecp256k1VerificationKey2019``
  types carry an uncompressed point in multibase. It is returned as a did:key.
- the **PDS endpoint**: the first service whose id is ``#atproto_pds`` or ``<did>#atproto_pds``
  and whose type is ``AtprotoPersonalDataServer``; its ``serviceEndpoint`` must be an
  ``http(s)://host[:port]`` URL with no user info, path, query or fragment.
- the **declared handle**: the first ``at://`` entry of ``alsoKnownAs``, lowercased; not trusted
  until verified in both directions (see :mod:`strato.identity.resolver`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import msgspec

from strato.crypto import K256, P256, PublicKey
from strato.datamodel import check_json
from strato.errors import (
    DataModelError,
    DidResolutionError,
    IdentifierError,
    IdentityError,
    InvalidKeyError,
)
from strato.identity.names import check_did, normalize_handle

ATPROTO_KEY_FRAGMENT: Final = "atproto"
ATPROTO_PDS_FRAGMENT: Final = "atproto_pds"
PDS_SERVICE_TYPE: Final = "AtprotoPersonalDataServer"
MULTIKEY_TYPE: Final = "Multikey"
#: The legacy verification method types and the curve each implies.
LEGACY_KEY_TYPES: Final = {
    "EcdsaSecp256r1VerificationKey2019": P256,
    "EcdsaSecp256k1VerificationKey2019": K256,
}


class VerificationMethod(msgspec.Struct, frozen=True):
    """One ``verificationMethod`` entry (keys in other encodings have no ``publicKeyMultibase``)."""

    id: str
    type: str
    controller: str
    publicKeyMultibase: str | None = None  # noqa: N815 - the DID document member name


class Service(msgspec.Struct, frozen=True):
    """One ``service`` entry; DID Core allows a map or a list as the endpoint."""

    id: str
    type: str
    serviceEndpoint: str | dict[str, Any] | list[Any]  # noqa: N815 - the DID document member name


class DidDocument(msgspec.Struct, frozen=True):
    """The members of a DID document that atproto reads."""

    id: str
    alsoKnownAs: list[str] = []  # noqa: N815 - the DID document member name
    verificationMethod: list[VerificationMethod] = []  # noqa: N815
    service: list[Service] = []

    @property
    def did(self) -> str:
        return self.id

    def signing_key(self) -> str:
        """The atproto signing key as a did:key; :class:`IdentityError` (reason ``no atproto
        signing key`` or the key's parse error) when there is none usable."""
        method = _find(self.verificationMethod, self.id, ATPROTO_KEY_FRAGMENT, self._controlled)
        if method is None:
            raise IdentityError("no atproto signing key", self.id)
        if method.publicKeyMultibase is None:
            raise IdentityError("atproto signing key has no publicKeyMultibase", self.id)
        try:
            if method.type == MULTIKEY_TYPE:
                return PublicKey.from_multikey(method.publicKeyMultibase).did_key()
            curve = LEGACY_KEY_TYPES.get(method.type)
            if curve is None:
                raise IdentityError(f"unsupported signing key type {method.type!r}", self.id)
            return PublicKey.from_multibase(method.publicKeyMultibase, curve).did_key()
        except InvalidKeyError as err:
            raise IdentityError(f"invalid atproto signing key: {err.reason}", self.id) from err

    def pds_endpoint(self) -> str:
        """The PDS URL; :class:`IdentityError` when the document names none or a malformed one."""
        service = _find(self.service, self.id, ATPROTO_PDS_FRAGMENT, _is_pds)
        if service is None:
            raise IdentityError("no atproto PDS service", self.id)
        endpoint = service.serviceEndpoint
        if not isinstance(endpoint, str):
            raise IdentityError("PDS serviceEndpoint is not a string", self.id)
        reason = _endpoint_problem(endpoint)
        if reason is not None:
            raise IdentityError(f"invalid PDS endpoint {endpoint!r}: {reason}", self.id)
        return endpoint

    def declared_handle(self) -> str | None:
        """The handle of the first ``at://`` alias (lowercased), or None when there is no such
        alias or it is not a valid handle."""
        for alias in self.alsoKnownAs:
            if alias.startswith("at://"):
                try:
                    return normalize_handle(alias[5:])
                except IdentifierError:
                    return None
        return None

    def _controlled(self, method: VerificationMethod) -> bool:
        return method.controller == self.id


_Entry = TypeVar("_Entry", VerificationMethod, Service)


def _is_pds(service: Service) -> bool:
    return service.type == PDS_SERVICE_TYPE


def _find(
    entries: list[_Entry], did: str, fragment: str, accept: Callable[[_Entry], bool]
) -> _Entry | None:
    """The first entry whose id is ``#fragment`` or ``<did>#fragment`` and that ``accept``s."""
    relative = "#" + fragment
    absolute = did + relative
    for entry in entries:
        if entry.id in (relative, absolute) and accept(entry):
            return entry
    return None


def _endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` is not an ``http(s)://host[:port]`` URL, or None when it is."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError as err:
        return str(err)
    if parts.scheme not in ("https", "http"):
        return "scheme must be https (or http)"
    if not parts.hostname:
        return "no host"
    if parts.username is not None or parts.password is not None:
        return "user info not allowed"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "path, query and fragment not allowed"
    if port == 0:
        return "port 0"
    return None


_DECODER: Final = msgspec.json.Decoder(DidDocument)


def parse_did_document(data: bytes | str, did: str | None = None) -> DidDocument:
    """Decode a DID document from JSON. Raises :class:`DidResolutionError` when the JSON is
    malformed, a member has the wrong type, ``id`` is not a DID, or (when ``did`` is given)
    ``id`` is another DID than the one resolved."""
    subject = did or ""
    try:
        check_json(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
        doc = _DECODER.decode(data)
    except (DataModelError, msgspec.DecodeError) as err:
        raise DidResolutionError(f"malformed DID document: {err}", subject) from err
    try:
        check_did(doc.id)
    except IdentifierError as err:
        raise DidResolutionError(f"DID document id: {err.reason}", subject) from err
    if did is not None and doc.id != did:
        raise DidResolutionError(f"DID document is for {doc.id}", subject)
    return doc
