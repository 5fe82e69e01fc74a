"""The lexicon catalog: the documents a service knows, and validation of data against them.

A :class:`Catalog` holds checked lexicon documents by NSID. They come from files and
directories (:meth:`Catalog.load`, which also takes package resources, for the lexicons strato
ships) or are added at run time (:meth:`Catalog.add`, e.g. a schema found by lexicon
resolution). Each def is compiled to a validator the first time data needs it, and kept.

Validation entry points raise :class:`strato.errors.LexiconValidationError` with the reason
and the JSON path of the failing field:

- :meth:`Catalog.validate_record` for repository records (``"unknown"`` when the collection has
  no lexicon here, which the protocol accepts), and :meth:`Catalog.decode_record` for the
  collections with a typed struct (:mod:`strato.lexicon.types`), used only while the loaded
  lexicon defs have the fingerprint the struct was written against;
- :meth:`Catalog.validate_params`, :meth:`Catalog.validate_input`,
  :meth:`Catalog.validate_output` and :meth:`Catalog.validate_message` for XRPC methods;
- :meth:`Catalog.validate` for any def (``"app.bsky.feed.defs#postView"``).

The catalog is also what compiled validators resolve refs against (:meth:`Catalog.resolve`,
``lookup``, :meth:`Catalog.object_def`, :meth:`Catalog.compile_field`; see
:mod:`strato.lexicon.codegen`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib.resources.abc import Traversable
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from strato.errors import LexiconValidationError
from strato.lexicon._invalid import FieldError
from strato.lexicon.codegen import Check, normalize_ref
from strato.lexicon.compiler import compile_def, compile_token
from strato.lexicon.document import LexiconDoc, parse_lexicon
from strato.lexicon.fingerprint import def_fingerprint
from strato.lexicon.params import ParamsCheck, compile_params
from strato.lexicon.types import TYPED_RECORDS, LexObject, record_key_check
from strato.lexicon.types._base import convert
from strato.syntax import FORMAT_CHECKS

ValidationStatus = Literal["valid", "unknown"]
PathSource = str | PathLike[str] | Traversable

_is_record_key = FORMAT_CHECKS["record-key"]


class Catalog:
    """Lexicon documents by NSID, with their compiled validators."""

    def __init__(self, docs: Iterable[LexiconDoc | Mapping[str, Any]] = ()) -> None:
        self._docs: dict[str, LexiconDoc] = {}
        self._compiled: dict[str, Check] = {}
        # the compiled validator of a full reference, or None (read by generated validators)
        self.lookup: Callable[[str], Check | None] = self._compiled.get
        self._records: dict[str, tuple[Callable[[str], bool], str, Check]] = {}
        self._params: dict[str, ParamsCheck] = {}
        self._structs: dict[str, type[LexObject] | None] = {}
        for doc in docs:
            self.add(doc)

    # -----------------------------------------------------------------------------------------
    # Documents

    @classmethod
    def load(cls, paths: Iterable[PathSource]) -> Catalog:
        """A catalog of every ``*.json`` lexicon in the given files and directories (searched
        recursively; package resources from :func:`importlib.resources.files` work too).
        Raises :class:`LexiconValidationError` naming the file for a bad document or an NSID
        defined twice."""
        catalog = cls()
        for source in paths:
            catalog.load_path(source)
        return catalog

    def load_path(self, source: PathSource) -> None:
        """Add every lexicon in one file or directory; an NSID already here is an error."""
        for file in _json_files(Path(source) if isinstance(source, str | PathLike) else source):
            try:
                doc = parse_lexicon(json.loads(file.read_bytes()))
            except json.JSONDecodeError as err:
                raise LexiconValidationError(f"{file}: not JSON: {err}") from None
            except LexiconValidationError as err:
                raise LexiconValidationError(f"{file}: {err.reason}", err.path) from None
            if doc.id in self._docs:
                raise LexiconValidationError(f"{file}: lexicon {doc.id} is defined twice", "$.id")
            self._put(doc)

    def add(self, doc: LexiconDoc | Mapping[str, Any]) -> LexiconDoc:
        """Add (or replace) one document, checked first (a :class:`LexiconDoc` is checked again
        from its ``doc``: validators are generated from the defs, so only checked defs get in).
        Replacing a document drops every compiled validator, since refs may point into it."""
        parsed = parse_lexicon(dict(doc.doc if isinstance(doc, LexiconDoc) else doc))
        self._put(parsed)
        return parsed

    def _put(self, parsed: LexiconDoc) -> None:
        """Store a document that :func:`parse_lexicon` made."""
        if parsed.id in self._docs:
            self._compiled.clear()
            self._records.clear()
            self._params.clear()
            self._structs.clear()
        self._docs[parsed.id] = parsed

    def get(self, nsid: str) -> LexiconDoc | None:
        """The document with this NSID, if loaded."""
        return self._docs.get(nsid)

    def __contains__(self, nsid: object) -> bool:
        return nsid in self._docs

    def __len__(self) -> int:
        return len(self._docs)

    def __iter__(self) -> Iterator[LexiconDoc]:
        return iter(list(self._docs.values()))

    def typed_struct(self, collection: str) -> type[LexObject] | None:
        """The typed struct (:mod:`strato.lexicon.types`) for records of ``collection``, if
        there is one and the loaded lexicon defs are exactly those it was written against."""
        if collection not in self._structs:
            typed = TYPED_RECORDS.get(collection)
            self._structs[collection] = (
                typed.struct
                if typed is not None
                and collection in self._docs
                and def_fingerprint(self._docs, collection) == typed.fingerprint
                else None
            )
        return self._structs[collection]

    # -----------------------------------------------------------------------------------------
    # Validation

    def validate_record(self, collection: str, rkey: str, data: Any) -> ValidationStatus:
        """Check a record: its ``$type`` names ``collection``, ``rkey`` fits the record's key
        type, and the data matches the schema. ``"unknown"`` when no lexicon for the
        collection is loaded (after the ``$type`` and record-key checks)."""
        if (
            type(data) is not dict
            or data.get("$type") != collection
            or not collection
            or type(rkey) is not str
            or not _is_record_key(rkey)
        ):
            self.check_envelope(collection, rkey, data)  # raises, naming the broken rule
        record = self._records.get(collection)
        if record is None:
            if collection not in self._docs:
                return "unknown"
            record = self._compile_record(collection)
        key_check, key_type, check = record
        if not key_check(rkey):
            raise LexiconValidationError(f"record key {rkey!r} is not a valid {key_type}", "rkey")
        try:
            check(data)
        except FieldError as err:
            raise err.to_error() from None
        return "valid"

    def decode_record(self, collection: str, rkey: str, data: Any) -> LexObject:
        """Check a record as :meth:`validate_record` does and return it as its typed struct,
        decoded and checked in one step (:meth:`typed_struct`; a ``LookupError`` when the
        collection has none, or the loaded lexicon is not the one the struct implements)."""
        struct = self.typed_struct(collection)
        if struct is None:
            raise LookupError(f"no typed struct for {collection} with the loaded lexicons")
        self.check_envelope(collection, rkey, data)
        key_check, key_type, _ = self._records.get(collection) or self._compile_record(collection)
        if not key_check(rkey):
            raise LexiconValidationError(f"record key {rkey!r} is not a valid {key_type}", "rkey")
        return convert(data, struct)

    @staticmethod
    def check_envelope(collection: str, rkey: str, data: Any) -> None:
        """The rules every record follows: an object whose ``$type`` is its collection, under a
        syntactically valid record key."""
        if type(data) is not dict:
            raise LexiconValidationError("a record must be an object")
        kind = data.get("$type")
        if type(kind) is not str or not kind:
            raise LexiconValidationError("a record needs a $type string", "$.$type")
        if kind != collection:
            raise LexiconValidationError(
                f"record $type {kind!r} does not match the collection {collection!r}", "$.$type"
            )
        if type(rkey) is not str or not _is_record_key(rkey):
            raise LexiconValidationError(f"invalid record key {rkey!r}", "rkey")

    def validate(self, ref: str, data: Any) -> None:
        """Check data against any def: ``"nsid"`` (main) or ``"nsid#name"``."""
        try:
            self.resolve(normalize_ref(ref, ""))(data)
        except FieldError as err:
            raise err.to_error() from None

    def validate_params(self, nsid: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Decode and check the query parameters of an XRPC method; returns them typed, with
        defaults filled in (see :mod:`strato.lexicon.params`)."""
        check = self._params.get(nsid)
        if check is None:
            definition = self._method(nsid, ("query", "procedure", "subscription"))
            check = compile_params(definition.get("parameters"), nsid, self)
            self._params[nsid] = check
        try:
            return check(params)
        except FieldError as err:
            raise err.to_error("params") from None

    def validate_input(self, nsid: str, body: Any) -> None:
        """Check a procedure's JSON input body against its schema."""
        self._validate_body(nsid, "input", ("procedure",), body)

    def validate_output(self, nsid: str, body: Any) -> None:
        """Check a query's or procedure's JSON output body against its schema."""
        self._validate_body(nsid, "output", ("query", "procedure"), body)

    def validate_message(self, nsid: str, message_type: str, body: Any) -> None:
        """Check a subscription message: ``message_type`` is the frame header's ``t`` (``#commit``
        or a full ``nsid#name``); the body carries no ``$type`` of its own."""
        definition = self._method(nsid, ("subscription",))
        schema = (definition.get("message") or {}).get("schema")
        if schema is None:
            raise LexiconValidationError(f"{nsid} declares no message schema")
        target = normalize_ref(message_type, nsid)
        refs = {normalize_ref(ref, nsid) for ref in schema.get("refs", ())}
        if schema["type"] == "union" and target not in refs:
            if schema.get("closed", False):
                raise LexiconValidationError(f"{message_type!r} is not a message of {nsid}", "t")
            return
        try:
            if schema["type"] == "union":
                self.resolve(target)(body)
            else:
                self._compiled_body(nsid, "message", schema)(body)
        except FieldError as err:
            raise err.to_error() from None

    # -----------------------------------------------------------------------------------------
    # Compilation

    def object_def(self, ref: str) -> tuple[str, dict[str, Any]] | None:
        """The NSID and object def behind a full reference (a record's object for a record
        def), if its document is loaded and the def is an object."""
        nsid, _, name = ref.partition("#")
        doc = self._docs.get(nsid)
        definition = doc.defs.get(name or "main") if doc is not None else None
        if definition is not None and definition["type"] == "record":
            definition = definition["record"]
        if definition is None or definition["type"] != "object":
            return None
        return nsid, definition

    def compile_field(self, field: dict[str, Any], nsid: str) -> Check:
        """The validator of a field inside document ``nsid`` (for generated validators)."""
        return compile_def(field, nsid, self)

    def resolve(self, ref: str) -> Check:
        """The validator of a def, by full reference (``nsid`` or ``nsid#name``)."""
        check = self._compiled.get(ref)
        if check is None:
            check = self._compile_named(ref)
        return check

    def _compile_named(self, ref: str) -> Check:
        nsid, _, name = ref.partition("#")
        doc = self._docs.get(nsid)
        definition = doc.defs.get(name or "main") if doc is not None else None
        if definition is None:
            raise FieldError(f"unresolved reference {ref!r} (lexicon not loaded)")
        # refs inside are looked up when data reaches them, so a def may refer to itself
        if definition["type"] == "token":
            check = compile_token(ref)
        else:
            check = compile_def(definition, nsid, self, ref)
        self._compiled[ref] = check
        return check

    def _compile_record(self, collection: str) -> tuple[Callable[[str], bool], str, Check]:
        definition = self._docs[collection].main
        if definition is None or definition["type"] != "record":
            raise LexiconValidationError(f"{collection} is not a record lexicon")
        key_type: str = definition["key"]
        key_check = record_key_check(key_type)
        try:
            check = self.resolve(collection)
        except FieldError as err:
            raise err.to_error() from None
        record = (key_check, key_type, check)
        self._records[collection] = record
        return record

    def _method(self, nsid: str, kinds: tuple[str, ...]) -> dict[str, Any]:
        doc = self._docs.get(nsid)
        definition = doc.main if doc is not None else None
        if definition is None or definition["type"] not in kinds:
            raise LexiconValidationError(f"no {' or '.join(kinds)} lexicon for {nsid}")
        return definition

    def _validate_body(self, nsid: str, key: str, kinds: tuple[str, ...], body: Any) -> None:
        definition = self._method(nsid, kinds)
        schema = (definition.get(key) or {}).get("schema")
        if schema is None:
            return
        try:
            self._compiled_body(nsid, key, schema)(body)
        except FieldError as err:
            raise err.to_error() from None

    def _compiled_body(self, nsid: str, key: str, schema: dict[str, Any]) -> Check:
        ref = f"{nsid}@{key}"
        check = self._compiled.get(ref)
        if check is None:
            check = compile_def(schema, nsid, self)
            self._compiled[ref] = check
        return check


def _json_files(source: Traversable) -> Iterator[Traversable]:
    if source.is_dir():
        for child in sorted(source.iterdir(), key=lambda t: t.name):
            if child.is_dir() or child.name.endswith(".json"):
                yield from _json_files(child)
    else:
        yield source
