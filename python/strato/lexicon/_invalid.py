"""The internal failure signal of compiled validators, and its conversion to the public error.

Validators raise :class:`FieldError` with only a reason; each container that catches it on the way
out appends its own path segment. The happy path therefore builds no path strings at all, and
the public :class:`strato.errors.LexiconValidationError` gets the full JSON path (``$.a.b[2]``)
once, at the entry point.
"""

from __future__ import annotations

from strato.errors import LexiconValidationError


class FieldError(ValueError):
    """Data (or a document) that breaks a rule; ``segments`` is the path, innermost first."""

    def __init__(self, reason: str, *segments: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments: list[str] = list(segments)

    def to_error(self, root: str = "$") -> LexiconValidationError:
        """The public error, with the path from ``root`` down to the failing field."""
        return LexiconValidationError(self.reason, root + "".join(reversed(self.segments)))


def key_segment(name: str) -> str:
    """The path segment for an object key: ``.name``, or ``["odd key"]`` when not a plain name."""
    if name.isidentifier():
        return "." + name
    return '["' + name.replace("\\", "\\\\").replace('"', '\\"') + '"]'
