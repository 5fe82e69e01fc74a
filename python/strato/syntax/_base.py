"""What every identifier type of :mod:`strato.syntax` shares: the error helper and the ``str``
base with its ``repr``.

Each identifier is a ``str`` subclass with no instance dictionary (``__slots__ = ()``), so it
costs what a string costs, hashes and compares like the string it was parsed from, and can be
used as a dict key next to plain strings. Constructing one parses it (strict); the parts are
properties computed from the text on access.

The hot types get a native constructor: their class body binds ``__new__`` to a
``_core.IdentifierParser`` (check and copy in one call, the reason from the type's Python
``*_problem`` function on failure), under an ``if TYPE_CHECKING:`` signature for the type
checker.
"""

from __future__ import annotations

from typing import NoReturn

from strato.errors import IdentifierError


def fail(reason: str, value: object) -> NoReturn:
    """Raise :class:`IdentifierError` for ``value`` (a ``TypeError`` if it is not a string)."""
    if not isinstance(value, str):
        raise TypeError(f"an identifier must be a str, not {type(value).__name__}")
    raise IdentifierError(reason, value)


class Identifier(str):
    """Base of the identifier types: a parsed, immutable string."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str.__repr__(self)})"


def first_outside(text: str, allowed: frozenset[str]) -> str | None:
    """The first character of ``text`` not in ``allowed``, or None."""
    for char in text:
        if char not in allowed:
            return char
    return None


def chars(*ranges: str) -> frozenset[str]:
    """A character set from literal characters and ``a-z`` style ranges."""
    out: set[str] = set()
    for spec in ranges:
        if len(spec) == 3 and spec[1] == "-":
            out.update(chr(c) for c in range(ord(spec[0]), ord(spec[2]) + 1))
        else:
            out.update(spec)
    return frozenset(out)


ALNUM = chars("a-z", "A-Z", "0-9")
"""ASCII letters and digits."""
