"""DIDs, handles, and the at-identifier that is one or the other.

Spec: https://atproto.com/specs/did and https://atproto.com/specs/handle (digest §4.1, §4.2,
§4.7). :class:`DID` and :class:`Handle` both subclass :class:`AtIdentifier`, and
``AtIdentifier(text)`` returns whichever of the two the text is (only DIDs start with
``did:``; handles have no ``:``).

Tricky bits:

* Syntax is not resolvability. ``did:example:123`` is a syntactically valid DID of a method
  atproto does not support, and ``laptop.local`` a syntactically valid handle under a TLD that
  may never be registered. Parsing accepts both (that is what lexicon validation wants);
  :meth:`DID.require_supported` and :meth:`Handle.require_allowed_tld` are the separate,
  stricter checks for resolution and registration.
* Handles are case-insensitive and normalized to lowercase when parsed; DIDs are
  case-sensitive and kept as written.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from strato import _core
from strato.syntax._base import ALNUM, Identifier, chars, fail, first_outside

MAX_DID_LENGTH: Final = 2048
MAX_HANDLE_LENGTH: Final = 253
SUPPORTED_DID_METHODS: Final = frozenset({"plc", "web"})
DISALLOWED_TLDS: Final = frozenset(
    {"alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"}
)
"""TLDs that are valid handle syntax but never acceptable for a registered handle."""

_PLC_ID_RE: Final = re.compile(r"[a-z2-7]{24}")
_DID_ID_CHARS: Final = chars("a-z", "A-Z", "0-9", "._:%-")
_HANDLE_CHARS: Final = ALNUM | {"-"}


# -- fast checks (native: rust/src/syntax.rs) -------------------------------------------------

is_did: Final = _core.syntax_is_did
"""Whether a string is a syntactically valid DID (the lexicon ``did`` format)."""
is_handle: Final = _core.syntax_is_handle
"""Whether a string is a syntactically valid handle (the lexicon ``handle`` format)."""
is_at_identifier: Final = _core.syntax_is_at_identifier
"""Whether a string is a DID or a handle (the lexicon ``at-identifier`` format)."""


# -- reasons ----------------------------------------------------------------------------------


def did_problem(value: str) -> str | None:
    """Why ``value`` is not a DID, or None if it is one (the slow, explaining check)."""
    if len(value) > MAX_DID_LENGTH:
        return f"DID is longer than {MAX_DID_LENGTH} characters"
    if not value.startswith("did:"):
        return 'DID must start with "did:" (lowercase)'
    method, colon, ident = value[4:].partition(":")
    if not colon:
        return 'DID must have a method and an identifier ("did:method:identifier")'
    if not method or first_outside(method, chars("a-z")) is not None:
        return "DID method must be one or more lowercase letters a-z"
    if not ident:
        return "DID identifier part is empty"
    bad = first_outside(ident, _DID_ID_CHARS)
    if bad is not None:
        return f"DID identifier has a disallowed character {bad!r}"
    if ident[-1] in ":%":
        return "DID must not end with ':' or '%'"
    return None


def handle_problem(value: str) -> str | None:
    """Why ``value`` is not a handle, or None if it is one."""
    if not value:
        return "handle is empty"
    if len(value) > MAX_HANDLE_LENGTH:
        return f"handle is longer than {MAX_HANDLE_LENGTH} characters"
    labels = value.split(".")
    if len(labels) < 2:
        return "handle must have at least two labels (a domain name with a TLD)"
    for label in labels:
        if not label:
            return "handle has an empty label (a leading, trailing or double dot)"
        bad = first_outside(label, _HANDLE_CHARS)
        if bad is not None:
            return f"handle has a disallowed character {bad!r} (ASCII letters, digits, '-')"
        if len(label) > 63:
            return "handle label is longer than 63 characters"
        if label[0] == "-" or label[-1] == "-":
            return "handle label must not start or end with a hyphen"
    if labels[-1][0].isdigit():
        return "handle TLD must not start with a digit"
    return None


# -- types ------------------------------------------------------------------------------------


class AtIdentifier(Identifier):
    """A DID or a handle. ``AtIdentifier(text)`` returns a :class:`DID` or a :class:`Handle`."""

    __slots__ = ()

    def __new__(cls, value: str) -> AtIdentifier:
        if isinstance(value, AtIdentifier):
            return value
        if isinstance(value, str) and value.startswith("did:"):
            return DID(value)
        return Handle(value)

    @property
    def is_did(self) -> bool:
        return isinstance(self, DID)

    @property
    def is_handle(self) -> bool:
        return isinstance(self, Handle)

    is_valid = staticmethod(is_at_identifier)


class DID(AtIdentifier):
    """A DID, kept exactly as written: ``did:<method>:<identifier>``."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __new__(cls, value: str) -> DID: ...

    else:
        __new__ = _core.IdentifierParser("did", did_problem)

    is_valid = staticmethod(is_did)

    @property
    def method(self) -> str:
        """The method name (``plc``, ``web``, ...)."""
        return self[4 : self.index(":", 4)]

    @property
    def identifier(self) -> str:
        """The method-specific identifier (everything after ``did:<method>:``)."""
        return self[self.index(":", 4) + 1 :]

    @property
    def is_supported(self) -> bool:
        """Whether the method is one atproto supports (``plc`` or ``web``)."""
        return self.method in SUPPORTED_DID_METHODS

    def require_supported(self) -> None:
        """Raise :class:`IdentifierError` unless this DID is a well-formed ``did:plc`` (24
        characters of lowercase base32) or ``did:web`` (a hostname; a port only on
        ``localhost``, written ``%3A``). Syntax alone does not promise either."""
        method, ident = self.method, self.identifier
        if method == "plc":
            if _PLC_ID_RE.fullmatch(ident) is None:
                fail("did:plc identifier must be 24 characters of base32 (a-z, 2-7)", self)
        elif method == "web":
            host, sep, port = ident.replace("%3a", "%3A").partition("%3A")
            if sep and (host != "localhost" or not port.isdigit() or not port.isascii()):
                fail("did:web may carry a port only for localhost (did:web:localhost%3A1234)", self)
            if host != "localhost" and not is_handle(host):
                fail("did:web identifier must be a hostname (no path, no other characters)", self)
        else:
            fail(f"unsupported DID method {method!r} (atproto supports plc and web)", self)


class Handle(AtIdentifier):
    """A handle (a domain name), normalized to lowercase."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __new__(cls, value: str) -> Handle: ...

    else:
        __new__ = _core.IdentifierParser("handle", handle_problem, lowercase=True)

    is_valid = staticmethod(is_handle)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.split("."))

    @property
    def tld(self) -> str:
        """The last label (``social`` for ``alice.bsky.social``)."""
        return self[self.rindex(".") + 1 :]

    @property
    def is_invalid_marker(self) -> bool:
        """Whether this is ``handle.invalid``, the API's "no verified handle" marker."""
        return self == "handle.invalid"

    def tld_allowed(self, *, allow_test: bool = True) -> bool:
        """Whether the TLD may be used for a registered handle. ``.test`` is reserved for
        testing: allowed unless ``allow_test`` is False (a production network)."""
        tld = self.tld
        return tld not in DISALLOWED_TLDS and (allow_test or tld != "test")

    def require_allowed_tld(self, *, allow_test: bool = True) -> None:
        """Raise :class:`IdentifierError` if the TLD is one a handle may not use."""
        if not self.tld_allowed(allow_test=allow_test):
            fail(f"handle TLD .{self.tld} is not allowed for a registered handle", self)


HANDLE_INVALID: Final = Handle("handle.invalid")
"""The handle the API shows for an account whose handle does not verify."""
