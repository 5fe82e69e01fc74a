"""The typed structs against their lexicons: field names, required fields, types and limits
match the shared lexicon defs (drift), and for valid data and for one violation of every rule
the lexicon states, the struct and the generic engine give the same verdict, path and reason.
The catalog uses the structs as its fast path only while the fingerprints match."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
from conftest import require_shared
from lexicon_drift import (
    DID,
    NOW,
    POST_URI,
    RECORD_CID,
    TID,
    check_struct,
    nested_structs,
    sample_object,
    violations,
)
from lexicon_samples import BROKEN, POSTS, RECORDS, broken, bsky_catalog
from strato import CID
from strato.car import read_car
from strato.dagcbor import decode, encode, from_json
from strato.errors import LexiconValidationError
from strato.lexicon import Catalog
from strato.lexicon.fingerprint import def_fingerprint
from strato.lexicon.types import (
    MESSAGES,
    TYPED_RECORDS,
    Account,
    AspectRatio,
    Block,
    ByteSlice,
    Caption,
    Commit,
    Entity,
    External,
    ExternalLink,
    Facet,
    Follow,
    Gallery,
    GalleryImage,
    Identity,
    Image,
    Images,
    Info,
    LexObject,
    Like,
    Link,
    Mention,
    Post,
    Profile,
    Record,
    RecordWithMedia,
    ReplyRef,
    RepoOp,
    Repost,
    SelfLabel,
    SelfLabels,
    StrongRef,
    Sync,
    Tag,
    TextSlice,
    Video,
    decode_message,
    decode_record,
)
from strato.lexicon.types._base import convert
from strato.pds.records import validate
from strato.repo import mst
from strato.xrpc import XrpcError

STRUCTS: dict[type[LexObject], str] = {
    Profile: "app.bsky.actor.profile",
    Post: "app.bsky.feed.post",
    ReplyRef: "app.bsky.feed.post#replyRef",
    Entity: "app.bsky.feed.post#entity",
    TextSlice: "app.bsky.feed.post#textSlice",
    Like: "app.bsky.feed.like",
    Repost: "app.bsky.feed.repost",
    Follow: "app.bsky.graph.follow",
    Block: "app.bsky.graph.block",
    Facet: "app.bsky.richtext.facet",
    ByteSlice: "app.bsky.richtext.facet#byteSlice",
    Mention: "app.bsky.richtext.facet#mention",
    Link: "app.bsky.richtext.facet#link",
    Tag: "app.bsky.richtext.facet#tag",
    Images: "app.bsky.embed.images",
    Image: "app.bsky.embed.images#image",
    Video: "app.bsky.embed.video",
    Caption: "app.bsky.embed.video#caption",
    Gallery: "app.bsky.embed.gallery",
    GalleryImage: "app.bsky.embed.gallery#image",
    External: "app.bsky.embed.external",
    ExternalLink: "app.bsky.embed.external#external",
    Record: "app.bsky.embed.record",
    RecordWithMedia: "app.bsky.embed.recordWithMedia",
    AspectRatio: "app.bsky.embed.defs#aspectRatio",
    StrongRef: "com.atproto.repo.strongRef",
    SelfLabels: "com.atproto.label.defs#selfLabels",
    SelfLabel: "com.atproto.label.defs#selfLabel",
    Commit: "com.atproto.sync.subscribeRepos#commit",
    RepoOp: "com.atproto.sync.subscribeRepos#repoOp",
    Sync: "com.atproto.sync.subscribeRepos#sync",
    Identity: "com.atproto.sync.subscribeRepos#identity",
    Account: "com.atproto.sync.subscribeRepos#account",
    Info: "com.atproto.sync.subscribeRepos#info",
}
BY_REF = {ref: cls for cls, ref in STRUCTS.items()}


def generic() -> Catalog:
    """The shared lexicons, compiled (the generic engine)."""
    return bsky_catalog()


# ---------------------------------------------------------------------------------------------
# Drift: the struct's fields, required set, types and limits against the lexicon def


@pytest.mark.parametrize("cls", list(STRUCTS), ids=lambda c: c.__name__)
def test_struct_matches_its_lexicon(cls: type[LexObject]) -> None:
    check_struct(cls, STRUCTS[cls], STRUCTS)


def test_every_struct_def_is_covered() -> None:
    for cls in nested_structs(STRUCTS):
        assert cls in STRUCTS, cls


@pytest.mark.parametrize("collection", sorted(TYPED_RECORDS))
def test_fingerprints_match_the_shared_lexicons(collection: str) -> None:
    catalog = generic()
    docs = {doc.id: doc for doc in catalog}
    assert def_fingerprint(docs, collection) == TYPED_RECORDS[collection].fingerprint, (
        f"the {collection} lexicon (or a def it refers to) changed: update its struct in "
        "strato.lexicon.types and the fingerprint in TYPED_RECORDS"
    )


# ---------------------------------------------------------------------------------------------
# Agreement: generated valid data and one violation per lexicon rule


def _verdict(check: Any) -> tuple[str, str] | None:
    try:
        check()
    except LexiconValidationError as err:
        return (err.path, err.reason)
    return None


def _agreement_cases() -> list[Any]:
    cases = []
    for cls, ref in STRUCTS.items():
        if not require_shared("lexicons").exists():
            break
        base = sample_object(ref)
        cases.append(pytest.param(cls, ref, base, id=f"{cls.__name__}: valid"))
        cases += [
            pytest.param(cls, ref, bad, id=f"{cls.__name__} {label}")
            for label, bad in violations(ref, base)
        ]
    return cases


@pytest.mark.parametrize(("cls", "ref", "data"), _agreement_cases())
def test_struct_and_generic_engine_agree(cls: type[LexObject], ref: str, data: Any) -> None:
    typed = _verdict(lambda: convert(copy.deepcopy(data), cls))
    lexicon = _verdict(lambda: generic().validate(ref, data))
    assert typed == lexicon


# ---------------------------------------------------------------------------------------------
# The catalog's fast path


RKEYS = ["self", "other", TID, "app.bsky.feed.post", "3jzfcijpj2z2a-", "a" * 513, ""]


def _pds_verdict(catalog: Catalog, collection: str, rkey: str) -> tuple[str, ...] | str | None:
    try:
        return validate(catalog, collection, rkey, RECORDS[collection][1], None)
    except XrpcError as err:
        return (err.error, err.message or "")


@pytest.mark.parametrize("collection", sorted(TYPED_RECORDS))
def test_typed_records_enforce_the_record_key_as_the_catalog_does(collection: str) -> None:
    """Without a lexicon folder the PDS judges a record by its typed struct; the record key
    type is the lexicon's, and every key gets the verdict the loaded lexicon gives."""
    lexicons = generic()
    doc = lexicons.get(collection)
    assert doc is not None
    main = doc.main
    assert main is not None
    assert TYPED_RECORDS[collection].key == main["key"]
    for rkey in RKEYS:
        typed, loaded = (
            _pds_verdict(Catalog(), collection, rkey),
            _pds_verdict(lexicons, collection, rkey),
        )
        assert typed == loaded, rkey
    assert _pds_verdict(Catalog(), collection, RECORDS[collection][0]) == "valid"


def test_a_profile_is_only_at_self() -> None:
    profile = RECORDS["app.bsky.actor.profile"][1]
    assert validate(Catalog(), "app.bsky.actor.profile", "self", profile, None) == "valid"
    with pytest.raises(XrpcError) as caught:
        validate(Catalog(), "app.bsky.actor.profile", "other", profile, None)
    assert caught.value.message == (
        "Invalid app.bsky.actor.profile record: rkey: record key 'other' is not a valid "
        "literal:self"
    )


def test_catalog_knows_the_typed_structs() -> None:
    catalog = generic()
    for collection, typed in TYPED_RECORDS.items():
        assert catalog.typed_struct(collection) is typed.struct
    assert catalog.typed_struct("app.bsky.graph.list") is None
    assert Catalog().typed_struct("app.bsky.feed.post") is None
    with pytest.raises(LookupError, match=r"no typed struct for app\.bsky\.graph\.list"):
        catalog.decode_record("app.bsky.graph.list", TID, RECORDS["app.bsky.graph.list"][1])


def test_changed_lexicon_has_no_typed_struct() -> None:
    catalog = Catalog.load([require_shared("lexicons")])
    post = catalog.get("app.bsky.feed.post")
    assert post is not None
    assert catalog.typed_struct("app.bsky.feed.post") is Post
    changed = copy.deepcopy(post.doc)
    changed["defs"]["main"]["record"]["properties"]["text"]["maxGraphemes"] = 5
    catalog.add(changed)
    assert catalog.typed_struct("app.bsky.feed.post") is None
    with pytest.raises(LookupError):
        catalog.decode_record("app.bsky.feed.post", TID, POSTS[0])
    with pytest.raises(LexiconValidationError, match="at most 5 graphemes"):
        catalog.validate_record("app.bsky.feed.post", TID, POSTS[0])


def _typed_samples() -> list[Any]:
    cases: list[Any] = []
    for collection in TYPED_RECORDS:
        rkey, record = RECORDS[collection]
        cases.append(pytest.param(collection, rkey, record, id=f"{collection} sample"))
    cases += [
        pytest.param("app.bsky.feed.post", TID, p, id=f"post {i}") for i, p in enumerate(POSTS)
    ]
    cases += [
        pytest.param(c, RECORDS[c][0], broken(c, change), id=f"{c} broken {path}")
        for c, change, path, _ in BROKEN
        if c in TYPED_RECORDS
    ]
    return cases


@pytest.mark.parametrize(("collection", "rkey", "record"), _typed_samples())
def test_typed_and_generic_verdicts_agree_on_samples(
    collection: str, rkey: str, record: dict[str, Any]
) -> None:
    catalog = generic()
    for data in (record, from_json(record)):
        typed = _verdict(lambda d=data: catalog.decode_record(collection, rkey, d))
        lexicon = _verdict(lambda d=data: catalog.validate_record(collection, rkey, d))
        assert typed == lexicon
    bad_key = _verdict(lambda: catalog.decode_record(collection, "..", record))
    assert bad_key == _verdict(lambda: catalog.validate_record(collection, "..", record))
    assert bad_key == ("rkey", "invalid record key '..'")


def test_real_records_decode_to_structs() -> None:
    path = require_shared("testdata", "indigo", "testing", "testdata", "paul_staging.repo.car")
    roots, blocks = read_car(path.read_bytes())
    commit = decode(blocks[roots[0]])
    seen: dict[str, int] = {}
    for key, cid in mst.items(blocks, commit["data"]):
        collection, _ = key.split("/")
        if collection in TYPED_RECORDS:
            struct = decode_record(collection, blocks[cid])
            assert isinstance(struct, TYPED_RECORDS[collection].struct)
            seen[collection] = seen.get(collection, 0) + 1
    assert set(seen) == {
        "app.bsky.feed.post",
        "app.bsky.feed.like",
        "app.bsky.feed.repost",
        "app.bsky.graph.follow",
        "app.bsky.actor.profile",
    }


def test_decoded_struct_values() -> None:
    post = decode_record("app.bsky.feed.post", encode(from_json(POSTS[3])))
    assert isinstance(post, Post)
    assert isinstance(post.reply, ReplyRef)
    assert post.reply.parent.uri == POST_URI
    assert isinstance(post.embed, RecordWithMedia)
    assert isinstance(post.embed.media, Video)
    video = post.embed.media.video
    assert not isinstance(video, dict)
    assert isinstance(video.mime_type, str)
    facets = decode_record("app.bsky.feed.post", POSTS[1])
    assert isinstance(facets, Post)
    assert facets.facets is not msgspec.UNSET
    assert [type(f.features[0]) for f in facets.facets] == [Link, Mention, Tag]
    embed = {"$type": "com.example.embed", "x": 1}
    unknown = decode_record("app.bsky.feed.post", {**POSTS[0], "embed": embed})
    assert isinstance(unknown, Post)
    assert unknown.embed == embed


def test_decode_record_checks_type() -> None:
    with pytest.raises(LexiconValidationError) as info:
        decode_record("app.bsky.feed.like", POSTS[0])
    assert (info.value.path, info.value.reason) == (
        "$.$type",
        "a record needs $type 'app.bsky.feed.like'",
    )


def test_struct_encodes_back_to_the_record() -> None:
    like = decode_record("app.bsky.feed.like", RECORDS["app.bsky.feed.like"][1])
    assert msgspec.to_builtins(like) == RECORDS["app.bsky.feed.like"][1]


def test_subscribe_repos_messages() -> None:
    body = {
        "seq": 7,
        "rebase": False,
        "tooBig": False,
        "repo": DID,
        "commit": CID.decode(RECORD_CID),
        "rev": TID,
        "since": None,
        "blocks": b"\x00",
        "ops": [{"action": "delete", "path": f"app.bsky.feed.post/{TID}", "cid": None}],
        "blobs": [],
        "time": NOW,
    }
    commit = decode_message("#commit", encode(body))
    assert isinstance(commit, Commit)
    assert commit.ops[0].cid is None
    assert commit.since is None
    with pytest.raises(LexiconValidationError) as info:
        decode_message("#commit", {**body, "ops": [{"action": "create", "path": "x"}]})
    assert (info.value.path, info.value.reason) == ("$.ops[0]", "required field 'cid' is missing")
    account = decode_message("#account", {"seq": 1, "did": DID, "time": NOW, "active": False})
    assert isinstance(account, Account)
    assert set(MESSAGES) == {"#commit", "#sync", "#identity", "#account", "#info"}
    with pytest.raises(LexiconValidationError, match="unknown subscribeRepos message type"):
        decode_message("#nope", {})
