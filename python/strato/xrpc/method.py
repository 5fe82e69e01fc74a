"""What an XRPC method declares: its kind and the msgspec types of its params, input and output
(:class:`MethodTypes`), and the form of a binary input (:class:`RawInput`).

The hand-written types of the methods strato serves are registered in
:data:`strato.xrpc.types.METHODS` and checked against their lexicons by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

#: The default limit of a JSON request body, the reference's (``150kb``).
DEFAULT_JSON_LIMIT: Final = 150 * 1024
JSON: Final = "application/json"

Kind = Literal["query", "procedure"]


@dataclass(frozen=True, slots=True)
class RawInput:
    """A binary request body passed to the handler as a stream: the accepted encoding (a MIME
    type, ``type/*`` or ``*/*``) and the largest body accepted, in bytes."""

    encoding: str
    max_bytes: int

    def accepts(self, content_type: str) -> bool:
        """Whether a request's (normalized) Content-Type fits :attr:`encoding`."""
        if self.encoding == "*/*":
            return True
        if self.encoding.endswith("/*"):
            return content_type.startswith(self.encoding[:-1])
        return content_type == self.encoding


@dataclass(frozen=True, slots=True)
class MethodTypes:
    """An XRPC method's kind and types: ``params`` (a struct of scalar and list fields),
    ``input`` (a struct decoded from a JSON body, or :class:`RawInput`), ``output`` (a struct
    encoded as JSON; None for no body, or for methods whose handlers answer with their own
    response of ``raw_output``, a MIME type such as ``application/vnd.ipld.car``)."""

    kind: Kind
    params: type[Any] | None = None
    input: type[Any] | RawInput | None = None
    output: type[Any] | None = None
    raw_output: str | None = None

    @property
    def input_encoding(self) -> str | None:
        """The lexicon ``input.encoding`` these types stand for."""
        if self.input is None:
            return None
        return self.input.encoding if isinstance(self.input, RawInput) else JSON

    @property
    def output_encoding(self) -> str | None:
        """The lexicon ``output.encoding`` these types stand for."""
        return JSON if self.output is not None else self.raw_output
