"""The identifier rules identity resolution enforces before it touches the network, on top of
the syntax types of :mod:`strato.syntax`.

Owns what resolution adds to syntax: a did:plc must have the 24-character base32 identifier the
PLC directory issues (a did:web is judged when its URL is built, where a port depends on the
network), and handles under the top-level domains atproto reserves do not resolve, except the
development ones on a local network. Failures raise :class:`~strato.errors.IdentifierError`.
"""

from __future__ import annotations

from typing import Final

from strato.errors import IdentifierError
from strato.syntax import DID, DISALLOWED_TLDS, Handle

#: Reserved TLDs that a resolver configured for a local network accepts anyway (names a
#: private DNS server may well answer for). ``.test`` is allowed everywhere, as the reference
#: resolver does.
LOCAL_NETWORK_TLDS: Final = frozenset({"localhost", "local", "internal", "example"})


def check_did(value: str) -> DID:
    """``value`` as a :class:`DID` if it is valid DID syntax (and, for did:plc, the shape the
    directory issues)."""
    did = DID(value)
    if did.method == "plc":
        did.require_supported()
    return did


def normalize_handle(value: str) -> Handle:
    """The lowercase form of ``value`` if it is a syntactically valid handle."""
    return Handle(value)


def check_tld(handle: str, *, local_network: bool) -> None:
    """Refuse a normalised handle (or hostname) under a reserved TLD; a local network also
    accepts the development TLDs in :data:`LOCAL_NETWORK_TLDS`."""
    tld = Handle(handle).tld
    if tld in DISALLOWED_TLDS and not (local_network and tld in LOCAL_NETWORK_TLDS):
        raise IdentifierError(f"reserved top-level domain .{tld}", handle)
