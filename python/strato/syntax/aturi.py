"""AT-URIs: ``at://AUTHORITY[/COLLECTION[/RKEY]]``, the links between records.

Spec: https://atproto.com/specs/at-uri-scheme (digest §4.6). The authority is a DID or a
handle, the collection an NSID, the record key a record key. The lexicon ``at-uri`` form has
no query, no fragment, no trailing slash, no empty segment and at most those two path
segments; that is what :class:`ATURI` accepts by default.

Tricky bits: generic URL parsers mangle DID authorities (the ``:`` looks like a port), so this
is parsed by hand. The full AT-URI syntax allows a fragment holding a JSON path
(``#/embed/images/0``); pass ``allow_fragment=True`` to accept one. The query the general
syntax reserves has no defined use and is never accepted.
"""

from __future__ import annotations

from typing import Any, Final

from strato import _core
from strato.syntax._base import Identifier, chars, fail, first_outside
from strato.syntax.atid import (
    DID,
    Handle,
    did_problem,
    handle_problem,
)
from strato.syntax.nsid import NSID, nsid_problem
from strato.syntax.recordkey import RecordKey, record_key_problem

MAX_AT_URI_LENGTH: Final = 8192

# RFC 3986 fragment characters (pchar / "/" / "?") plus "[" and "]" for JSON-path indexes.
_FRAGMENT_CHARS: Final = chars("a-z", "A-Z", "0-9", "-._~!$&'()*+,;=:@/?%[]")


is_at_uri: Final = _core.syntax_is_at_uri
"""Whether a string is a valid AT-URI in lexicon form (the ``at-uri`` format; native)."""


def _fragment_problem(fragment: str) -> str | None:
    if not fragment.startswith("/"):
        return "AT-URI fragment must be a JSON path starting with '/'"
    bad = first_outside(fragment, _FRAGMENT_CHARS)
    if bad is not None:
        return f"AT-URI fragment has a disallowed character {bad!r}"
    return None


def at_uri_problem(value: str, *, allow_fragment: bool = False) -> str | None:
    """Why ``value`` is not an AT-URI, or None if it is one."""
    if len(value) > MAX_AT_URI_LENGTH:
        return f"AT-URI is longer than {MAX_AT_URI_LENGTH} characters"
    if not value.startswith("at://"):
        return 'AT-URI must start with "at://"'
    rest, hash_sign, fragment = value[5:].partition("#")
    if hash_sign:
        if not allow_fragment:
            return "AT-URI must not have a fragment ('#') in lexicon form"
        problem = _fragment_problem(fragment)
        if problem is not None:
            return problem
    if "?" in rest:
        return "AT-URI must not have a query ('?')"
    authority, *path = rest.split("/")
    if not authority:
        return "AT-URI has no authority"
    if "@" in authority:
        return "AT-URI authority must not have user info ('@')"
    if authority.startswith("did:"):
        problem = did_problem(authority)
        if problem is not None:
            return f"AT-URI authority is not a valid DID: {problem}"
    else:
        problem = handle_problem(authority)
        if problem is not None:
            return f"AT-URI authority is neither a DID nor a handle: {problem}"
    if len(path) > 2:
        return "AT-URI path has more than a collection and a record key"
    if "" in path:
        return "AT-URI has an empty path segment (a trailing or double slash)"
    if path:
        problem = nsid_problem(path[0])
        if problem is not None:
            return f"AT-URI collection is not an NSID: {problem}"
    if len(path) == 2:
        problem = record_key_problem(path[1])
        if problem is not None:
            return f"AT-URI record key is not valid: {problem}"
    return None


_parse_lexicon_form: Final = _core.IdentifierParser("at-uri", at_uri_problem)


class ATURI(Identifier):
    """An AT-URI, kept exactly as written."""

    __slots__ = ()

    def __new__(cls, value: str, *, allow_fragment: bool = False) -> ATURI:
        if not allow_fragment and (type(value) is not ATURI or "#" not in value):
            return _parse_lexicon_form(cls, value)  # native: check and copy in one call
        if allow_fragment and type(value) is ATURI:
            return value
        if is_at_uri(value):
            return str.__new__(cls, value)
        if allow_fragment and isinstance(value, str) and "#" in value:
            base, _, fragment = value.partition("#")
            if is_at_uri(base) and _fragment_problem(fragment) is None:
                return str.__new__(cls, value)
        problem = at_uri_problem(value, allow_fragment=allow_fragment)
        fail(problem or "not an AT-URI", value)

    is_valid = staticmethod(is_at_uri)

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, Any]]:
        return (str(self),), {"allow_fragment": True}

    @classmethod
    def from_parts(
        cls, authority: str, collection: str | None = None, rkey: str | None = None
    ) -> ATURI:
        """``at://authority[/collection[/rkey]]``; an rkey needs a collection."""
        if rkey is not None and collection is None:
            raise ValueError("an AT-URI with a record key needs a collection")
        text = f"at://{authority}"
        if collection is not None:
            text += f"/{collection}"
        if rkey is not None:
            text += f"/{rkey}"
        return cls(text)

    def _split(self) -> list[str]:
        return self[5:].partition("#")[0].split("/")

    @property
    def authority(self) -> DID | Handle:
        """The authority: a :class:`DID`, or a :class:`Handle` (lowercase)."""
        text = self._split()[0]
        return DID(text) if text.startswith("did:") else Handle(text)

    @property
    def collection(self) -> NSID | None:
        parts = self._split()
        return NSID(parts[1]) if len(parts) > 1 else None

    @property
    def rkey(self) -> RecordKey | None:
        parts = self._split()
        return RecordKey(parts[2]) if len(parts) > 2 else None

    @property
    def path(self) -> str:
        """``collection/rkey`` (the repo path), ``collection``, or empty."""
        return "/".join(self._split()[1:])

    @property
    def fragment(self) -> str | None:
        """The fragment after ``#`` (only with ``allow_fragment=True``), else None."""
        _, hash_sign, fragment = self.partition("#")
        return fragment if hash_sign else None
