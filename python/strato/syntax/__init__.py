"""Identifier syntax: one type per atproto identifier, constructed by parsing.

Spec: https://atproto.com/specs (``did``, ``handle``, ``nsid``, ``at-uri-scheme``,
``record-key``, ``tid``, and the string formats of ``lexicon``); digest §4. Every type here is
a ``str`` subclass: constructing one parses the text strictly and raises
:class:`strato.errors.IdentifierError` (a ``ValueError``) with a precise ``reason``; a value
of the type is the text (or, for :class:`Handle`, its lowercase form), so it compares, hashes
and serializes like a string, and the parsed parts are properties.

Each type has a fast boolean check (``DID.is_valid``, or :func:`is_did`), and
:data:`FORMAT_CHECKS` maps every lexicon string format name to its check. The hot ones (DID,
handle, at-identifier, NSID, record key, TID, AT-URI, datetime) are native
(``rust/src/syntax.rs``), and so is the constructor of those types
(``_core.IdentifierParser``: check and string copy in one call); the ``*_problem`` functions
beside each type explain a failure rule by rule, and the tests hold the two to agreement.

===================  ==================  ===================================================
lexicon format       type                parts
===================  ==================  ===================================================
``did``              :class:`DID`        ``method``, ``identifier``
``handle``           :class:`Handle`     ``labels``, ``tld`` (lowercase)
``at-identifier``    :class:`AtIdentifier`  returns a :class:`DID` or a :class:`Handle`
``nsid``             :class:`NSID`       ``authority``, ``authority_domain``, ``name``
``at-uri``           :class:`ATURI`      ``authority``, ``collection``, ``rkey``, ``fragment``
``record-key``       :class:`RecordKey`
``tid``              :class:`TID`        ``micros``, ``timestamp``, ``clock_id``
``datetime``         :class:`Datetime`   ``datetime``, ``epoch_micros``, ``utc_offset``
``language``         :class:`Language`   ``language``, ``script``, ``region``, ...
``uri``              :class:`URI`        ``scheme``
``cid``              :class:`CIDString`  ``base``, ``cid``
===================  ==================  ===================================================
"""

from __future__ import annotations

from strato.syntax.atid import (
    DID,
    DISALLOWED_TLDS,
    HANDLE_INVALID,
    AtIdentifier,
    Handle,
    is_at_identifier,
    is_did,
    is_handle,
)
from strato.syntax.aturi import ATURI, is_at_uri
from strato.syntax.cid import CIDString, is_cid
from strato.syntax.datetimes import Datetime, is_datetime, is_datetime_syntax
from strato.syntax.formats import FORMAT_CHECKS
from strato.syntax.language import (
    Language,
    LanguageParts,
    is_language,
    is_language_syntax,
    parse_language,
)
from strato.syntax.nsid import NSID, is_nsid
from strato.syntax.recordkey import RecordKey, is_record_key
from strato.syntax.tid import TID, is_tid
from strato.syntax.uri import URI, is_uri

__all__ = [
    "ATURI",
    "DID",
    "DISALLOWED_TLDS",
    "FORMAT_CHECKS",
    "HANDLE_INVALID",
    "NSID",
    "TID",
    "URI",
    "AtIdentifier",
    "CIDString",
    "Datetime",
    "Handle",
    "Language",
    "LanguageParts",
    "RecordKey",
    "is_at_identifier",
    "is_at_uri",
    "is_cid",
    "is_datetime",
    "is_datetime_syntax",
    "is_did",
    "is_handle",
    "is_language",
    "is_language_syntax",
    "is_nsid",
    "is_record_key",
    "is_tid",
    "is_uri",
    "parse_language",
]
