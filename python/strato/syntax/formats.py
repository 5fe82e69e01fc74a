"""The lexicon string formats, by name, as fast boolean checks.

``FORMAT_CHECKS[format](text)`` is True when ``text`` satisfies the lexicon ``format`` (the
names are the lexicon's: ``at-uri``, ``record-key``, ...). The checks never raise for a
``str`` and are what lexicon validation calls for every formatted string field; the types in
:mod:`strato.syntax` explain the failures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from strato.syntax.atid import is_at_identifier, is_did, is_handle
from strato.syntax.aturi import is_at_uri
from strato.syntax.cid import is_cid
from strato.syntax.datetimes import is_datetime
from strato.syntax.language import is_language
from strato.syntax.nsid import is_nsid
from strato.syntax.recordkey import is_record_key
from strato.syntax.tid import is_tid
from strato.syntax.uri import is_uri

FORMAT_CHECKS: Final[Mapping[str, Callable[[str], bool]]] = MappingProxyType(
    {
        "at-identifier": is_at_identifier,
        "at-uri": is_at_uri,
        "cid": is_cid,
        "datetime": is_datetime,
        "did": is_did,
        "handle": is_handle,
        "language": is_language,
        "nsid": is_nsid,
        "record-key": is_record_key,
        "tid": is_tid,
        "uri": is_uri,
    }
)
