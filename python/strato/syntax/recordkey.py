"""Record keys: the last part of a repo path (``collection/rkey``).

Spec: https://atproto.com/specs/record-key (digest §4.4): 1 to 512 characters of
``A-Za-z0-9 . _ : ~ -``, case-sensitive, and never ``.`` or ``..``. Which keys a collection
accepts (``tid``, ``nsid``, ``literal:self``, ``any``) is the lexicon's business, not syntax.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from strato import _core
from strato.syntax._base import Identifier, chars, first_outside

MAX_RECORD_KEY_LENGTH: Final = 512

_RKEY_CHARS: Final = chars("a-z", "A-Z", "0-9", "_~.:-")
DOT_KEYS: Final = frozenset({".", ".."})


is_record_key: Final = _core.syntax_is_record_key
"""Whether a string is a valid record key (the lexicon ``record-key`` format; native)."""


def record_key_problem(value: str) -> str | None:
    """Why ``value`` is not a record key, or None if it is one."""
    if not value:
        return "record key is empty"
    if len(value) > MAX_RECORD_KEY_LENGTH:
        return f"record key is longer than {MAX_RECORD_KEY_LENGTH} characters"
    bad = first_outside(value, _RKEY_CHARS)
    if bad is not None:
        return f"record key has a disallowed character {bad!r}"
    if value in DOT_KEYS:
        return "record key must not be '.' or '..'"
    return None


class RecordKey(Identifier):
    """A record key, case-sensitive, kept exactly as written."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __new__(cls, value: str) -> RecordKey: ...

    else:
        __new__ = _core.IdentifierParser("record-key", record_key_problem)

    is_valid = staticmethod(is_record_key)
