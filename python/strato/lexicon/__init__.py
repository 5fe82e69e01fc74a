"""Lexicons: schema documents, and validation of records and XRPC data against them.

- :func:`parse_lexicon` checks a lexicon document (the schema language rules).
- :class:`Catalog` loads documents from directories, files or package resources, accepts more
  at run time (:meth:`Catalog.add`), and validates records, XRPC params/input/output and
  subscription messages, compiling each def to a validator once.
- :mod:`strato.lexicon.types` has typed ``msgspec`` structs for the records and events strato
  writes or indexes, decoded and validated in one step.

Every failure raises :class:`strato.errors.LexiconValidationError` (a ``ValueError``) with the
reason and the JSON path of the failing field.
"""

from __future__ import annotations

from strato.lexicon.catalog import Catalog, ValidationStatus
from strato.lexicon.document import LexiconDoc, parse_lexicon

__all__ = ["Catalog", "LexiconDoc", "ValidationStatus", "parse_lexicon"]
