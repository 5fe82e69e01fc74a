"""Generic URIs: the lexicon ``uri`` format.

Spec: https://atproto.com/specs/lexicon#uri (digest §4.7): any RFC 3986 URI with a scheme, at
most 8 KB, no whitespace. What is checked: an RFC 3986 scheme (``ALPHA *(ALPHA / DIGIT / "+" /
"-" / ".")``), a ``:``, and a non-empty rest of printable ASCII (``!`` to ``~``).

Deliberately not checked: the structure of the rest (authority, path, query, fragment) and its
exact character repertoire. The reference validators are as permissive, and records on the
network carry URIs a strict RFC 3986 parse would refuse (``|``, ``{``, bare ``%``); rejecting
them here would make strato fail records every other implementation accepts.
"""

from __future__ import annotations

import re
from typing import Final

from strato.syntax._base import Identifier, chars, fail, first_outside

MAX_URI_LENGTH: Final = 8192

_URI_RE: Final = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:[!-~]+")
_SCHEME_CHARS: Final = chars("a-z", "A-Z", "0-9", "+.-")
_REST_CHARS: Final = chars("!-~")


def is_uri(value: str) -> bool:
    """Whether ``value`` is a valid URI (the lexicon ``uri`` format)."""
    return len(value) <= MAX_URI_LENGTH and _URI_RE.fullmatch(value) is not None


def uri_problem(value: str) -> str | None:
    """Why ``value`` is not a URI, or None if it is one."""
    if not value:
        return "URI is empty"
    if len(value) > MAX_URI_LENGTH:
        return f"URI is longer than {MAX_URI_LENGTH} characters"
    scheme, colon, rest = value.partition(":")
    if not colon:
        return "URI has no scheme (no ':')"
    if not scheme:
        return "URI scheme is empty"
    if not ("a" <= scheme[0].lower() <= "z"):
        return "URI scheme must start with a letter"
    bad = first_outside(scheme, _SCHEME_CHARS)
    if bad is not None:
        return f"URI scheme has a disallowed character {bad!r}"
    if not rest:
        return "URI has nothing after the scheme"
    bad = first_outside(rest, _REST_CHARS)
    if bad is not None:
        return f"URI has a disallowed character {bad!r} (whitespace, control or non-ASCII)"
    return None


class URI(Identifier):
    """A URI, kept exactly as written."""

    __slots__ = ()

    def __new__(cls, value: str) -> URI:
        if type(value) is URI:
            return value
        if is_uri(value):
            return str.__new__(cls, value)
        fail(uri_problem(value) or "not a URI", value)

    is_valid = staticmethod(is_uri)

    @property
    def scheme(self) -> str:
        """The scheme, lowercase (schemes are case-insensitive)."""
        return self[: self.index(":")].lower()
