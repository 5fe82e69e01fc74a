"""TIDs: timestamp identifiers, used as record keys and as repo revisions.

Spec: https://atproto.com/specs/tid (digest §4.5). The value, the parsing and the generator
are the Rust ``Tid`` of ``strato._core`` (``rust/src/tid.rs``); this module gives it the
``str``-based type the rest of :mod:`strato.syntax` uses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from strato import _core
from strato.errors import IdentifierError
from strato.syntax._base import Identifier

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

is_tid: Final = _core.syntax_is_tid
"""Whether a string is a valid TID (the lexicon ``tid`` format; native)."""


def tid_problem(value: str) -> str | None:
    """Why ``value`` is not a TID (the Rust parser's reason), or None if it is one."""
    try:
        _core.tid_parse(value)
    except IdentifierError as err:
        return err.reason
    except UnicodeEncodeError:  # lone surrogates, which the parser cannot even receive
        return "TID character outside the base32-sortable alphabet"
    return None


class TID(Identifier):
    """A TID: 13 characters of sortable base32; string order is time order."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __new__(cls, value: str) -> TID: ...

    else:
        __new__ = _core.IdentifierParser("tid", tid_problem)

    is_valid = staticmethod(is_tid)

    @classmethod
    def next(cls, after: str | None = None) -> TID:
        """The next TID from this process's monotonic clock, above ``after`` if given."""
        return str.__new__(cls, _core.tid_next(after))

    @classmethod
    def from_parts(cls, micros: int, clock_id: int) -> TID:
        """The TID for a timestamp in microseconds since the epoch and a clock id (0-1023);
        ``ValueError`` if either does not fit (53 and 10 bits)."""
        return str.__new__(cls, _core.tid_from_parts(micros, clock_id))

    @property
    def micros(self) -> int:
        """Microseconds since the Unix epoch."""
        return _core.tid_parse(self)[0]

    @property
    def clock_id(self) -> int:
        """The 10-bit clock id."""
        return _core.tid_parse(self)[1]

    @property
    def timestamp(self) -> datetime:
        """The timestamp as an aware UTC datetime (microsecond precision)."""
        return _EPOCH + timedelta(microseconds=self.micros)

    @property
    def value(self) -> int:
        """The 64-bit integer the 13 characters encode."""
        micros, clock_id = _core.tid_parse(self)
        return (micros << 10) | clock_id
