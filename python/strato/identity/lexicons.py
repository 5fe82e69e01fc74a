"""Lexicon resolution: from an NSID to the schema its authority publishes, verified and cached.

The steps (lexicon spec, "Lexicon Publication and Resolution"; digest §15):

1. **Authority.** The DNS TXT record ``_lexicon.<authority in DNS order>`` (the name segment
   dropped: ``app.toy.record`` -> ``_lexicon.toy.app``) names the publishing DID. The lookup
   never walks up or down the DNS tree.
2. **Identity.** That DID's document gives its PDS and its signing key.
3. **Record.** The schema is the ``com.atproto.lexicon.schema`` record whose key is the NSID.
   It is fetched with ``com.atproto.sync.getRecord``, a CAR holding the signed commit and the MST
   path to the record, and :func:`~strato.repo.verify.verify_record_car` checks the signature
   and the proof. So neither the PDS nor anything between can forge a schema, and a proof of
   absence is a definite "not published".
4. **Document.** The record must be a valid lexicon document (:func:`parse_lexicon`) whose
   ``id`` is the NSID.

Answers and failures go through the identity resolver's cache (persisted in LMDB when it has a
store) under ``lexicon:<nsid>``: fresh answers are served, stale ones are refreshed in the
background, and "not found" or "invalid" answers are cached as negative entries. A transient
failure (timeout, 5xx) is never cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from strato import dagcbor
from strato._core import CID
from strato.errors import (
    CommitVerificationError,
    DecodeError,
    IdentifierError,
    IdentityError,
    IdentityUnavailableError,
    LexiconNotFoundError,
    LexiconResolutionError,
    LexiconValidationError,
)
from strato.identity import IdentityResolver
from strato.lexicon.catalog import Catalog
from strato.lexicon.document import LexiconDoc, parse_lexicon
from strato.repo.verify import verify_record_car
from strato.syntax import NSID

SCHEMA_COLLECTION: Final = "com.atproto.lexicon.schema"
#: The largest ``getRecord`` answer read: a commit, an MST path (a few nodes of a few KiB) and
#: the schema record, which the PDS caps far below this (records are at most 1 MiB).
MAX_RECORD_CAR_BYTES: Final = 2 * 1024 * 1024
CAR_MEDIA_TYPE: Final = "application/vnd.ipld.car"
#: The most documents one :meth:`LexiconResolver.resolve_into` fetches (the requested lexicon
#: and what it references); app.bsky.feed.post, for scale, reaches 18 others.
MAX_REFERENCED: Final = 100


@dataclass(frozen=True, slots=True)
class ResolvedLexicon:
    """A published lexicon: the document and where it was proven to come from."""

    nsid: str
    #: The authority DID whose repository holds the schema record.
    did: str
    #: The schema record's CID (as in its repository's MST).
    cid: CID
    #: The lexicon document (the record without its ``$type``), checked.
    doc: LexiconDoc

    @property
    def uri(self) -> str:
        """The schema record's AT-URI."""
        return f"at://{self.did}/{SCHEMA_COLLECTION}/{self.nsid}"

    def to_json(self) -> dict[str, Any]:
        """The document as a lexicon file holds it (what ``strato lexicon fetch`` writes)."""
        return self.doc.doc


@dataclass(frozen=True, slots=True)
class Resolution:
    """What :meth:`LexiconResolver.resolve_into` added to a catalog, and the referenced
    lexicons it could not resolve (NSID -> why)."""

    added: list[ResolvedLexicon]
    failed: dict[str, str]


def referenced_nsids(doc: LexiconDoc) -> set[str]:
    """The NSIDs of other lexicons that ``doc``'s ``ref`` and ``union`` types point into."""
    found: set[str] = set()
    stack: list[Any] = [doc.defs]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "ref" and isinstance(node.get("ref"), str):
                found.add(node["ref"])
            elif node.get("type") == "union" and isinstance(node.get("refs"), list):
                found.update(ref for ref in node["refs"] if isinstance(ref, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return {ref.partition("#")[0] for ref in found if not ref.startswith("#")} - {doc.id}


class LexiconResolver:
    """Resolves NSIDs to their published lexicons through an :class:`IdentityResolver` (whose
    DNS, HTTP client with its SSRF guard, and cache it uses). ``strict=False`` accepts a schema
    record whose commit has a high-S signature."""

    def __init__(self, identity: IdentityResolver, *, strict: bool = True) -> None:
        self.identity = identity
        self.strict = strict

    async def resolve(self, nsid: str) -> ResolvedLexicon:
        """The lexicon published for ``nsid``. Raises :class:`IdentifierError` for a malformed
        NSID, :class:`LexiconNotFoundError` when none is published,
        :class:`LexiconResolutionError` when what is published cannot be trusted or is not a
        lexicon for ``nsid``, another :class:`IdentityError` when the authority's identity does
        not resolve, and :class:`IdentityUnavailableError` for a transient failure."""
        name = NSID(nsid)

        async def fetch() -> bytes:
            return await self._fetch(name)

        return _decode_entry(name, await self.identity.cached(f"lexicon:{name}", name, fetch))

    async def resolve_into(self, catalog: Catalog, nsid: str) -> Resolution:
        """Resolve ``nsid`` and add its document to ``catalog`` (replacing an older one), then
        the lexicons it references (``ref``, ``union``) that the catalog lacks, and theirs, up to
        :data:`MAX_REFERENCED` documents. ``nsid`` itself must resolve (its errors are raised);
        a referenced lexicon that does not is listed in :attr:`Resolution.failed`, since only
        data that reaches it needs it."""
        first = await self.resolve(nsid)
        catalog.add(first.doc)
        added: list[ResolvedLexicon] = [first]
        failed: dict[str, str] = {}
        pending = sorted(referenced_nsids(first.doc) - {nsid})
        while pending and len(added) + len(failed) <= MAX_REFERENCED:
            name = pending.pop(0)
            if name in catalog or name in failed:
                continue
            try:
                resolved = await self.resolve(name)
            except (IdentityError, IdentifierError) as err:
                failed[name] = str(err)
                continue
            catalog.add(resolved.doc)
            added.append(resolved)
            pending.extend(sorted(referenced_nsids(resolved.doc) - set(pending)))
        return Resolution(added, failed)

    async def _fetch(self, nsid: NSID) -> bytes:
        did = await self.identity.resolve_lexicon_authority(nsid)
        identity = await self.identity.resolve(did)
        if identity.pds is None:
            raise LexiconResolutionError(f"the authority {did} has no PDS endpoint", nsid)
        if identity.signing_key is None:
            raise LexiconResolutionError(f"the authority {did} has no signing key", nsid)
        query = urlencode({"did": did, "collection": SCHEMA_COLLECTION, "rkey": str(nsid)})
        response = await self.identity.network.fetcher.get(
            f"{identity.pds}/xrpc/com.atproto.sync.getRecord?{query}",
            max_bytes=MAX_RECORD_CAR_BYTES,
            failure=LexiconResolutionError,
            accept=CAR_MEDIA_TYPE,
        )
        if response.status >= 500 or response.status == 429:
            raise IdentityUnavailableError(f"HTTP {response.status} from {response.url}", nsid)
        if response.status in (400, 404):
            # The reference PDS answers a missing record with 400 RecordNotFound (or 404).
            raise LexiconNotFoundError(
                f"the repository of {did} holds no schema record (HTTP {response.status})", nsid
            )
        if response.status != 200:
            raise LexiconResolutionError(f"HTTP {response.status} from {response.url}", nsid)
        try:
            verified = verify_record_car(
                response.body,
                did=did,
                collection=SCHEMA_COLLECTION,
                rkey=str(nsid),
                did_key=identity.signing_key,
                strict=self.strict,
            )
        except CommitVerificationError as err:
            raise LexiconResolutionError(
                f"the schema record from {did} fails verification: {err}", nsid
            ) from err
        if verified is None:
            raise LexiconNotFoundError(f"the repository of {did} holds no schema record", nsid)
        entry = dagcbor.encode({"did": did, "cid": verified.cid, "record": verified.data})
        _decode_entry(nsid, entry)  # refuse (and cache the refusal of) a record that is no lexicon
        return entry


def _decode_entry(nsid: NSID, entry: bytes) -> ResolvedLexicon:
    """The resolved lexicon from a cache entry (the DID, the CID and the record's bytes)."""
    value = dagcbor.decode(entry)
    did, cid = value["did"], value["cid"]
    try:
        record = dagcbor.decode(value["record"])
    except DecodeError as err:
        raise LexiconResolutionError(
            f"the schema record is not valid DAG-CBOR: {err}", nsid
        ) from err
    if not isinstance(record, dict) or record.get("$type") != SCHEMA_COLLECTION:
        raise LexiconResolutionError(f"the record is not a {SCHEMA_COLLECTION} record", nsid)
    document = {key: item for key, item in record.items() if key != "$type"}
    try:
        doc = parse_lexicon(document)
    except LexiconValidationError as err:
        raise LexiconResolutionError(
            f"the schema record is not a valid lexicon: {err}", nsid
        ) from err
    if doc.id != nsid:
        raise LexiconResolutionError(f"the schema record is the lexicon of {doc.id}", nsid)
    return ResolvedLexicon(str(nsid), did, cid, doc)
