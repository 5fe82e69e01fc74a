"""The DID and handle syntax checks that identity resolution needs before it touches the network.

Owns: DID syntax (``did:<method>:<id>``, 2048 chars at most), the did:plc identifier shape
(24 characters of base32), handle syntax and normalisation (lowercase), and the top-level
domains atproto reserves. Each failure raises :class:`~strato.errors.IdentifierError` with a
stable reason. (The full identifier types live in ``strato.syntax``; these are the few rules a
resolver must enforce itself.)
"""

from __future__ import annotations

import re
from typing import Final

from strato.errors import IdentifierError

_DID_RE: Final = re.compile(r"did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]")
_PLC_ID_RE: Final = re.compile(r"[a-z2-7]{24}")
_HANDLE_RE: Final = re.compile(
    r"([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
)
MAX_DID_LENGTH: Final = 2048
MAX_HANDLE_LENGTH: Final = 253

#: TLDs no atproto handle may use (the handle spec's list; ``.test`` is allowed for testing and
#: development, and simply does not resolve on the public internet).
RESERVED_TLDS: Final = frozenset(
    {"alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"}
)
#: Reserved TLDs that a resolver configured for a local network accepts anyway (names a
#: private DNS server may well answer for).
LOCAL_NETWORK_TLDS: Final = frozenset({"localhost", "local", "internal", "example"})


def check_did(value: str) -> str:
    """``value`` if it is a syntactically valid DID (any method)."""
    if not value.isascii():
        raise IdentifierError("DID is not ASCII", value)
    if len(value) > MAX_DID_LENGTH:
        raise IdentifierError(f"DID is longer than {MAX_DID_LENGTH} characters", value)
    if _DID_RE.fullmatch(value) is None:
        raise IdentifierError("not a DID (did:<method>:<identifier>)", value)
    if value.startswith("did:plc:") and _PLC_ID_RE.fullmatch(value[8:]) is None:
        raise IdentifierError(
            "did:plc identifier must be 24 characters of base32 (a-z, 2-7)", value
        )
    return value


def normalize_handle(value: str) -> str:
    """The lowercase form of ``value`` if it is a syntactically valid handle."""
    if not value.isascii():
        raise IdentifierError("handle is not ASCII", value)
    if len(value) > MAX_HANDLE_LENGTH:
        raise IdentifierError(f"handle is longer than {MAX_HANDLE_LENGTH} characters", value)
    if _HANDLE_RE.fullmatch(value) is None:
        raise IdentifierError("not a valid handle", value)
    return value.lower()


def check_tld(handle: str, *, local_network: bool) -> None:
    """Refuse a normalised handle (or hostname) under a reserved TLD; a local network also
    accepts the development TLDs in :data:`LOCAL_NETWORK_TLDS`."""
    tld = handle.rsplit(".", 1)[-1]
    if tld in RESERVED_TLDS and not (local_network and tld in LOCAL_NETWORK_TLDS):
        raise IdentifierError(f"reserved top-level domain .{tld}", handle)
