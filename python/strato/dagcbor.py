"""The atproto data model in DAG-CBOR (DRISL) and atproto JSON.

Values are ``dict`` (str keys), ``list``, ``str``, ``int`` (signed 64-bit), ``bytes``, ``bool``,
``None`` and :class:`strato.CID` (links). Byte strings and links stay distinct both ways.

- :func:`encode` writes canonical bytes (keys sorted length-first, shortest heads).
- :func:`decode` is strict: it rejects floats, indefinite lengths, non-shortest forms, unsorted
  or duplicate keys, tags other than 42, trailing bytes, invalid UTF-8 and nesting deeper than
  :data:`MAX_DEPTH`, raising :class:`strato.errors.DecodeError` with ``.reason`` and ``.offset``.
- :func:`decode_multi` reads concatenated values (an event-stream frame is two).
- :func:`to_json` / :func:`from_json` convert to and from the atproto JSON conventions
  (``{"$link": ...}``, ``{"$bytes": ...}``, blob objects); ``from_json`` validates.

The work happens in the Rust core, one call per value.
"""

from __future__ import annotations

from strato._core import MAX_DEPTH
from strato._core import dag_cbor_from_json as from_json
from strato._core import dag_cbor_to_json as to_json
from strato._core import decode_dag_cbor as decode
from strato._core import decode_dag_cbor_multi as decode_multi
from strato._core import encode_dag_cbor as encode

__all__ = ["MAX_DEPTH", "decode", "decode_multi", "encode", "from_json", "to_json"]
