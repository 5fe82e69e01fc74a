"""atheris target: JSON request bodies to data-model values, as the PDS reads records.

The input is a request body: parsed by msgspec as the XRPC router parses JSON input, then
turned into data-model values by ``strato.dagcbor.from_json`` (through
``strato.pds.records.record_value`` for an object, as ``createRecord``/``putRecord`` do).
Refusals must be the documented errors (a 400 ``XrpcError``, or ``DecodeError``/``ValueError``
from ``from_json``); a value that converts must encode to DAG-CBOR, decode back to itself, and
come back unchanged from ``to_json`` then ``from_json``.
"""

from __future__ import annotations

from typing import Any

import atheris
import harness
import msgspec

with atheris.instrument_imports(include=["strato"]):
    from strato import dagcbor
    from strato.errors import DecodeError
    from strato.pds.records import record_value
    from strato.xrpc.errors import XrpcError

REFUSED = object()


def convert(body: Any) -> Any:
    """The data-model value of a parsed body, or REFUSED when it is refused as documented."""
    try:
        if isinstance(body, dict):
            return record_value(body)
        return dagcbor.from_json(body)
    except XrpcError as err:
        if err.status != 400:
            raise AssertionError(f"a record refused with status {err.status}") from err
    except (DecodeError, ValueError):
        pass
    return REFUSED


def one_input(data: bytes) -> None:
    try:
        body = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):  # as strato.xrpc.router catches
        return
    value = convert(body)
    if value is REFUSED:
        return
    encoded = dagcbor.encode(value)
    assert dagcbor.decode(encoded) == value
    as_json = msgspec.json.decode(msgspec.json.encode(dagcbor.to_json(value)))
    assert dagcbor.from_json(as_json) == value


if __name__ == "__main__":
    harness.run(one_input)
