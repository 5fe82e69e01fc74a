"""validate_record: the interop record fixtures, app.bsky samples, real repo records, both data
forms (atproto JSON and data-model values), record keys, and each field rule's error."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import require_shared, shared_path, skipped_param
from lexicon_drift import BLOB_CID, RECORD_CID, TID
from lexicon_samples import BROKEN, POSTS, RECORDS, broken, bsky_catalog, interop_catalog
from strato import CID
from strato.car import read_car
from strato.dagcbor import decode, encode, from_json
from strato.errors import LexiconValidationError
from strato.lexicon import Catalog
from strato.repo import mst

FIXTURES = shared_path("interop", "lexicon")
REPOS = ("paul_staging.repo.car", "fakermaker.repo.car", "greenground.repo.car")


def _cases(name: str) -> list[Any]:
    path = FIXTURES / name
    if not path.exists():
        return skipped_param(path)
    return [pytest.param(case, id=case["name"]) for case in json.loads(path.read_text())]


@pytest.mark.parametrize("case", _cases("record-data-valid.json"))
def test_interop_valid_records(case: dict[str, Any]) -> None:
    catalog = interop_catalog()
    assert catalog.validate_record("example.lexicon.record", case["rkey"], case["data"]) == "valid"


@pytest.mark.parametrize("case", _cases("record-data-invalid.json"))
def test_interop_invalid_records(case: dict[str, Any]) -> None:
    catalog = interop_catalog()
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_record("example.lexicon.record", case["rkey"], case["data"])
    assert info.value.path.startswith("$")
    assert info.value.reason


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("unknown", False, "expected an object"),
        ("unknown", {"$bytes": "123"}, "bytes or a link are not allowed where the type is unknown"),
        (
            "unknown",
            {"$type": "blob", "mimeType": "text/plain", "size": 1, "ref": {"$link": BLOB_CID}},
            "a blob is not allowed where the type is unknown",
        ),
        ("unknown", {"a": 1.5}, "floats are not allowed in the atproto data model"),
        (
            "blob",
            {"$type": "blob", "mimeType": "text/plain", "size": -1, "ref": {"$link": BLOB_CID}},
            "a blob size must be a non-negative integer",
        ),
        (
            "blob",
            {"$type": "blob", "mimeType": "", "size": 1, "ref": {"$link": BLOB_CID}},
            "a blob needs a mimeType",
        ),
        (
            "blob",
            {"$type": "blob", "mimeType": "a/b", "size": 1, "ref": {"$link": "nope"}},
            "invalid CID in $link",
        ),
        ("blob", {"cid": "nope", "mimeType": "image/png"}, "invalid CID in legacy blob"),
        ("bytes", {"$bytes": "!!!!"}, "invalid base64 in $bytes"),
        ("bytes", {"$bytes": "aGk=", "x": 1}, "expected bytes"),
        ("cid-link", {"$link": RECORD_CID, "x": 1}, "expected a CID link"),
        ("cid-link", {"$link": "bafy"}, "invalid CID in $link"),
        ("integer", True, "expected an integer"),
        ("integer", 1.0, "expected an integer"),
        ("boolean", 1, "expected a boolean"),
        ("array", (1, 2), "expected an array"),
        ("ref", {"a": "1"}, "expected an integer"),
        ("union", {"$type": 5}, "a union variant needs a $type"),
        ("knownString", "purple", None),
        ("union", {"$type": "com.example.other#thing", "anything": 1.5}, None),
    ],
)
def test_field_rules(field: str, value: Any, reason: str | None) -> None:
    catalog = interop_catalog()
    record = {"$type": "example.lexicon.record", "integer": 1, field: value}
    if reason is None:
        assert catalog.validate_record("example.lexicon.record", "demo", record) == "valid"
        return
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_record("example.lexicon.record", "demo", record)
    assert info.value.reason == reason
    assert info.value.path.startswith(f"$.{field}" if field.isidentifier() else f'$["{field}"]')


def test_legacy_blob_is_accepted_without_size_check() -> None:
    catalog = interop_catalog()
    record = {
        "$type": "example.lexicon.record",
        "integer": 1,
        "sizeBlob": {"cid": BLOB_CID, "mimeType": "text/plain"},
    }
    assert catalog.validate_record("example.lexicon.record", "demo", record) == "valid"


def test_grapheme_rules_count_clusters_not_code_points() -> None:
    catalog = interop_catalog()
    family = (
        "\U0001f469\u200d\U0001f469\u200d\U0001f466\u200d\U0001f466"  # 7 code points, 1 grapheme
    )
    ok = {"$type": "example.lexicon.record", "integer": 1, "graphemeString": family * 12}
    assert catalog.validate_record("example.lexicon.record", "demo", ok) == "valid"
    short = {"$type": "example.lexicon.record", "integer": 1, "graphemeString": family * 9}
    with pytest.raises(LexiconValidationError, match="at least 10 graphemes"):
        catalog.validate_record("example.lexicon.record", "demo", short)


def test_string_lengths_are_utf8_bytes() -> None:
    catalog = interop_catalog()
    ok = {"$type": "example.lexicon.record", "integer": 1, "lenString": "é" * 10}  # 20 bytes
    assert catalog.validate_record("example.lexicon.record", "demo", ok) == "valid"
    long = {"$type": "example.lexicon.record", "integer": 1, "lenString": "é" * 11}  # 22 bytes
    with pytest.raises(LexiconValidationError, match="at most 20 bytes"):
        catalog.validate_record("example.lexicon.record", "demo", long)
    short = {"$type": "example.lexicon.record", "integer": 1, "lenString": "€€€"}  # 9 bytes
    with pytest.raises(LexiconValidationError, match="at least 10 bytes"):
        catalog.validate_record("example.lexicon.record", "demo", short)


@pytest.mark.parametrize("collection", sorted(RECORDS))
def test_bsky_samples_validate(collection: str) -> None:
    rkey, record = RECORDS[collection]
    assert bsky_catalog().validate_record(collection, rkey, record) == "valid"


def test_every_bsky_record_type_has_a_sample() -> None:
    catalog = bsky_catalog()
    records = {
        doc.id
        for doc in catalog
        if doc.id.startswith("app.bsky.") and (doc.main or {}).get("type") == "record"
    }
    assert records == set(RECORDS)
    assert {collection for collection, *_ in BROKEN} == records


@pytest.mark.parametrize("post", POSTS, ids=lambda p: str(p.get("embed", {}).get("$type", "plain")))
def test_bsky_posts_validate_in_both_data_forms(post: dict[str, Any]) -> None:
    catalog = bsky_catalog()
    assert catalog.validate_record("app.bsky.feed.post", TID, post) == "valid"
    model = decode(encode(from_json(post)))
    assert catalog.validate_record("app.bsky.feed.post", TID, model) == "valid"


@pytest.mark.parametrize(
    ("collection", "change", "path", "reason"),
    [pytest.param(*case, id=f"{case[0]}:{case[2]}") for case in BROKEN],
)
def test_broken_bsky_samples_fail(collection: str, change: Any, path: str, reason: str) -> None:
    record = broken(collection, change)
    with pytest.raises(LexiconValidationError) as info:
        bsky_catalog().validate_record(collection, RECORDS[collection][0], record)
    assert (info.value.path, info.value.reason) == (path, reason)


def test_data_model_values_are_checked_like_json() -> None:
    catalog = bsky_catalog()
    post = from_json(POSTS[2])
    post["embed"]["images"][0]["image"]["ref"] = b"not a cid"
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_record("app.bsky.feed.post", TID, post)
    assert (info.value.path, info.value.reason) == (
        "$.embed.images[0].image.ref",
        "expected a CID link",
    )
    assert isinstance(from_json(POSTS[2])["embed"]["images"][0]["image"]["ref"], CID)


@pytest.mark.parametrize("name", REPOS)
def test_real_repo_records_validate(name: str) -> None:
    path = require_shared("testdata", "indigo", "testing", "testdata", name)
    roots, blocks = read_car(path.read_bytes())
    commit = decode(blocks[roots[0]])
    catalog = bsky_catalog()
    seen = 0
    for key, cid in mst.items(blocks, commit["data"]):
        collection, rkey = key.split("/")
        assert catalog.validate_record(collection, rkey, decode(blocks[cid])) == "valid", key
        seen += 1
    assert seen > 0


@pytest.mark.parametrize(
    ("collection", "rkey", "reason"),
    [
        ("app.bsky.feed.post", "self", "record key 'self' is not a valid tid"),
        ("app.bsky.actor.profile", TID, f"record key '{TID}' is not a valid literal:self"),
        ("app.bsky.feed.generator", "..", "invalid record key '..'"),
        ("app.bsky.feed.post", "a/b", "invalid record key 'a/b'"),
    ],
)
def test_record_key_type(collection: str, rkey: str, reason: str) -> None:
    record = copy.deepcopy(RECORDS[collection][1])
    with pytest.raises(LexiconValidationError) as info:
        bsky_catalog().validate_record(collection, rkey, record)
    assert (info.value.path, info.value.reason) == ("rkey", reason)


@pytest.mark.parametrize(
    ("data", "path", "reason"),
    [
        ([], "$", "a record must be an object"),
        ({"text": "x"}, "$.$type", "a record needs a $type string"),
        ({"$type": ""}, "$.$type", "a record needs a $type string"),
        (
            {"$type": "app.bsky.feed.like"},
            "$.$type",
            "record $type 'app.bsky.feed.like' does not match the collection 'app.bsky.feed.post'",
        ),
    ],
)
def test_record_type_rules(data: Any, path: str, reason: str) -> None:
    with pytest.raises(LexiconValidationError) as info:
        bsky_catalog().validate_record("app.bsky.feed.post", TID, data)
    assert (info.value.path, info.value.reason) == (path, reason)


def test_unknown_collection_is_unknown() -> None:
    record = {"$type": "com.example.unknown.thing", "anything": [1, 2]}
    assert bsky_catalog().validate_record("com.example.unknown.thing", "x", record) == "unknown"


def test_non_record_lexicon_is_an_error() -> None:
    with pytest.raises(LexiconValidationError, match="is not a record lexicon"):
        bsky_catalog().validate_record(
            "app.bsky.feed.getTimeline", "x", {"$type": "app.bsky.feed.getTimeline"}
        )


def test_unresolved_ref_fails_when_reached() -> None:
    catalog = Catalog(
        [
            {
                "lexicon": 1,
                "id": "com.example.rec",
                "defs": {
                    "main": {
                        "type": "record",
                        "key": "any",
                        "record": {
                            "type": "object",
                            "properties": {"x": {"type": "ref", "ref": "com.example.other#x"}},
                        },
                    }
                },
            }
        ]
    )
    assert catalog.validate_record("com.example.rec", "a", {"$type": "com.example.rec"}) == "valid"
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_record("com.example.rec", "a", {"$type": "com.example.rec", "x": 1})
    assert (info.value.path, info.value.reason) == (
        "$.x",
        "unresolved reference 'com.example.other#x' (lexicon not loaded)",
    )
    catalog.add(
        {"lexicon": 1, "id": "com.example.other", "defs": {"x": {"type": "integer", "maximum": 0}}}
    )
    with pytest.raises(LexiconValidationError, match="must be at most 0"):
        catalog.validate_record("com.example.rec", "a", {"$type": "com.example.rec", "x": 1})


@pytest.mark.parametrize("text", ["\ud800" * 400, "a\udfff" * 10_000])
def test_lone_surrogates_are_rejected_not_crashed(text: str) -> None:
    post = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2024-01-01T00:00:00Z"}
    catalog = bsky_catalog()
    for check in (catalog.validate_record, catalog.decode_record):
        with pytest.raises(LexiconValidationError) as info:
            check("app.bsky.feed.post", TID, post)
        assert (info.value.path, info.value.reason) == (
            "$.text",
            "string is not valid Unicode (lone surrogate)",
        )
