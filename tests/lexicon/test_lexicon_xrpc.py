"""XRPC validation: query parameters (decoding, defaults, required), input and output bodies,
and subscription messages, against the interop catalog and the shared com.atproto set."""

from __future__ import annotations

from typing import Any

import pytest
from lexicon_drift import DID, RECORD_CID, TID
from lexicon_samples import bsky_catalog, interop_catalog
from strato.errors import LexiconValidationError


def test_params_are_decoded_and_defaults_filled() -> None:
    catalog = bsky_catalog()
    params = catalog.validate_params(
        "com.atproto.repo.listRecords",
        {"repo": DID, "collection": "app.bsky.feed.post", "reverse": "true", "ignored": "x"},
    )
    assert params == {
        "repo": DID,
        "collection": "app.bsky.feed.post",
        "limit": 50,
        "reverse": True,
    }
    typed = catalog.validate_params(
        "com.atproto.repo.listRecords",
        {"repo": DID, "collection": "app.bsky.feed.post", "limit": 7},
    )
    assert typed["limit"] == 7


def test_array_params() -> None:
    catalog = interop_catalog()
    params = catalog.validate_params(
        "example.lexicon.query", {"stringField": "x", "array": ["1", "2"], "integer": "-3"}
    )
    assert params == {"stringField": "x", "array": [1, 2], "integer": -3}
    single = catalog.validate_params("example.lexicon.query", {"stringField": "x", "array": "5"})
    assert single["array"] == [5]


@pytest.mark.parametrize(
    ("nsid", "params", "path", "reason"),
    [
        ("example.lexicon.query", {}, "params", "required parameter 'stringField' is missing"),
        (
            "example.lexicon.query",
            {"stringField": "x", "integer": "1.5"},
            "params.integer",
            "expected an integer",
        ),
        (
            "example.lexicon.query",
            {"stringField": "x", "integer": "01"},
            "params.integer",
            "expected an integer",
        ),
        (
            "example.lexicon.query",
            {"stringField": "x", "boolean": "yes"},
            "params.boolean",
            "expected a boolean",
        ),
        (
            "example.lexicon.query",
            {"stringField": "x", "handle": "not a handle"},
            "params.handle",
            "must be a valid handle",
        ),
        (
            "example.lexicon.query",
            {"stringField": "x", "array": ["1", "b"]},
            "params.array",
            "expected an integer",
        ),
        (
            "com.atproto.repo.listRecords",
            {"repo": DID, "collection": "a.b.c", "limit": "101"},
            "params.limit",
            "must be at most 100",
        ),
    ],
)
def test_bad_params(nsid: str, params: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(LexiconValidationError) as info:
        interop_catalog().validate_params(nsid, params)
    assert (info.value.path, info.value.reason) == (path, reason)


def test_params_of_unknown_method() -> None:
    with pytest.raises(LexiconValidationError, match=r"no query or procedure or subscription"):
        interop_catalog().validate_params("com.example.nothing", {})


def test_input_and_output_bodies() -> None:
    catalog = bsky_catalog()
    good = {
        "repo": DID,
        "collection": "app.bsky.feed.post",
        "record": {
            "$type": "app.bsky.feed.post",
            "text": "hi",
            "createdAt": "2024-01-01T00:00:00Z",
        },
    }
    catalog.validate_input("com.atproto.repo.createRecord", good)
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_input("com.atproto.repo.createRecord", {**good, "rkey": "a" * 600})
    assert (info.value.path, info.value.reason) == ("$.rkey", "must be at most 512 bytes long")
    out = {"uri": f"at://{DID}/app.bsky.feed.post/{TID}", "cid": RECORD_CID}
    catalog.validate_output("com.atproto.repo.createRecord", out)
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_output("com.atproto.repo.createRecord", {"uri": "x", "cid": RECORD_CID})
    assert (info.value.path, info.value.reason) == ("$.uri", "must be a valid at-uri")


def test_input_through_cross_document_ref() -> None:
    catalog = interop_catalog()
    catalog.validate_input("example.lexicon.procedure", {"preferences": []})
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_input("example.lexicon.procedure", {"preferences": [{"a": 1}]})
    assert (info.value.path, info.value.reason) == (
        "$.preferences[0]",
        "a union variant needs a $type",
    )


def test_body_kinds_are_checked() -> None:
    catalog = bsky_catalog()
    with pytest.raises(LexiconValidationError, match="no procedure lexicon for"):
        catalog.validate_input("com.atproto.repo.getRecord", {})
    # uploadBlob takes any bytes: no schema, nothing to check
    catalog.validate_input("com.atproto.repo.uploadBlob", b"\x00")


def test_subscription_messages() -> None:
    catalog = interop_catalog()
    catalog.validate_message("example.lexicon.subscription", "#yo", {"seq": 1, "yo": True})
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_message("example.lexicon.subscription", "#yo", {"seq": 1})
    assert (info.value.path, info.value.reason) == ("$", "required field 'yo' is missing")
    # open union: a message type from a newer lexicon passes
    catalog.validate_message("example.lexicon.subscription", "#future", {"x": 1})
    params = catalog.validate_params("example.lexicon.subscription", {"cursor": "12"})
    assert params == {"cursor": 12}


def test_subscribe_repos_commit_message() -> None:
    message = {
        "seq": 5,
        "rebase": False,
        "tooBig": False,
        "repo": DID,
        "commit": {"$link": RECORD_CID},
        "rev": TID,
        "since": None,
        "blocks": {"$bytes": "AAEC"},
        "ops": [
            {"action": "create", "path": f"app.bsky.feed.post/{TID}", "cid": {"$link": RECORD_CID}}
        ],
        "blobs": [],
        "time": "2024-01-01T00:00:00.000Z",
    }
    catalog = bsky_catalog()
    catalog.validate_message("com.atproto.sync.subscribeRepos", "#commit", message)
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate_message(
            "com.atproto.sync.subscribeRepos", "#commit", {**message, "ops": [{"action": "create"}]}
        )
    assert (info.value.path, info.value.reason) == ("$.ops[0]", "required field 'path' is missing")


def test_validate_any_def() -> None:
    catalog = bsky_catalog()
    catalog.validate("com.atproto.repo.strongRef", {"uri": f"at://{DID}", "cid": RECORD_CID})
    catalog.validate("app.bsky.feed.defs#interactionLike", "app.bsky.feed.defs#interactionLike")
    with pytest.raises(LexiconValidationError) as info:
        catalog.validate("app.bsky.feed.defs#interactionLike", "app.bsky.feed.defs#other")
    assert info.value.reason == "must be the token 'app.bsky.feed.defs#interactionLike'"
