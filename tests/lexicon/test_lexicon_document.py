"""parse_lexicon: the interop document fixtures, the shared lexicon sets, and each schema rule."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import shared_path, skipped_param
from strato.errors import LexiconValidationError
from strato.lexicon import LexiconDoc, parse_lexicon

FIXTURES = shared_path("interop", "lexicon")


def _cases(name: str) -> list[Any]:
    path = FIXTURES / name
    if not path.exists():
        return skipped_param(path)
    return [pytest.param(case, id=case["name"]) for case in json.loads(path.read_text())]


@pytest.mark.parametrize("case", _cases("lexicon-valid.json"))
def test_interop_valid_lexicons(case: dict[str, Any]) -> None:
    doc = parse_lexicon(case["lexicon"])
    assert isinstance(doc, LexiconDoc)
    assert doc.id == case["lexicon"]["id"]
    assert doc.defs == case["lexicon"]["defs"]


INVALID_REASONS = {
    "invalid lexicon field": ("$.lexicon", "lexicon version must be the integer 1"),
    "invalid id field": ("$.id", "id must be an NSID"),
    "invalid NSID": ("$.id", "id must be an NSID"),
    "defined unknown": ("$.defs.demo", "a def of type unknown cannot be named"),
    "defined ref": ("$.defs.demo", "a def of type ref cannot be named"),
    "non-main primary": ("$.defs.demo", "a record def must be named main (only one primary def)"),
    "record missing type object": ("$.defs.main.record.type", "type must be a string"),
}


@pytest.mark.parametrize("case", _cases("lexicon-invalid.json"))
def test_interop_invalid_lexicons(case: dict[str, Any]) -> None:
    with pytest.raises(LexiconValidationError) as info:
        parse_lexicon(case["lexicon"])
    assert (info.value.path, info.value.reason) == INVALID_REASONS[case["name"]]


def _shared_lexicons() -> list[Any]:
    root = shared_path("lexicons")
    if not root.exists():
        return skipped_param(root)
    return [pytest.param(p, id=str(p.relative_to(root))) for p in sorted(root.rglob("*.json"))]


@pytest.mark.parametrize("path", _shared_lexicons())
def test_every_shared_lexicon_parses(path: Any) -> None:
    doc = json.loads(path.read_text())
    assert parse_lexicon(doc).id == doc["id"]


BASE: dict[str, Any] = {
    "lexicon": 1,
    "id": "com.example.thing",
    "defs": {
        "main": {
            "type": "record",
            "key": "tid",
            "record": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "maxLength": 10},
                    "kind": {"type": "union", "refs": ["#a"]},
                },
            },
        },
        "a": {"type": "object", "properties": {}},
    },
}


def _with(path: list[str], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


PROPS = ["defs", "main", "record", "properties"]
RULES = [
    ("not an object", [], None, "$", "a lexicon document must be an object"),
    ("lexicon 2", ["lexicon"], 2, "$.lexicon", "lexicon version must be the integer 1"),
    ("lexicon true", ["lexicon"], True, "$.lexicon", "lexicon version must be the integer 1"),
    ("no defs", ["defs"], {}, "$.defs", "defs must be a non-empty object"),
    ("bad def name", ["defs", "a-b"], {"type": "token"}, '$.defs["a-b"]', "invalid def name 'a-b'"),
    ("unknown type", ["defs", "a"], {"type": "float"}, "$.defs.a.type", "unknown def type 'float'"),
    ("def not object", ["defs", "a"], 3, "$.defs.a", "a def must be an object"),
    (
        "bad key",
        ["defs", "main", "key"],
        "uuid",
        "$.defs.main.key",
        "key must be tid, nsid, any or literal:<record key>",
    ),
    (
        "bad literal key",
        ["defs", "main", "key"],
        "literal:..",
        "$.defs.main.key",
        "key must be tid, nsid, any or literal:<record key>",
    ),
    (
        "required not a property",
        [*PROPS[:3], "required"],
        ["nope"],
        "$.defs.main.record.required[0]",
        "required names 'nope', which is not a property",
    ),
    (
        "maxLength string",
        [*PROPS, "name", "maxLength"],
        "10",
        "$.defs.main.record.properties.name.maxLength",
        "maxLength must be an integer",
    ),
    (
        "negative maxLength",
        [*PROPS, "name", "maxLength"],
        -1,
        "$.defs.main.record.properties.name.maxLength",
        "maxLength must not be negative",
    ),
    (
        "unknown format",
        [*PROPS, "name", "format"],
        "email",
        "$.defs.main.record.properties.name.format",
        "unknown string format 'email'",
    ),
    (
        "const and default",
        [*PROPS, "name"],
        {"type": "string", "const": "a", "default": "a"},
        "$.defs.main.record.properties.name",
        "const and default are mutually exclusive",
    ),
    (
        "const wrong type",
        [*PROPS, "name"],
        {"type": "integer", "const": "a"},
        "$.defs.main.record.properties.name.const",
        "const must be an integer",
    ),
    (
        "closed empty union",
        [*PROPS, "kind"],
        {"type": "union", "refs": [], "closed": True},
        "$.defs.main.record.properties.kind.refs",
        "a closed union needs at least one ref",
    ),
    (
        "bad union ref",
        [*PROPS, "kind"],
        {"type": "union", "refs": ["#"]},
        "$.defs.main.record.properties.kind.refs[0]",
        "invalid reference '#'",
    ),
    (
        "bad ref",
        [*PROPS, "kind"],
        {"type": "ref", "ref": "not an nsid"},
        "$.defs.main.record.properties.kind.ref",
        "ref must be a reference (#name, nsid or nsid#name)",
    ),
    (
        "array without items",
        [*PROPS, "kind"],
        {"type": "array"},
        "$.defs.main.record.properties.kind",
        "an array needs items",
    ),
    (
        "params as property",
        [*PROPS, "kind"],
        {"type": "params", "properties": {}},
        "$.defs.main.record.properties.kind.type",
        "type 'params' is not allowed here",
    ),
    (
        "record as property",
        [*PROPS, "kind"],
        {"type": "token"},
        "$.defs.main.record.properties.kind.type",
        "type 'token' is not allowed here",
    ),
    (
        "bad accept",
        [*PROPS, "kind"],
        {"type": "blob", "accept": ["*"]},
        "$.defs.main.record.properties.kind.accept[0]",
        "invalid MIME type pattern '*'",
    ),
    (
        "second primary",
        ["defs", "a"],
        {"type": "query"},
        "$.defs.a",
        "a query def must be named main (only one primary def)",
    ),
    (
        "query params not params",
        ["defs", "main"],
        {"type": "query", "parameters": {"type": "object", "properties": {}}},
        "$.defs.main.parameters.type",
        "parameters must be of type params",
    ),
    (
        "params object",
        ["defs", "main"],
        {
            "type": "query",
            "parameters": {
                "type": "params",
                "properties": {"o": {"type": "object", "properties": {}}},
            },
        },
        "$.defs.main.parameters.properties.o.type",
        "type 'object' is not allowed here",
    ),
    (
        "body without encoding",
        ["defs", "main"],
        {"type": "procedure", "input": {}},
        "$.defs.main.input.encoding",
        "a body needs an encoding (a MIME type)",
    ),
    (
        "body schema string",
        ["defs", "main"],
        {"type": "query", "output": {"encoding": "application/json", "schema": {"type": "string"}}},
        "$.defs.main.output.schema.type",
        "type 'string' is not allowed here",
    ),
    (
        "errors without name",
        ["defs", "main"],
        {"type": "query", "errors": [{}]},
        "$.defs.main.errors[0]",
        "an error needs a name",
    ),
    (
        "permission without resource",
        ["defs", "main"],
        {"type": "permission-set", "permissions": [{"type": "permission"}]},
        "$.defs.main.permissions[0].resource",
        "a permission needs a resource",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "where", "reason"), [pytest.param(*r[1:], id=r[0]) for r in RULES]
)
def test_schema_rules(path: list[str], value: Any, where: str, reason: str) -> None:
    doc: Any = _with(path, value) if path else value
    with pytest.raises(LexiconValidationError) as info:
        parse_lexicon(doc)
    assert (info.value.path, info.value.reason) == (where, reason)


def test_unknown_fields_are_ignored() -> None:
    doc = _with(["defs", "a", "x-extension"], {"anything": True})
    assert parse_lexicon(doc).defs["a"]["x-extension"] == {"anything": True}


def test_error_is_a_value_error_with_path_in_message() -> None:
    with pytest.raises(ValueError, match=r"^\$\.id: id must be an NSID$"):
        parse_lexicon(_with(["id"], "nope"))
