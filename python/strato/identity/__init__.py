"""Identity: DID documents, DID and handle resolution with an HTTP client under the network
policy (:mod:`strato.netpolicy`), and a cache persisted in LMDB.

- :mod:`.document`: parse DID documents; the signing key, PDS endpoint and declared handle.
- :mod:`.resolver`: :class:`IdentityResolver` (async), :class:`Identity`,
  :func:`resolve_identity_sync`.
- :mod:`.cache`: :class:`IdentityCache` (TTL, stale-while-revalidate, negative entries, purge).
- :mod:`.methods`, :mod:`.fetch`, :mod:`.dnsclient`, :mod:`.names`: the network steps, the
  guarded HTTP client, DNS, and the identifier checks they rely on.
- :mod:`.plc`: the did:plc method: operations, the log rules, :class:`PlcClient` for any PLC
  directory (the directory service itself is :mod:`strato.plc`).
- :mod:`.lexicons`: :class:`LexiconResolver`, published lexicons found the way identities are
  (``_lexicon`` DNS TXT, the authority's DID, its verified schema record).
"""

from strato.identity.cache import IdentityCache
from strato.identity.document import DidDocument, Service, VerificationMethod, parse_did_document
from strato.identity.methods import DEFAULT_PLC_URL
from strato.identity.resolver import Identity, IdentityResolver, resolve_identity_sync

__all__ = [
    "DEFAULT_PLC_URL",
    "DidDocument",
    "Identity",
    "IdentityCache",
    "IdentityResolver",
    "Service",
    "VerificationMethod",
    "parse_did_document",
    "resolve_identity_sync",
]
