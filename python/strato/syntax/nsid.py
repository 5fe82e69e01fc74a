"""NSIDs: the names of lexicons, record collections and XRPC methods.

Spec: https://atproto.com/specs/nsid (digest §4.3). An NSID is a domain authority written in
reverse order followed by a name: ``app.bsky.feed.post`` is the name ``post`` under the
authority ``feed.bsky.app``.

Terminology: :attr:`NSID.authority` is the reverse-DNS part as written (``app.bsky.feed``);
:attr:`NSID.authority_domain` is the same in DNS order and lowercase (``feed.bsky.app``), the
domain lexicon resolution looks up (``_lexicon.feed.bsky.app``).

Tricky bits: the authority is case-insensitive, the name is not; an NSID is kept exactly as
written (:meth:`NSID.normalize` lowercases the authority). Only the first authority segment
(the TLD) must not start with a digit (``one.2.three`` is valid); the name must not start with
a digit and has no hyphens. The spec text caps the authority at 253 characters, but the
interop fixtures (and the reference validators) accept a longer one within the 317-character
total, so only the total is enforced; an over-long authority fails at resolution instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from strato import _core
from strato.syntax._base import ALNUM, Identifier, first_outside

MAX_NSID_LENGTH: Final = 317

_SEGMENT_CHARS: Final = ALNUM | {"-"}


is_nsid: Final = _core.syntax_is_nsid
"""Whether a string is a valid NSID (the lexicon ``nsid`` format; native)."""


def nsid_problem(value: str) -> str | None:
    """Why ``value`` is not an NSID, or None if it is one."""
    if not value:
        return "NSID is empty"
    if len(value) > MAX_NSID_LENGTH:
        return f"NSID is longer than {MAX_NSID_LENGTH} characters"
    segments = value.split(".")
    if len(segments) < 3:
        return "NSID must have at least three segments (a domain authority and a name)"
    *authority, name = segments
    for segment in authority:
        if not segment:
            return "NSID has an empty segment (a leading or double dot)"
        bad = first_outside(segment, _SEGMENT_CHARS)
        if bad is not None:
            return f"NSID authority has a disallowed character {bad!r}"
        if len(segment) > 63:
            return "NSID segment is longer than 63 characters"
        if segment[0] == "-" or segment[-1] == "-":
            return "NSID authority segment must not start or end with a hyphen"
    if authority[0][0].isdigit():
        return "NSID first segment must not start with a digit"
    if not name:
        return "NSID name is empty (a trailing dot)"
    bad = first_outside(name, ALNUM)
    if bad is not None:
        return f"NSID name has a disallowed character {bad!r} (letters and digits only)"
    if len(name) > 63:
        return "NSID name is longer than 63 characters"
    if name[0].isdigit():
        return "NSID name must not start with a digit"
    return None


class NSID(Identifier):
    """A namespaced identifier, kept exactly as written."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __new__(cls, value: str) -> NSID: ...

    else:
        __new__ = _core.IdentifierParser("nsid", nsid_problem)

    is_valid = staticmethod(is_nsid)

    @property
    def authority(self) -> str:
        """The domain authority in reverse-DNS order, as written (``app.bsky.feed``)."""
        return self[: self.rindex(".")]

    @property
    def name(self) -> str:
        """The last segment (``post``), case-sensitive."""
        return self[self.rindex(".") + 1 :]

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.split("."))

    @property
    def authority_domain(self) -> str:
        """The authority as a domain name: DNS order, lowercase (``feed.bsky.app``)."""
        return ".".join(reversed(self.authority.lower().split(".")))

    def normalize(self) -> NSID:
        """The NSID with its authority lowercased (the name is left as it is)."""
        return NSID(f"{self.authority.lower()}.{self.name}")
