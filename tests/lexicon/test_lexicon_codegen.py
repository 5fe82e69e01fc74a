"""Generated object validators: recursive defs, odd property names, nullable and union fields
inlined, deep nesting past the inline depth, and the same paths as the closures."""

from __future__ import annotations

from typing import Any

import pytest
from strato.errors import LexiconValidationError
from strato.lexicon import Catalog
from strato.lexicon.codegen import MAX_INLINE_DEPTH

ODD = "x'); raise SystemExit('boom'); ('\\\"\n"


def _catalog(defs: dict[str, Any]) -> Catalog:
    return Catalog([{"lexicon": 1, "id": "com.example.gen", "defs": defs}])


def _error(catalog: Catalog, ref: str, data: Any) -> tuple[str, str]:
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate(ref, data)
    return info.value.path, info.value.reason


def test_recursive_def() -> None:
    catalog = _catalog(
        {
            "node": {
                "type": "object",
                "required": ["n"],
                "properties": {
                    "n": {"type": "integer", "minimum": 0},
                    "child": {"type": "ref", "ref": "#node"},
                    "kids": {"type": "array", "items": {"type": "ref", "ref": "#node"}},
                },
            }
        }
    )
    deep: dict[str, Any] = {"n": 0}
    for i in range(1, 3 * MAX_INLINE_DEPTH):
        deep = {"n": i, "child": deep, "kids": [{"n": 1}]}
    catalog.validate("com.example.gen#node", deep)
    leaf = deep
    path = "$"
    while "child" in leaf["child"]:
        leaf = leaf["child"]
        path += ".child"
    leaf["child"] = {"n": -1}
    assert _error(catalog, "com.example.gen#node", deep) == (
        path + ".child.n",
        "must be at least 0",
    )
    leaf["child"] = {"n": 1, "kids": [{"n": 2}, {}]}
    assert _error(catalog, "com.example.gen#node", deep) == (
        path + ".child.kids[1]",
        "required field 'n' is missing",
    )


def test_odd_property_names_are_data_not_code() -> None:
    catalog = _catalog(
        {
            "main": {
                "type": "object",
                "required": [ODD],
                "properties": {ODD: {"type": "string", "format": "did", "maxLength": 40}},
            }
        }
    )
    catalog.validate("com.example.gen", {ODD: "did:plc:ewvi7nxzyoun6zhxrhs64oiz"})
    segment = '["' + ODD.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    assert _error(catalog, "com.example.gen", {ODD: "nope"}) == (
        "$" + segment,
        "must be a valid did",
    )
    assert _error(catalog, "com.example.gen", {}) == ("$", f"required field {ODD!r} is missing")


def test_nullable_and_union_fields_inline() -> None:
    catalog = _catalog(
        {
            "main": {
                "type": "object",
                "nullable": ["maybe"],
                "properties": {
                    "maybe": {"type": "ref", "ref": "#leaf"},
                    "either": {"type": "union", "refs": ["#leaf", "com.example.other#x"]},
                },
            },
            "leaf": {"type": "object", "properties": {"v": {"type": "boolean"}}},
        }
    )
    catalog.validate(
        "com.example.gen", {"maybe": None, "either": {"$type": "com.example.gen#leaf"}}
    )
    assert _error(
        catalog, "com.example.gen", {"either": {"$type": "com.example.gen#leaf", "v": 1}}
    ) == (
        "$.either.v",
        "expected a boolean",
    )
    # a known variant whose lexicon is not loaded fails when reached
    assert _error(catalog, "com.example.gen", {"either": {"$type": "com.example.other#x"}}) == (
        "$.either",
        "unresolved reference 'com.example.other#x' (lexicon not loaded)",
    )
    # an unknown variant of an open union passes
    catalog.validate("com.example.gen", {"either": {"$type": "com.example.third"}})
    assert _error(catalog, "com.example.gen", {"maybe": 5}) == ("$.maybe", "expected an object")
