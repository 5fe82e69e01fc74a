"""Hand-written sample records of every app.bsky record type, valid, plus ways to break each,
and the catalogs the lexicon tests share.

``RECORDS[collection]`` is ``(rkey, record)``; ``BROKEN`` lists ``(collection, change, path,
reason)`` where ``change`` turns a copy of the valid record into an invalid one and ``path`` /
``reason`` are what the validator must report.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from conftest import require_shared
from lexicon_drift import BLOB_CID, DID, NOW, POST_URI, RECORD_CID, TID, shared_catalog
from strato.lexicon import Catalog

LIST_URI = f"at://{DID}/app.bsky.graph.list/{TID}"
STRONG_REF = {"uri": POST_URI, "cid": RECORD_CID}


def blob(mime: str = "image/jpeg", size: int = 12345) -> dict[str, Any]:
    return {"$type": "blob", "ref": {"$link": BLOB_CID}, "mimeType": mime, "size": size}


FACET = {
    "index": {"byteStart": 0, "byteEnd": 5},
    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com"}],
}
SELF_LABELS = {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "nudity"}]}

POST_PLAIN: dict[str, Any] = {
    "$type": "app.bsky.feed.post",
    "text": "hello world",
    "createdAt": NOW,
}
POST_FACETS: dict[str, Any] = {
    "$type": "app.bsky.feed.post",
    "text": "hello @alice.example.com #tag https://example.com",
    "facets": [
        FACET,
        {
            "index": {"byteStart": 6, "byteEnd": 24},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": DID}],
        },
        {
            "index": {"byteStart": 25, "byteEnd": 29},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "tag"}],
        },
    ],
    "langs": ["en", "pt-BR"],
    "tags": ["atproto"],
    "createdAt": NOW,
}
POST_IMAGES: dict[str, Any] = {
    "$type": "app.bsky.feed.post",
    "text": "look",
    "embed": {
        "$type": "app.bsky.embed.images",
        "images": [
            {"image": blob(), "alt": "a cat", "aspectRatio": {"width": 640, "height": 480}},
            {"image": blob("image/png"), "alt": ""},
        ],
    },
    "labels": SELF_LABELS,
    "createdAt": NOW,
}
POST_REPLY: dict[str, Any] = {
    "$type": "app.bsky.feed.post",
    "text": "a reply quoting a post, with a video",
    "reply": {"root": STRONG_REF, "parent": STRONG_REF},
    "embed": {
        "$type": "app.bsky.embed.recordWithMedia",
        "record": {"$type": "app.bsky.embed.record", "record": STRONG_REF},
        "media": {
            "$type": "app.bsky.embed.video",
            "video": blob("video/mp4", 1_000_000),
            "alt": "a clip",
            "aspectRatio": {"width": 16, "height": 9},
        },
    },
    "createdAt": NOW,
}
POST_EXTERNAL: dict[str, Any] = {
    "$type": "app.bsky.feed.post",
    "text": "",
    "embed": {
        "$type": "app.bsky.embed.external",
        "external": {
            "uri": "https://example.com/article",
            "title": "An article",
            "description": "What it is about",
            "thumb": blob(),
        },
    },
    "createdAt": NOW,
}
POST_QUOTE: dict[str, Any] = {
    "$type": "app.bsky.feed.post",
    "text": "quote",
    "embed": {"$type": "app.bsky.embed.record", "record": STRONG_REF},
    "createdAt": NOW,
}
POSTS = [POST_PLAIN, POST_FACETS, POST_IMAGES, POST_REPLY, POST_EXTERNAL, POST_QUOTE]

RECORDS: dict[str, tuple[str, dict[str, Any]]] = {
    "app.bsky.actor.profile": (
        "self",
        {
            "$type": "app.bsky.actor.profile",
            "displayName": "Alice 👩‍👩‍👦‍👦",
            "description": "hello",
            "pronouns": "she/her",
            "website": "https://alice.example.com",
            "avatar": blob(),
            "banner": blob("image/png"),
            "labels": SELF_LABELS,
            "joinedViaStarterPack": STRONG_REF,
            "pinnedPost": STRONG_REF,
            "createdAt": NOW,
        },
    ),
    "app.bsky.actor.status": (
        "self",
        {
            "$type": "app.bsky.actor.status",
            "status": "app.bsky.actor.status#live",
            "embed": {
                "$type": "app.bsky.embed.external",
                "external": {"uri": "https://example.com", "title": "live", "description": ""},
            },
            "durationMinutes": 30,
            "createdAt": NOW,
        },
    ),
    "app.bsky.actor.contentVisibilityDeclaration": (
        "self",
        {
            "$type": "app.bsky.actor.contentVisibilityDeclaration",
            "hideFromAlgorithmicRecommendations": True,
        },
    ),
    "app.bsky.feed.generator": (
        "my-feed",
        {
            "$type": "app.bsky.feed.generator",
            "did": "did:web:feeds.example.com",
            "displayName": "My feed",
            "description": "posts",
            "descriptionFacets": [FACET],
            "avatar": blob("image/png"),
            "acceptsInteractions": True,
            "contentMode": "app.bsky.feed.defs#contentModeVideo",
            "createdAt": NOW,
        },
    ),
    "app.bsky.feed.like": (
        TID,
        {"$type": "app.bsky.feed.like", "subject": STRONG_REF, "createdAt": NOW},
    ),
    "app.bsky.feed.post": (TID, POST_FACETS),
    "app.bsky.feed.postgate": (
        TID,
        {
            "$type": "app.bsky.feed.postgate",
            "post": POST_URI,
            "detachedEmbeddingUris": [POST_URI],
            "embeddingRules": [{"$type": "app.bsky.feed.postgate#disableRule"}],
            "createdAt": NOW,
        },
    ),
    "app.bsky.feed.repost": (
        TID,
        {
            "$type": "app.bsky.feed.repost",
            "subject": STRONG_REF,
            "via": STRONG_REF,
            "createdAt": NOW,
        },
    ),
    "app.bsky.feed.threadgate": (
        TID,
        {
            "$type": "app.bsky.feed.threadgate",
            "post": POST_URI,
            "allow": [
                {"$type": "app.bsky.feed.threadgate#mentionRule"},
                {"$type": "app.bsky.feed.threadgate#listRule", "list": LIST_URI},
            ],
            "hiddenReplies": [POST_URI],
            "createdAt": NOW,
        },
    ),
    "app.bsky.graph.block": (
        TID,
        {"$type": "app.bsky.graph.block", "subject": DID, "createdAt": NOW},
    ),
    "app.bsky.graph.follow": (
        TID,
        {"$type": "app.bsky.graph.follow", "subject": DID, "createdAt": NOW},
    ),
    "app.bsky.graph.list": (
        TID,
        {
            "$type": "app.bsky.graph.list",
            "purpose": "app.bsky.graph.defs#curatelist",
            "name": "friends",
            "description": "people",
            "descriptionFacets": [FACET],
            "createdAt": NOW,
        },
    ),
    "app.bsky.graph.listblock": (
        TID,
        {"$type": "app.bsky.graph.listblock", "subject": LIST_URI, "createdAt": NOW},
    ),
    "app.bsky.graph.listitem": (
        TID,
        {"$type": "app.bsky.graph.listitem", "subject": DID, "list": LIST_URI, "createdAt": NOW},
    ),
    "app.bsky.graph.starterpack": (
        TID,
        {
            "$type": "app.bsky.graph.starterpack",
            "name": "starter",
            "list": LIST_URI,
            "feeds": [{"uri": f"at://{DID}/app.bsky.feed.generator/my-feed"}],
            "createdAt": NOW,
        },
    ),
    "app.bsky.graph.verification": (
        TID,
        {
            "$type": "app.bsky.graph.verification",
            "subject": DID,
            "handle": "alice.example.com",
            "displayName": "Alice",
            "createdAt": NOW,
        },
    ),
    "app.bsky.labeler.service": (
        "self",
        {
            "$type": "app.bsky.labeler.service",
            "policies": {
                "labelValues": ["spam", "custom-label"],
                "labelValueDefinitions": [
                    {
                        "identifier": "custom-label",
                        "severity": "inform",
                        "blurs": "none",
                        "locales": [{"lang": "en", "name": "Custom", "description": "a label"}],
                    }
                ],
            },
            "reasonTypes": ["com.atproto.moderation.defs#reasonSpam"],
            "subjectTypes": ["account", "record"],
            "subjectCollections": ["app.bsky.feed.post"],
            "createdAt": NOW,
        },
    ),
    "app.bsky.notification.declaration": (
        "self",
        {"$type": "app.bsky.notification.declaration", "allowSubscriptions": "followers"},
    ),
}


def _set(path: list[str | int], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        target: Any = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        del record[key]

    return change


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    (
        "app.bsky.actor.profile",
        _set(["displayName"], "x" * 65),
        "$.displayName",
        "must be at most 64 graphemes long",
    ),
    (
        "app.bsky.actor.profile",
        _set(["avatar", "mimeType"], "text/plain"),
        "$.avatar",
        "blob type 'text/plain' is not accepted (image/png, image/jpeg)",
    ),
    ("app.bsky.actor.status", _drop("status"), "$", "required field 'status' is missing"),
    (
        "app.bsky.actor.contentVisibilityDeclaration",
        _set(["hideFromAlgorithmicRecommendations"], "yes"),
        "$.hideFromAlgorithmicRecommendations",
        "expected a boolean",
    ),
    ("app.bsky.feed.generator", _set(["did"], "not-a-did"), "$.did", "must be a valid did"),
    ("app.bsky.feed.like", _set(["subject", "cid"], 5), "$.subject.cid", "expected a string"),
    (
        "app.bsky.feed.post",
        _set(["text"], "é" * 301),
        "$.text",
        "must be at most 300 graphemes long",
    ),
    (
        "app.bsky.feed.post",
        _set(["facets", 1, "index", "byteStart"], -1),
        "$.facets[1].index.byteStart",
        "must be at least 0",
    ),
    (
        "app.bsky.feed.post",
        _set(["langs"], ["en", "fr", "de", "es"]),
        "$.langs",
        "must have at most 3 items",
    ),
    (
        "app.bsky.feed.post",
        _set(["createdAt"], "yesterday"),
        "$.createdAt",
        "must be a valid datetime",
    ),
    (
        "app.bsky.feed.postgate",
        _set(["embeddingRules", 0], {}),
        "$.embeddingRules[0]",
        "a union variant needs a $type",
    ),
    ("app.bsky.feed.repost", _drop("subject"), "$", "required field 'subject' is missing"),
    (
        "app.bsky.feed.threadgate",
        _set(["allow", 1, "list"], "https://example.com"),
        "$.allow[1].list",
        "must be a valid at-uri",
    ),
    (
        "app.bsky.graph.block",
        _set(["subject"], "alice.example.com"),
        "$.subject",
        "must be a valid did",
    ),
    ("app.bsky.graph.follow", _set(["createdAt"], None), "$.createdAt", "expected a string"),
    ("app.bsky.graph.list", _set(["name"], ""), "$.name", "must be at least 1 bytes long"),
    ("app.bsky.graph.listblock", _set(["subject"], 7), "$.subject", "expected a string"),
    ("app.bsky.graph.listitem", _drop("list"), "$", "required field 'list' is missing"),
    (
        "app.bsky.graph.starterpack",
        _set(["feeds", 0], {}),
        "$.feeds[0]",
        "required field 'uri' is missing",
    ),
    (
        "app.bsky.graph.verification",
        _set(["handle"], "-bad-.com"),
        "$.handle",
        "must be a valid handle",
    ),
    (
        "app.bsky.labeler.service",
        _set(["policies", "labelValueDefinitions", 0, "locales", 0, "lang"], "?"),
        "$.policies.labelValueDefinitions[0].locales[0].lang",
        "must be a valid language",
    ),
    (
        "app.bsky.notification.declaration",
        _set(["allowSubscriptions"], 3),
        "$.allowSubscriptions",
        "expected a string",
    ),
]


def broken(collection: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A deep copy of the sample record of ``collection`` with ``change`` applied."""
    record = copy.deepcopy(RECORDS[collection][1])
    change(record)
    return record


def bsky_catalog() -> Catalog:
    """Every com.atproto and app.bsky lexicon from the shared folder (skips when absent)."""
    return shared_catalog()


@functools.cache
def interop_catalog() -> Catalog:
    """The interop catalog (example.lexicon.*) plus the shared sets it refers to."""
    return Catalog.load(
        [require_shared("interop", "lexicon", "catalog"), require_shared("lexicons")]
    )
