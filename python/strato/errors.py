"""The exception tree of strato.

Pure Python, importing nothing from this package, so that the native module and every service
raise the same classes::

    AtprotoError
    ├── DecodeError (also ValueError)     bytes that are not valid: .reason, .offset
    │   ├── CIDError                      a malformed CID
    │   ├── CARError                      a malformed CAR file (.offset in the file)
    │   └── DataModelError                atproto JSON that is not a valid data-model value (.path)
    └── EncodeError (also ValueError)     a Python value with no DAG-CBOR form: .reason, .path

``reason`` is a short stable text (tests and callers may match on it); ``str(err)`` is a one-line
message with the reason and where it happened.
"""

from __future__ import annotations


class AtprotoError(Exception):
    """Base class of every error strato raises on purpose."""


class DecodeError(AtprotoError, ValueError):
    """Input bytes (or JSON) that are not valid: malformed, non-canonical or over a limit."""

    subject = "invalid DAG-CBOR"

    def __init__(self, reason: str, offset: int | None = None, path: str | None = None) -> None:
        super().__init__(reason, offset, path)
        self.reason = reason
        self.offset = offset
        self.path = path

    def __str__(self) -> str:
        message = f"{self.subject}: {self.reason}"
        if self.offset is not None:
            message += f" at offset {self.offset}"
        if self.path is not None:
            message += f" at {self.path}"
        return message


class CIDError(DecodeError):
    """A malformed CID (binary or string)."""

    subject = "invalid CID"


class CARError(DecodeError):
    """A malformed CAR file; ``offset`` is where the bad section starts in the file."""

    subject = "invalid CAR"


class DataModelError(DecodeError):
    """atproto JSON that is not a valid data-model value; ``path`` says where (``$.a[2]``)."""

    subject = "invalid data model value"


class EncodeError(AtprotoError, ValueError):
    """A Python value that has no DAG-CBOR form (a float, a huge int, a non-str key, ...)."""

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(reason, path)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return f"cannot encode as DAG-CBOR: {self.reason} at {self.path}"


__all__ = [
    "AtprotoError",
    "CARError",
    "CIDError",
    "DataModelError",
    "DecodeError",
    "EncodeError",
]
