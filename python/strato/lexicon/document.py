"""Lexicon documents: checking a schema file against the rules of the lexicon language (v1).

:func:`parse_lexicon` takes a decoded JSON document and returns a :class:`LexiconDoc`, or raises
:class:`strato.errors.LexiconValidationError` naming the rule and the JSON path inside the
document. It checks the document shape (``lexicon: 1``, an NSID ``id``, at least one def), that
the primary types (record, query, procedure, subscription, permission-set) appear only as
``main``, that ``ref``/``union``/``unknown``/``params``/``permission`` are never named defs,
and each type's fields (their JSON types, refs, formats, record keys, blob ``accept`` globs,
``required`` naming real properties, ``const`` and ``default`` not both present, a closed union
not empty). Fields it does not know are ignored, as the language allows for evolution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from strato.errors import LexiconValidationError
from strato.lexicon._invalid import FieldError, key_segment
from strato.syntax import FORMAT_CHECKS, is_nsid

PRIMARY_TYPES = frozenset({"record", "query", "procedure", "subscription", "permission-set"})
NOT_NAMED_TYPES = frozenset({"ref", "union", "unknown", "params", "permission"})
FIELD_TYPES = frozenset(
    {
        "null",
        "boolean",
        "integer",
        "string",
        "bytes",
        "cid-link",
        "blob",
        "array",
        "object",
        "ref",
        "union",
        "unknown",
    }
)
NAMED_TYPES = (FIELD_TYPES - NOT_NAMED_TYPES) | PRIMARY_TYPES | {"token"}
PARAM_TYPES = frozenset({"boolean", "integer", "string", "unknown", "array"})
PARAM_ITEM_TYPES = frozenset({"boolean", "integer", "string", "unknown"})
BODY_SCHEMA_TYPES = frozenset({"object", "ref", "union"})

_DEF_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*")
_MIME_GLOB = re.compile(r"\*/\*|[a-zA-Z0-9.+_-]+/(\*|[a-zA-Z0-9.+_-]+)")


@dataclass(frozen=True, slots=True)
class LexiconDoc:
    """A checked lexicon document: its NSID, its defs (the JSON as given) and the raw document."""

    id: str
    defs: dict[str, dict[str, Any]]
    doc: dict[str, Any]
    description: str | None = None
    revision: int | None = None

    @property
    def main(self) -> dict[str, Any] | None:
        """The ``main`` def, if there is one."""
        return self.defs.get("main")


def parse_lexicon(doc: Any) -> LexiconDoc:
    """Check a decoded lexicon document and return it as a :class:`LexiconDoc`."""
    try:
        return _parse(doc)
    except FieldError as err:
        raise err.to_error() from None


def is_valid_ref(ref: Any) -> bool:
    """Whether ``ref`` has the syntax of a reference: ``#name``, ``nsid`` or ``nsid#name``."""
    if not isinstance(ref, str) or not ref:
        return False
    nsid, _, name = ref.partition("#")
    if nsid and not is_nsid(nsid):
        return False
    if "#" in ref:
        return _DEF_NAME.fullmatch(name) is not None
    return True


def _parse(doc: Any) -> LexiconDoc:
    if not isinstance(doc, dict):
        raise FieldError("a lexicon document must be an object")
    version = doc.get("lexicon")
    if type(version) is not int or version != 1:
        raise FieldError("lexicon version must be the integer 1", ".lexicon")
    nsid = doc.get("id")
    if not isinstance(nsid, str) or not is_nsid(nsid):
        raise FieldError("id must be an NSID", ".id")
    description = _optional(doc, "description", str)
    revision = _optional(doc, "revision", int)
    defs = doc.get("defs")
    if not isinstance(defs, dict) or not defs:
        raise FieldError("defs must be a non-empty object", ".defs")
    for name, definition in defs.items():
        try:
            _check_named_def(name, definition)
        except FieldError as err:
            err.segments.append(key_segment(name))
            err.segments.append(".defs")
            raise
    return LexiconDoc(nsid, defs, doc, description, revision)


def _check_named_def(name: str, definition: Any) -> None:
    if _DEF_NAME.fullmatch(name) is None:
        raise FieldError(f"invalid def name {name!r}")
    kind = _type_of(definition)
    if kind in PRIMARY_TYPES and name != "main":
        raise FieldError(f"a {kind} def must be named main (only one primary def)")
    if kind in NOT_NAMED_TYPES:
        raise FieldError(f"a def of type {kind} cannot be named")
    if kind not in NAMED_TYPES:
        raise FieldError(f"unknown def type {kind!r}", ".type")
    _CHECKS[kind](definition)


def _type_of(definition: Any) -> str:
    if not isinstance(definition, dict):
        raise FieldError("a def must be an object")
    kind = definition.get("type")
    if not isinstance(kind, str):
        raise FieldError("type must be a string", ".type")
    return kind


def _optional(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if value is not None and (type(value) is not kind):
        raise FieldError(f"{key} must be {_ARTICLES[kind]}", key_segment(key))
    return value


def _optional_list(obj: dict[str, Any], key: str, kind: type) -> list[Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or any(type(item) is not kind for item in value):
        raise FieldError(f"{key} must be an array of {_KIND_NAMES[kind]}s", key_segment(key))
    return value


def _non_negative(obj: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = _optional(obj, key, int)
        if value is not None and value < 0:
            raise FieldError(f"{key} must not be negative", key_segment(key))


def _const_default(obj: dict[str, Any], kind: type) -> None:
    _optional(obj, "const", kind)
    _optional(obj, "default", kind)
    if "const" in obj and "default" in obj:
        raise FieldError("const and default are mutually exclusive")


_KIND_NAMES: dict[type, str] = {str: "string", int: "integer", bool: "boolean"}
_ARTICLES: dict[type, str] = {str: "a string", int: "an integer", bool: "a boolean"}


def _check_field(definition: Any, allowed: frozenset[str] = FIELD_TYPES) -> None:
    kind = _type_of(definition)
    if kind not in allowed:
        raise FieldError(f"type {kind!r} is not allowed here", ".type")
    _CHECKS[kind](definition)


def _check_null(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)


def _check_boolean(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)
    _const_default(definition, bool)


def _check_integer(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)
    _const_default(definition, int)
    minimum = _optional(definition, "minimum", int)
    maximum = _optional(definition, "maximum", int)
    if minimum is not None and maximum is not None and minimum > maximum:
        raise FieldError("minimum is greater than maximum")
    _optional_list(definition, "enum", int)


def _check_string(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)
    _const_default(definition, str)
    fmt = _optional(definition, "format", str)
    if fmt is not None and fmt not in FORMAT_CHECKS:
        raise FieldError(f"unknown string format {fmt!r}", ".format")
    _non_negative(definition, "minLength", "maxLength", "minGraphemes", "maxGraphemes")
    _optional_list(definition, "enum", str)
    _optional_list(definition, "knownValues", str)


def _check_bytes(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)
    _non_negative(definition, "minLength", "maxLength")


def _check_blob(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)
    _non_negative(definition, "maxSize")
    for i, glob in enumerate(_optional_list(definition, "accept", str) or ()):
        if _MIME_GLOB.fullmatch(glob) is None:
            raise FieldError(f"invalid MIME type pattern {glob!r}", f"[{i}]", ".accept")


def _check_array(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)
    _non_negative(definition, "minLength", "maxLength")
    if "items" not in definition:
        raise FieldError("an array needs items")
    try:
        _check_field(definition["items"])
    except FieldError as err:
        err.segments.append(".items")
        raise


def _check_object(definition: dict[str, Any]) -> None:
    _check_properties(definition, FIELD_TYPES)
    properties = definition["properties"]
    for key in ("required", "nullable"):
        for i, name in enumerate(_optional_list(definition, key, str) or ()):
            if name not in properties:
                raise FieldError(
                    f"{key} names {name!r}, which is not a property", f"[{i}]", "." + key
                )


def _check_properties(definition: dict[str, Any], allowed: frozenset[str]) -> None:
    _optional(definition, "description", str)
    properties = definition.get("properties")
    if not isinstance(properties, dict):
        raise FieldError("properties must be an object", ".properties")
    for name, field in properties.items():
        try:
            _check_field(field, allowed)
        except FieldError as err:
            err.segments.append(key_segment(name))
            err.segments.append(".properties")
            raise


def _check_params(definition: dict[str, Any]) -> None:
    _check_properties(definition, PARAM_TYPES)
    properties = definition["properties"]
    for name, field in properties.items():
        if field["type"] == "array" and _type_of(field["items"]) not in PARAM_ITEM_TYPES:
            raise FieldError(
                "params arrays hold booleans, integers or strings", ".items", "." + name
            )
    for i, name in enumerate(_optional_list(definition, "required", str) or ()):
        if name not in properties:
            raise FieldError(
                f"required names {name!r}, which is not a property", f"[{i}]", ".required"
            )


def _check_token(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)


def _check_ref(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)
    if not is_valid_ref(definition.get("ref")):
        raise FieldError("ref must be a reference (#name, nsid or nsid#name)", ".ref")


def _check_union(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)
    refs = _optional_list(definition, "refs", str)
    if refs is None:
        raise FieldError("a union needs refs", ".refs")
    for i, ref in enumerate(refs):
        if not is_valid_ref(ref):
            raise FieldError(f"invalid reference {ref!r}", f"[{i}]", ".refs")
    if _optional(definition, "closed", bool) and not refs:
        raise FieldError("a closed union needs at least one ref", ".refs")


def _check_unknown(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)


def _check_record(definition: dict[str, Any]) -> None:
    _optional(definition, "description", str)
    key = definition.get("key")
    if not isinstance(key, str) or not _is_record_key_type(key):
        raise FieldError("key must be tid, nsid, any or literal:<record key>", ".key")
    record: Any = definition.get("record")
    try:
        if _type_of(record) != "object":
            raise FieldError("a record schema must be an object", ".type")
        _check_object(record)
    except FieldError as err:
        err.segments.append(".record")
        raise


def _is_record_key_type(key: str) -> bool:
    if key.startswith("literal:"):
        return FORMAT_CHECKS["record-key"](key[8:])
    return key in ("tid", "nsid", "any")


def _check_xrpc(definition: dict[str, Any], bodies: tuple[str, ...]) -> None:
    _optional(definition, "description", str)
    if definition.get("parameters") is not None:
        try:
            if _type_of(definition["parameters"]) != "params":
                raise FieldError("parameters must be of type params", ".type")
            _check_params(definition["parameters"])
        except FieldError as err:
            err.segments.append(".parameters")
            raise
    for key in bodies:
        if definition.get(key) is not None:
            try:
                _check_body(definition[key], encoding=key != "message")
            except FieldError as err:
                err.segments.append("." + key)
                raise
    errors = definition.get("errors")
    if errors is not None:
        if not isinstance(errors, list):
            raise FieldError("errors must be an array", ".errors")
        for i, error in enumerate(errors):
            if not isinstance(error, dict) or not isinstance(error.get("name"), str):
                raise FieldError("an error needs a name", f"[{i}]", ".errors")


def _check_body(body: Any, *, encoding: bool) -> None:
    if not isinstance(body, dict):
        raise FieldError("a body must be an object")
    _optional(body, "description", str)
    if encoding and not isinstance(body.get("encoding"), str):
        raise FieldError("a body needs an encoding (a MIME type)", ".encoding")
    if body.get("schema") is not None:
        try:
            _check_field(body["schema"], BODY_SCHEMA_TYPES)
        except FieldError as err:
            err.segments.append(".schema")
            raise


def _check_query(definition: dict[str, Any]) -> None:
    _check_xrpc(definition, ("output",))


def _check_procedure(definition: dict[str, Any]) -> None:
    _check_xrpc(definition, ("input", "output"))


def _check_subscription(definition: dict[str, Any]) -> None:
    _check_xrpc(definition, ("message",))


def _check_permission_set(definition: dict[str, Any]) -> None:
    for key in ("title", "detail"):
        _optional(definition, key, str)
        translations = definition.get(key + ":lang")
        if translations is not None and (
            not isinstance(translations, dict)
            or not all(isinstance(text, str) for text in translations.values())
        ):
            raise FieldError(f"{key}:lang must map languages to strings", f'["{key}:lang"]')
    permissions = definition.get("permissions")
    if not isinstance(permissions, list):
        raise FieldError("permissions must be an array", ".permissions")
    for i, permission in enumerate(permissions):
        try:
            _check_permission(permission)
        except FieldError as err:
            err.segments += [f"[{i}]", ".permissions"]
            raise


def _check_permission(permission: Any) -> None:
    if _type_of(permission) != "permission":
        raise FieldError("a permission must have type permission", ".type")
    if not isinstance(permission.get("resource"), str) or not permission["resource"]:
        raise FieldError("a permission needs a resource", ".resource")


_CHECKS = {
    "null": _check_null,
    "boolean": _check_boolean,
    "integer": _check_integer,
    "string": _check_string,
    "bytes": _check_bytes,
    "cid-link": _check_null,
    "blob": _check_blob,
    "array": _check_array,
    "object": _check_object,
    "params": _check_params,
    "token": _check_token,
    "ref": _check_ref,
    "union": _check_union,
    "unknown": _check_unknown,
    "record": _check_record,
    "query": _check_query,
    "procedure": _check_procedure,
    "subscription": _check_subscription,
    "permission-set": _check_permission_set,
}

__all__ = ["LexiconDoc", "LexiconValidationError", "is_valid_ref", "parse_lexicon"]
