"""The public entry point: :class:`IdentityResolver`, DIDs and handles to verified identities.

Owns the policy that ties the pieces together:

- every answer goes through the :class:`~strato.identity.cache.IdentityCache` (a memory-only
  one unless the caller passes a persistent cache); a stale entry is served while one
  background task refreshes it; concurrent lookups of one key share a single fetch;
- :meth:`IdentityResolver.resolve` verifies handles in both directions: from a handle, the DID
  document must declare that handle (else :class:`~strato.errors.HandleResolutionError`); from a
  DID, the declared handle is kept only if it resolves back to the DID, otherwise
  :attr:`Identity.handle` is None and :attr:`Identity.handle_error` says why;
- :func:`resolve_identity_sync` runs one resolution for command-line use.

Malformed identifiers raise :class:`~strato.errors.IdentifierError` (a ``ValueError``) before
any network access.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

import httpx

from strato.errors import HandleResolutionError, IdentityError, IdentityUnavailableError
from strato.identity.cache import CacheEntry, Freshness, IdentityCache
from strato.identity.dnsclient import DnsClient
from strato.identity.document import DidDocument, parse_did_document
from strato.identity.fetch import DEFAULT_TIMEOUT, Fetcher
from strato.identity.methods import (
    DEFAULT_PLC_URL,
    Network,
    fetch_did_document,
    resolve_handle,
    resolve_lexicon_authority,
)
from strato.identity.names import check_did, check_tld, normalize_handle
from strato.netpolicy import NetworkPolicy
from strato.syntax import NSID


@dataclass(frozen=True, slots=True)
class Identity:
    """What atproto needs to know about an account, from its DID document."""

    did: str
    #: The handle, only when verified in both directions.
    handle: str | None
    #: The handle the document claims (first ``at://`` alias), verified or not.
    declared_handle: str | None
    #: Why ``handle`` is None although the document declares one.
    handle_error: str | None
    #: The atproto signing key as a did:key, None when the document has no usable one.
    signing_key: str | None
    #: The PDS endpoint URL, None when the document has no usable one.
    pds: str | None
    doc: DidDocument
    #: The document exactly as served.
    doc_json: bytes


class IdentityResolver:
    """Resolves DIDs and handles with caching; use as ``async with IdentityResolver(...)``."""

    def __init__(
        self,
        *,
        plc_url: str = DEFAULT_PLC_URL,
        cache: IdentityCache | None = None,
        policy: NetworkPolicy | None = None,
        nameservers: Sequence[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        local_http_port: int = 80,
        transport: httpx.AsyncBaseTransport | None = None,
        local_handles: Callable[[str], str | None] | None = None,
        local_pds: str | None = None,
    ) -> None:
        """``nameservers`` (``"ip[:port]"``) replace the system's DNS configuration;
        ``policy`` says which hosts may be fetched from (default: public https only); on a
        local network did:web and handle well-known fetches use plain http (on
        ``local_http_port`` when the name carries no port);
        ``local_handles`` answers for the handles a local service hosts (a normalised handle
        to its DID, None for one it does not host), before the cache and the network;
        ``local_pds`` (on a local network) resolves the handles under ``.test``, which nothing
        else answers for there."""
        self.local_handles = local_handles
        self.cache = cache if cache is not None else IdentityCache()
        dns = DnsClient(nameservers, timeout=min(timeout, 5.0))
        fetcher = Fetcher(dns, policy=policy, timeout=timeout, transport=transport)
        self.network = Network(fetcher, dns, plc_url, local_http_port, local_pds)
        self._inflight: dict[str, asyncio.Task[CacheEntry]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> IdentityResolver:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop background refreshes and close the HTTP client (the cache stays open)."""
        for task in list(self._refreshing):
            task.cancel()
        await asyncio.gather(*self._refreshing, return_exceptions=True)
        await self.network.fetcher.aclose()

    # -- public API ---------------------------------------------------------------------------

    async def resolve_did(self, did: str) -> DidDocument:
        """The DID document of ``did`` (did:plc or did:web)."""
        return (await self._did_entry(check_did(did)))[0]

    async def resolve_did_json(self, did: str) -> bytes:
        """The DID document of ``did`` exactly as served (checked like :meth:`resolve_did`)."""
        return (await self._did_entry(check_did(did)))[1]

    async def resolve_handle(self, handle: str) -> str:
        """The DID ``handle`` resolves to by DNS or HTTP, not checked against the document."""
        return await self._handle_did(self._check_handle(handle))

    async def resolve(self, identifier: str) -> Identity:
        """The identity of a DID or a handle, with the handle verified in both directions."""
        if identifier.startswith("did:"):
            return await self._identity_from_did(check_did(identifier))
        handle = self._check_handle(identifier)
        did = await self._handle_did(handle)
        doc, _ = await self._did_entry(did)
        declared = doc.declared_handle()
        if declared != handle:
            raise HandleResolutionError(
                f"handle mismatch: the DID document of {did} declares {declared or 'no handle'}",
                handle,
            )
        return await self._identity_from_did(did, verified_handle=handle)

    async def resolve_lexicon_authority(self, nsid: str) -> str:
        """The DID that publishes the lexicon of ``nsid``, from the ``_lexicon`` TXT record of
        its authority (see :func:`strato.identity.methods.lexicon_authority_name`)."""
        domain = NSID(nsid).authority_domain

        async def fetch() -> bytes:
            return (await resolve_lexicon_authority(self.network, nsid)).encode()

        return (await self.cached(f"lexicon-authority:{domain}", nsid, fetch)).decode()

    async def cached(self, key: str, subject: str, fetch: Callable[[], Awaitable[bytes]]) -> bytes:
        """The answer ``fetch`` gives for ``key``, through this resolver's cache: fresh entries
        served, stale ones refreshed in the background, one fetch for concurrent callers, and
        an :class:`~strato.errors.IdentityError` it raises cached as a negative entry (raised
        again about ``subject``). For resolution built on identity, such as lexicons."""
        entry = await self._lookup(key, subject, fetch)
        assert entry.value is not None
        return entry.value

    async def purge(self, identifier: str) -> None:
        """Forget everything cached about a DID or handle (and the handle or DID it maps to)."""
        if identifier.startswith("did:"):
            entry = self.cache.peek(_did_key(identifier))
            if entry is not None and entry.value is not None:
                declared = self._document(entry, identifier).declared_handle()
                if declared is not None:
                    self.cache.purge(_handle_key(declared))
            self.cache.purge(_did_key(identifier))
            return
        handle = normalize_handle(identifier)
        entry = self.cache.peek(_handle_key(handle))
        if entry is not None and entry.value is not None:
            self.cache.purge(_did_key(entry.value.decode()))
        self.cache.purge(_handle_key(handle))

    # -- internals ----------------------------------------------------------------------------

    def _check_handle(self, handle: str) -> str:
        normalized = normalize_handle(handle)
        check_tld(normalized, local_network=self.network.local_network)
        return normalized

    async def _identity_from_did(self, did: str, verified_handle: str | None = None) -> Identity:
        doc, raw = await self._did_entry(did)
        declared = doc.declared_handle()
        handle: str | None = None
        handle_error: str | None = None
        if declared is None:
            handle_error = "the DID document declares no valid handle"
        elif declared == verified_handle:
            handle = declared
        else:
            try:
                resolved = await self.resolve_handle(declared)
            except (IdentityError, ValueError) as err:
                handle_error = str(err)
            else:
                if resolved == did:
                    handle = declared
                else:
                    handle_error = f"{declared} resolves to {resolved}"
        return Identity(
            did=did,
            handle=handle,
            declared_handle=declared,
            handle_error=handle_error,
            signing_key=_or_none(doc.signing_key),
            pds=_or_none(doc.pds_endpoint),
            doc=doc,
            doc_json=raw,
        )

    async def _did_entry(self, did: str) -> tuple[DidDocument, bytes]:
        async def fetch() -> bytes:
            raw = await fetch_did_document(self.network, did)
            parse_did_document(raw, did)
            return raw

        entry = await self._lookup(_did_key(did), did, fetch)
        assert entry.value is not None
        return self._document(entry, did), entry.value

    async def _handle_did(self, handle: str) -> str:
        if self.local_handles is not None:
            local = self.local_handles(handle)
            if local is not None:
                return local

        async def fetch() -> bytes:
            return (await resolve_handle(self.network, handle)).encode()

        entry = await self._lookup(_handle_key(handle), handle, fetch)
        assert entry.value is not None
        return entry.value.decode()

    def _document(self, entry: CacheEntry, did: str) -> DidDocument:
        if entry.doc is None:
            assert entry.value is not None
            entry.doc = parse_did_document(entry.value, did)
        return entry.doc

    async def _lookup(
        self, key: str, subject: str, fetch: Callable[[], Awaitable[bytes]]
    ) -> CacheEntry:
        """The cached entry for ``key`` (refreshing a stale one in the background) or a fresh
        fetch; raises the (possibly cached) failure."""
        hit = self.cache.get(key)
        if hit is None:
            entry = await self._fetch(key, fetch)
        else:
            entry, freshness = hit
            if freshness is Freshness.STALE and key not in self._inflight:
                task = asyncio.create_task(self._refresh(key, fetch))
                self._refreshing.add(task)
                task.add_done_callback(self._refreshing.discard)
        entry.raise_error(subject)
        return entry

    async def _refresh(self, key: str, fetch: Callable[[], Awaitable[bytes]]) -> None:
        # A transient failure keeps the stale entry; the next stale hit tries again.
        try:
            await self._fetch(key, fetch)
        except IdentityUnavailableError:
            return

    async def _fetch(self, key: str, fetch: Callable[[], Awaitable[bytes]]) -> CacheEntry:
        """Fetch ``key`` once however many callers ask at the same time."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch_and_store(key, fetch))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget_inflight(key, done))
        return await asyncio.shield(task)

    def _forget_inflight(self, key: str, task: asyncio.Task[CacheEntry]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]

    async def _fetch_and_store(self, key: str, fetch: Callable[[], Awaitable[bytes]]) -> CacheEntry:
        try:
            entry = CacheEntry(self.cache.now(), value=await fetch())
        except IdentityUnavailableError:
            raise
        except IdentityError as err:
            entry = CacheEntry.failure(self.cache.now(), err)
        self.cache.put(key, entry)
        return entry


def _did_key(did: str) -> str:
    return did


def _handle_key(handle: str) -> str:
    return f"handle:{handle}"


def _or_none(extract: Callable[[], str]) -> str | None:
    try:
        return extract()
    except IdentityError:
        return None


def resolve_identity_sync(identifier: str, **options: object) -> Identity:
    """Resolve one DID or handle from synchronous code (the command line); ``options`` are
    :class:`IdentityResolver`'s keywords."""

    async def run() -> Identity:
        async with IdentityResolver(**options) as resolver:  # type: ignore[arg-type]
            return await resolver.resolve(identifier)

    return asyncio.run(run())
