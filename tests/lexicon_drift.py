"""Checking hand-written msgspec structs against the lexicons they implement, for any struct
(records, event payloads, XRPC params, inputs and outputs).

- :func:`check_struct` (drift): the struct's fields, required set, nullable fields, types,
  limits and (for params) defaults are the lexicon def's.
- :func:`sample_object` and :func:`violations` (agreement): valid data with every optional
  field set, and one broken copy per rule the def states, recursing into nested objects and
  union variants; a test then asserts the struct and the generic engine give the same verdict.

A def is named by a reference: ``nsid`` or ``nsid#name``, or, for the inline schemas of an
XRPC method, ``nsid@params``, ``nsid@input`` or ``nsid@output``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from conftest import require_shared
from strato import CID
from strato.lexicon import Catalog
from strato.lexicon.codegen import normalize_ref

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
TID = "3jzfcijpj2z2a"
NOW = "2024-05-01T12:34:56.789Z"
POST_URI = f"at://{DID}/app.bsky.feed.post/{TID}"
RECORD_CID = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"
BLOB_CID = "bafkreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"

Structs = Mapping[type[Any], str]
#: The lexicon folders shipped inside the package.
PACKAGE_LEXICONS = (resources.files("strato.relay") / "lexicons",)


@functools.cache
def shared_catalog() -> Catalog:
    """Every com.atproto and app.bsky lexicon from the shared folder (skips when absent), and
    the lexicons the package ships (the relay's admin API)."""
    return Catalog.load([require_shared("lexicons"), *PACKAGE_LEXICONS])


def definition(ref: str) -> tuple[str, dict[str, Any]]:
    """The NSID and object (or params) def behind a reference."""
    ref, _, part = ref.partition("@")
    nsid, _, name = ref.partition("#")
    doc = shared_catalog().get(nsid)
    assert doc is not None, ref
    found = doc.defs[name or "main"]
    if part == "params":
        return nsid, found["parameters"]
    if part:
        schema = found[part]["schema"]
        if schema["type"] == "ref":  # a body that is a named def
            return definition(normalize_ref(schema["ref"], nsid))
        return nsid, schema
    if found["type"] == "record":
        found = found["record"]
    return nsid, found


# ---------------------------------------------------------------------------------------------
# Drift


def _compare(info: Any, prop: dict[str, Any], nsid: str, where: str, structs: Structs) -> None:
    kind = prop["type"]
    if kind == "string":
        assert isinstance(info, mi.StrType), where
    elif kind == "integer":
        assert isinstance(info, mi.IntType), where
        assert (info.ge, info.le) == (prop.get("minimum"), prop.get("maximum")), where
    elif kind == "boolean":
        assert isinstance(info, mi.BoolType), where
    elif kind == "bytes":
        assert isinstance(info, mi.BytesType), where
        assert (info.min_length, info.max_length) == (prop.get("minLength"), prop.get("maxLength"))
    elif kind == "cid-link":
        assert isinstance(info, mi.CustomType), where
        assert info.cls is CID, where
    elif kind == "unknown":
        # any object: msgspec checks it is one, __post_init__ the rest
        assert isinstance(info, mi.AnyType | mi.DictType), where
        if isinstance(info, mi.DictType):
            assert isinstance(info.key_type, mi.StrType), where
            assert isinstance(info.value_type, mi.AnyType), where
    elif kind in ("blob", "union"):
        assert isinstance(info, mi.AnyType), f"{where}: resolved in __post_init__"
    elif kind == "array":
        assert isinstance(info, mi.ListType), where
        assert (info.min_length, info.max_length) == (prop.get("minLength"), prop.get("maxLength"))
        _compare(info.item_type, prop["items"], nsid, where + "[]", structs)
    elif kind == "ref":
        target = normalize_ref(prop["ref"], nsid)
        if isinstance(info, mi.AnyType):  # a plain ref resolved in __post_init__
            return
        assert isinstance(info, mi.StructType), where
        assert structs[info.cls] == target, where
    else:
        pytest.fail(f"{where}: unexpected lexicon type {kind}")


def check_struct(cls: type[Any], ref: str, structs: Structs) -> None:
    """Assert that ``cls`` has exactly the def's fields, required set, nullable fields, types,
    limits and, for params, defaults (``structs`` names the def of every struct it refers to)."""
    nsid, found = definition(ref)
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = {field.encode_name: field for field in info.fields}
    properties = found.get("properties", {})
    assert set(fields) == set(properties)
    assert {n for n, f in fields.items() if f.required} == set(found.get("required", ()))
    nullable = set(found.get("nullable", ()))
    for name, field in fields.items():
        if ref.endswith("@params") and not field.required:
            # a params struct fills in the lexicon default (msgspec shows UNSET as NODEFAULT)
            default = properties[name].get("default", msgspec.NODEFAULT)
            assert field.default == default, f"{cls.__name__}.{name}: default"
        kind = field.type
        if isinstance(kind, mi.UnionType) and any(isinstance(t, mi.NoneType) for t in kind.types):
            members = [t for t in kind.types if not isinstance(t, mi.NoneType)]
            assert len(members) == 1, name
            assert name in nullable, f"{name} accepts null but is not nullable"
            kind = members[0]
        else:
            assert name not in nullable or isinstance(kind, mi.AnyType), name
        _compare(kind, properties[name], nsid, f"{cls.__name__}.{name}", structs)


def nested_structs(structs: Structs) -> Iterator[type[Any]]:
    """The structs the given ones refer to (every one must be in ``structs`` too)."""
    for cls in structs:
        for field in mi.type_info(cls).fields:  # type: ignore[attr-defined]
            kinds = [field.type]
            while kinds:
                kind = kinds.pop()
                if isinstance(kind, mi.ListType):
                    kinds.append(kind.item_type)
                elif isinstance(kind, mi.UnionType):
                    kinds.extend(kind.types)
                elif isinstance(kind, mi.StructType):
                    yield kind.cls


# ---------------------------------------------------------------------------------------------
# Agreement: valid data and one violation per rule

FORMAT_SAMPLES = {
    "did": DID,
    "datetime": NOW,
    "at-uri": POST_URI,
    "uri": "https://example.com/x",
    "cid": RECORD_CID,
    "language": "en",
    "handle": "alice.example.com",
    "tid": TID,
    "nsid": "app.bsky.feed.post",
    "record-key": "self",
    "at-identifier": DID,
}
MIME_SAMPLES = {"image/*": "image/png", "*/*": "application/octet-stream"}


def sample(prop: dict[str, Any], nsid: str, depth: int = 0) -> Any:
    """A valid value for a lexicon field (data-model form), with every optional field set."""
    kind = prop["type"]
    if kind == "string":
        if "format" in prop:
            return FORMAT_SAMPLES[prop["format"]]
        return prop.get("knownValues", ["x"])[0]
    if kind == "integer":
        return prop.get("minimum", 0)
    if kind == "boolean":
        return True
    if kind == "bytes":
        return b"\x00"
    if kind == "cid-link":
        return CID.decode(RECORD_CID)
    if kind == "blob":
        accept = prop.get("accept", ["*/*"])[0]
        return {
            "$type": "blob",
            "ref": CID.decode(BLOB_CID),
            "mimeType": MIME_SAMPLES.get(accept, accept),
            "size": 1,
        }
    if kind == "array":
        return [sample(prop["items"], nsid, depth)]
    if kind == "ref":
        target = normalize_ref(prop["ref"], nsid)
        return sample_object(target, depth + 1)
    if kind == "union":
        target = normalize_ref(prop["refs"][0], nsid)
        return {"$type": target, **sample_object(target, depth + 1)}
    if kind == "unknown":
        return {"$type": "com.example.thing", "a": 1}
    raise AssertionError(kind)


def sample_object(ref: str, depth: int = 0) -> dict[str, Any]:
    """A valid object for a def, every optional field set."""
    nsid, found = definition(ref)
    assert depth < 8, ref
    return {name: sample(p, nsid, depth) for name, p in found.get("properties", {}).items()}


def _path(parent: str, name: str) -> str:
    return f"{parent}.{name}"


def violations(ref: str, value: dict[str, Any], path: str = "$") -> Iterator[tuple[str, Any]]:
    """``(description, broken copy)`` for every rule of the def that ``value`` can break,
    recursing into nested objects and union variants."""
    nsid, found = definition(ref)
    for name, prop in found.get("properties", {}).items():
        where = _path(path, name)
        for label, bad in _field_violations(prop, nsid, value.get(name)):
            yield f"{where}: {label}", _replace(value, name, bad)
        if name in found.get("required", ()):
            yield f"{where}: missing", {k: v for k, v in value.items() if k != name}
        yield from _nested(prop, nsid, value, name, where)


def _replace(value: dict[str, Any], name: str, item: Any) -> dict[str, Any]:
    result = dict(value)
    result[name] = item
    return result


def _field_violations(prop: dict[str, Any], nsid: str, current: Any) -> Iterator[tuple[str, Any]]:
    kind = prop["type"]
    wrong = {"string": 5, "integer": "5", "boolean": "yes", "array": "x"}.get(kind, "x")
    yield "wrong type", wrong
    yield "null", None
    if kind == "integer" and "minimum" in prop:
        yield "below minimum", prop["minimum"] - 1
    if kind == "integer" and "maximum" in prop:
        yield "above maximum", prop["maximum"] + 1
    if kind == "string":
        if "maxLength" in prop:
            yield "too many bytes", "a" * (prop["maxLength"] + 1)
        if "maxGraphemes" in prop:
            yield "too many graphemes", "é" * (prop["maxGraphemes"] + 1)
            yield "graphemes within limit", "\U0001f469\u200d\U0001f469" * prop["maxGraphemes"]
        if "format" in prop:
            yield "bad format", "\u00a0not valid\u00a0"
    if kind == "array" and "maxLength" in prop:
        yield "too many items", list(current) * (prop["maxLength"] + 1)
    if kind == "array":
        yield "bad item", [*current, 3.5]
    if kind == "bytes" and "maxLength" in prop:
        yield "too many bytes", b"\x00" * (prop["maxLength"] + 1)
    if kind == "blob":
        if "accept" in prop and "*/*" not in prop["accept"]:
            yield "not accepted", {**current, "mimeType": "application/x-strato"}
        if "maxSize" in prop:
            yield "too large", {**current, "size": prop["maxSize"] + 1}
        yield "negative size", {**current, "size": -1}
        yield "bad ref", {**current, "ref": "nope"}
        yield "legacy", {"cid": BLOB_CID, "mimeType": current["mimeType"]}
        yield "legacy bad cid", {"cid": "nope", "mimeType": current["mimeType"]}
    if kind == "union":
        yield "no $type", {k: v for k, v in current.items() if k != "$type"}
        yield "unknown $type", {**current, "$type": "com.example.other"}
        yield "#main $type", {**current, "$type": current["$type"] + "#main"}
    if kind == "ref":
        yield "other $type", {**current, "$type": "com.example.other"}
    if kind == "unknown":
        yield "a blob", sample({"type": "blob"}, nsid)
        yield "a link", {"$link": RECORD_CID}


def _nested(
    prop: dict[str, Any], nsid: str, value: dict[str, Any], name: str, where: str
) -> Iterator[tuple[str, Any]]:
    kind = prop["type"]
    current: Any = value.get(name)
    if kind in ("ref", "union"):
        target = normalize_ref(prop["ref"] if kind == "ref" else current["$type"], nsid)
        for label, bad in violations(target, current, where):
            yield label, _replace(value, name, bad)
        if kind == "union":
            for other in prop["refs"][1:]:
                target = normalize_ref(other, nsid)
                variant = {"$type": target, **sample_object(target)}
                yield f"{where}: variant {target}", _replace(value, name, variant)
                for label, bad in violations(target, variant, where):
                    yield label, _replace(value, name, bad)
    elif kind == "array" and prop["items"]["type"] in ("ref", "union"):
        items = prop["items"]
        refs = [items["ref"]] if items["type"] == "ref" else items["refs"]
        for ref in refs:
            target = normalize_ref(ref, nsid)
            item = (
                current[0] if items["type"] == "ref" else {"$type": target, **sample_object(target)}
            )
            if items["type"] == "union":
                yield f"{where}[0]: variant {target}", _replace(value, name, [item])
            for label, bad in violations(target, item, f"{where}[0]"):
                yield label, _replace(value, name, [bad])
