"""Resolution steps that go to the network, one function per method, without caching.

Owns the URL each method uses and how its answers are judged:

- did:plc: ``GET {plc_url}/{did}``; 404 and 410 (tombstoned) mean the DID has no document.
- did:web: ``https://<host>/.well-known/did.json``; only a hostname (a path-based did:web is
  unsupported); a port, percent-encoded as ``%3A``, only on a local network, which also uses
  plain ``http``. The host's addresses must pass the fetcher's network policy.
- handle by DNS: TXT records at ``_atproto.<handle>``; the values starting ``did=`` must name
  exactly one DID (several ``did=`` values naming different DIDs fail), a valid one.
- handle by HTTP: ``https://<handle>/.well-known/atproto-did``; a 2xx body (at most
  :data:`MAX_HANDLE_BODY_BYTES`) is the DID, surrounding whitespace trimmed; up to three
  redirects, each guarded.
- lexicon authority by DNS: TXT records at ``_lexicon.<authority in DNS order>`` name the DID
  that publishes an NSID's lexicon, judged like a handle's records.
- :func:`resolve_handle` tries DNS first and HTTP when DNS gives no DID (as the reference
  resolver does); when both fail, the more specific error is raised (a DNS failure other than
  "not found", else the HTTP one).
- handle under ``.test`` on a local network with a local PDS (``strato up``'s, whose handles
  no DNS or host answers for), when DNS and HTTP give no DID:
  ``GET {local_pds}/xrpc/com.atproto.identity.resolveHandle``, the PDS answering for the
  handles it hosts (400: it hosts no such handle, the error raised; no PDS answering: the
  DNS or HTTP error is).

A 5xx or 429 answer is :class:`~strato.errors.IdentityUnavailableError` (transient).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote

from strato.errors import (
    DidNotFoundError,
    DidResolutionError,
    HandleNotFoundError,
    HandleResolutionError,
    IdentifierError,
    IdentityError,
    IdentityUnavailableError,
    LexiconNotFoundError,
    LexiconResolutionError,
)
from strato.identity.dnsclient import DnsClient
from strato.identity.fetch import Fetcher, Response
from strato.identity.names import check_did, check_tld, normalize_handle
from strato.syntax import NSID

#: The largest DID document accepted. A did:plc document is rendered from an operation of at
#: most 7,500 bytes of DAG-CBOR, so a few KiB; did:web documents get room for more keys and
#: services.
MAX_DID_DOCUMENT_BYTES: Final = 64 * 1024
#: The largest ``/.well-known/atproto-did`` body read (a DID is at most 2,048 characters; the
#: reference resolver uses the same cap).
MAX_HANDLE_BODY_BYTES: Final = 2048
HANDLE_REDIRECTS: Final = 3
DEFAULT_PLC_URL: Final = "https://plc.directory"
#: The handle domain of a local network (a TLD reserved for testing, RFC 2606).
LOCAL_HANDLE_DOMAIN: Final = ".test"


@dataclass(frozen=True, slots=True)
class Network:
    """Where and how resolution reaches the network."""

    fetcher: Fetcher
    dns: DnsClient
    plc_url: str = DEFAULT_PLC_URL
    #: On a local network: the port for handle well-known fetches and for did:web without a
    #: port (plain http there).
    local_http_port: int = 80
    #: On a local network: the PDS that resolves the handles under :data:`LOCAL_HANDLE_DOMAIN`.
    local_pds: str | None = None

    @property
    def local_network(self) -> bool:
        return self.fetcher.policy.local_network

    def well_known_url(self, host: str, path: str, port: int | None = None) -> str:
        if not self.local_network:
            return f"https://{host}{path}"
        return f"http://{host}:{port or self.local_http_port}{path}"


async def fetch_did_document(network: Network, did: str) -> bytes:
    """The DID document JSON of a did:plc or did:web, unparsed."""
    if did.startswith("did:plc:"):
        url = f"{network.plc_url.rstrip('/')}/{did}"
        trusted = True
    elif did.startswith("did:web:"):
        url = did_web_url(network, did)
        trusted = False
    else:
        raise DidResolutionError(f"unsupported DID method {did.split(':')[1]!r}", did)
    try:
        response = await network.fetcher.get(
            url,
            max_bytes=MAX_DID_DOCUMENT_BYTES,
            failure=DidResolutionError,
            missing=DidNotFoundError,
            trusted=trusted,
            redirects=0 if trusted else HANDLE_REDIRECTS,
        )
    except IdentityError as err:
        raise _about(err, did) from err
    if response.status in (404, 410):
        gone = "tombstoned or deactivated" if response.status == 410 else "not found"
        raise DidNotFoundError(f"DID document {gone} (HTTP {response.status})", did)
    _raise_for_status(response, did, DidResolutionError)
    return response.body


def did_web_url(network: Network, did: str) -> str:
    """The ``did.json`` URL of a did:web (hostname form only)."""
    identifier = did[len("did:web:") :]
    if ":" in identifier:
        raise DidResolutionError("path-based did:web is not supported", did)
    host, _, port_text = unquote(identifier).partition(":")
    port: int | None = None
    if port_text:
        if not network.local_network:
            raise DidResolutionError("did:web with a port is only allowed on a local network", did)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise DidResolutionError(f"bad did:web port {port_text!r}", did)
        port = int(port_text)
    if not (host == "localhost" and network.local_network):
        try:
            host = normalize_handle(host)
            check_tld(host, local_network=network.local_network)
        except IdentifierError as err:
            raise DidResolutionError(f"did:web host: {err.reason}", did) from err
    return network.well_known_url(host, "/.well-known/did.json", port)


async def resolve_handle_dns(network: Network, handle: str) -> str:
    """The DID named by the ``did=`` TXT records at ``_atproto.<handle>``."""
    values = await network.dns.txt(f"_atproto.{handle}")
    return _did_from_txt(values, handle, HandleNotFoundError, HandleResolutionError)


def lexicon_authority_name(nsid: str) -> str:
    """The DNS name whose TXT record names the DID publishing ``nsid``'s lexicon: ``_lexicon.``
    and the NSID's authority in DNS order, the name segment dropped (``app.toy.record`` ->
    ``_lexicon.toy.app``). The lookup never walks up or down the DNS tree."""
    return f"_lexicon.{NSID(nsid).authority_domain}"


async def resolve_lexicon_authority(network: Network, nsid: str) -> str:
    """The DID named by the ``did=`` TXT records at :func:`lexicon_authority_name`."""
    values = await network.dns.txt(lexicon_authority_name(nsid))
    return _did_from_txt(values, nsid, LexiconNotFoundError, LexiconResolutionError)


def _did_from_txt(
    values: list[str],
    subject: str,
    missing: type[IdentityError],
    failure: type[IdentityError],
) -> str:
    """The one DID the ``did=`` values among TXT ``values`` name (several records naming the
    same DID count once)."""
    dids = {value[4:] for value in values if value.startswith("did=")}
    if not dids:
        raise missing("no did= TXT record", subject)
    if len(dids) > 1:
        raise failure("several did= TXT records name different DIDs", subject)
    (did,) = dids
    try:
        return check_did(did)
    except IdentifierError as err:
        raise failure(f"invalid DID in TXT record: {err.reason}", subject) from err


async def resolve_handle_http(network: Network, handle: str) -> str:
    """The DID served at ``/.well-known/atproto-did`` on the handle's host."""
    url = network.well_known_url(handle, "/.well-known/atproto-did")
    try:
        response = await network.fetcher.get(
            url,
            max_bytes=MAX_HANDLE_BODY_BYTES,
            failure=HandleResolutionError,
            missing=HandleNotFoundError,
            redirects=HANDLE_REDIRECTS,
            accept="text/plain",
        )
    except IdentityError as err:
        raise _about(err, handle) from err
    if response.status == 404:
        raise HandleNotFoundError("well-known atproto-did not found (HTTP 404)", handle)
    _raise_for_status(response, handle, HandleResolutionError)
    try:
        return check_did(response.body.decode("utf-8").strip())
    except (UnicodeDecodeError, IdentifierError) as err:
        reason = getattr(err, "reason", "not UTF-8")
        raise HandleResolutionError(
            f"invalid DID in well-known atproto-did: {reason}", handle
        ) from err


async def resolve_handle_local_pds(network: Network, pds: str, handle: str) -> str:
    """The DID the local PDS ``pds`` hosts ``handle`` for (``resolveHandle``)."""
    url = f"{pds.rstrip('/')}/xrpc/com.atproto.identity.resolveHandle?handle={quote(handle)}"
    try:
        response = await network.fetcher.get(
            url,
            max_bytes=MAX_HANDLE_BODY_BYTES,
            failure=HandleResolutionError,
            missing=HandleNotFoundError,
        )
    except IdentityError as err:
        raise _about(err, handle) from err
    if response.status == 400:
        raise HandleNotFoundError(f"the PDS at {pds} hosts no such handle", handle)
    _raise_for_status(response, handle, HandleResolutionError)
    try:
        return check_did(str(json.loads(response.body)["did"]))
    except (ValueError, TypeError, KeyError, IdentifierError) as err:
        raise HandleResolutionError(f"bad resolveHandle answer from {pds}", handle) from err


async def resolve_handle(network: Network, handle: str) -> str:
    """The DID a normalised handle resolves to (DNS, then HTTP, then for a local network's
    handle its local PDS); not verified against the DID document (see
    :mod:`strato.identity.resolver`)."""
    try:
        return await resolve_handle_dns(network, handle)
    except IdentityError as dns_error:
        try:
            return await resolve_handle_http(network, handle)
        except IdentityError as http_error:
            pds = network.local_pds if network.local_network else None
            if pds is not None and handle.endswith(LOCAL_HANDLE_DOMAIN):
                try:
                    return await resolve_handle_local_pds(network, pds, handle)
                except HandleNotFoundError:  # the PDS answered: the most specific error
                    raise
                except IdentityError:  # no PDS there: the usual error
                    pass
            if not isinstance(dns_error, HandleNotFoundError):
                raise dns_error from http_error
            raise


def _raise_for_status(response: Response, subject: str, failure: type[IdentityError]) -> None:
    if 200 <= response.status < 300:
        return
    if response.status >= 500 or response.status == 429:
        raise IdentityUnavailableError(f"HTTP {response.status} from {response.url}", subject)
    raise failure(f"HTTP {response.status} from {response.url}", subject)


def _about(err: IdentityError, subject: str) -> IdentityError:
    """The same error class and reason, about ``subject`` (the DID or handle) instead of a URL,
    with the URL kept in the reason."""
    return type(err)(f"{err.reason} ({err.subject})" if err.subject else err.reason, subject)
