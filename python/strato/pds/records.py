"""Records as clients send them: atproto JSON turned into data-model values and checked
against their lexicon before they are written.

A record of a collection whose lexicon is loaded is checked against it; one of a collection
strato has a typed definition of (:data:`strato.lexicon.types.TYPED_RECORDS`) is checked against
that, record key type included, when no lexicon file is loaded; anything else is ``unknown``, as
the spec allows. A client's ``validate`` flag: ``True`` requires a known schema, ``False`` skips
the schema (the ``$type`` and record-key rules still hold), unset checks whatever is known.
"""

from __future__ import annotations

from typing import Any

from strato import dagcbor
from strato.errors import DecodeError, LexiconValidationError
from strato.lexicon import Catalog
from strato.lexicon.catalog import ValidationStatus
from strato.lexicon.types import TYPED_RECORDS, check_record_key
from strato.lexicon.types._base import convert
from strato.xrpc.errors import invalid_request


def record_value(json_value: dict[str, Any]) -> dict[str, Any]:
    """The data-model value of a record in atproto JSON (400 ``InvalidRequest``, as the
    reference answers an invalid record, if it has no data-model form: a bad ``$link`` or
    ``$bytes``, a float, a malformed blob)."""
    try:
        value = dagcbor.from_json(json_value)
    except (DecodeError, ValueError) as err:
        raise invalid_request(f"Invalid record: {err}") from None
    if not isinstance(value, dict):
        raise invalid_request("Invalid record: a record must be an object")
    return value


def validate(
    catalog: Catalog, collection: str, rkey: str, value: dict[str, Any], requested: bool | None
) -> ValidationStatus | None:
    """Check ``value`` as a record of ``collection`` at ``rkey``; the validation status to
    report (None when the client asked for no validation). 400 ``InvalidRequest`` (with the
    failing field) when it breaks its schema, 400 ``InvalidRequest`` when ``requested`` is
    True and no schema is known."""
    try:
        if requested is False:
            Catalog.check_envelope(collection, rkey, value)
            return None
        status = catalog.validate_record(collection, rkey, value)
        typed = TYPED_RECORDS.get(collection) if status == "unknown" else None
        if typed is not None:
            check_record_key(typed.key, rkey)
            convert(value, typed.struct)
            status = "valid"
    except LexiconValidationError as err:
        raise invalid_request(f"Invalid {collection} record: {err}") from None
    if status == "unknown" and requested is True:
        raise invalid_request(f"Lexicon not found: lex:{collection}")
    return status
