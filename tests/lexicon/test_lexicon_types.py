"""The typed structs against their lexicons: field names, required fields, types and limits
match the shared lexicon defs (drift), and for valid data and for one violation of every rule
the lexicon states, the struct and the generic engine give the same verdict, path and reason.
The catalog uses the structs as its fast path only while the fingerprints match."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from conftest import require_shared
from lexicon_samples import (
    BLOB_CID,
    BROKEN,
    DID,
    NOW,
    POST_URI,
    POSTS,
    RECORD_CID,
    RECORDS,
    TID,
    broken,
    bsky_catalog,
)
from strato import CID
from strato.car import read_car
from strato.dagcbor import decode, encode, from_json
from strato.errors import LexiconValidationError
from strato.lexicon import Catalog
from strato.lexicon.codegen import normalize_ref
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
from strato.repo import mst

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


def _def(ref: str) -> tuple[str, dict[str, Any]]:
    nsid, _, name = ref.partition("#")
    doc = generic().get(nsid)
    assert doc is not None, ref
    definition = doc.defs[name or "main"]
    if definition["type"] == "record":
        definition = definition["record"]
    return nsid, definition


# ---------------------------------------------------------------------------------------------
# Drift: the struct's fields, required set, types and limits against the lexicon def


def _compare(info: Any, prop: dict[str, Any], nsid: str, where: str) -> None:
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
    elif kind in ("blob", "union", "unknown"):
        assert isinstance(info, mi.AnyType), f"{where}: resolved in __post_init__"
    elif kind == "array":
        assert isinstance(info, mi.ListType), where
        assert (info.min_length, info.max_length) == (prop.get("minLength"), prop.get("maxLength"))
        _compare(info.item_type, prop["items"], nsid, where + "[]")
    elif kind == "ref":
        target = normalize_ref(prop["ref"], nsid)
        if isinstance(info, mi.AnyType):  # a plain ref resolved in __post_init__
            return
        assert isinstance(info, mi.StructType), where
        assert STRUCTS[info.cls] == target, where  # type: ignore[index]
    else:
        pytest.fail(f"{where}: unexpected lexicon type {kind}")


@pytest.mark.parametrize("cls", list(STRUCTS), ids=lambda c: c.__name__)
def test_struct_matches_its_lexicon(cls: type[LexObject]) -> None:
    nsid, definition = _def(STRUCTS[cls])
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = {field.encode_name: field for field in info.fields}
    properties = definition["properties"]
    assert set(fields) == set(properties)
    assert {n for n, f in fields.items() if f.required} == set(definition.get("required", ()))
    nullable = set(definition.get("nullable", ()))
    for name, field in fields.items():
        kind = field.type
        if isinstance(kind, mi.UnionType):
            members = [t for t in kind.types if not isinstance(t, mi.NoneType)]
            assert len(members) == 1, name
            assert name in nullable, f"{name} accepts null but is not nullable"
            kind = members[0]
        else:
            assert name not in nullable or isinstance(kind, mi.AnyType), name
        _compare(kind, properties[name], nsid, f"{cls.__name__}.{name}")


def test_every_struct_def_is_covered() -> None:
    for cls in STRUCTS:
        for field in mi.type_info(cls).fields:  # type: ignore[attr-defined]
            kind = field.type
            while isinstance(kind, mi.ListType | mi.UnionType):
                kind = kind.item_type if isinstance(kind, mi.ListType) else kind.types[0]
            if isinstance(kind, mi.StructType):
                assert kind.cls in STRUCTS, kind.cls


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
    nsid, definition = _def(ref)
    assert depth < 8, ref
    return {name: sample(p, nsid, depth) for name, p in definition["properties"].items()}


def _path(parent: str, name: str) -> str:
    return f"{parent}.{name}"


def violations(ref: str, value: dict[str, Any], path: str = "$") -> Iterator[tuple[str, Any]]:
    """``(description, broken copy)`` for every rule of the def that ``value`` can break,
    recursing into nested objects and union variants."""
    nsid, definition = _def(ref)
    for name, prop in definition["properties"].items():
        where = _path(path, name)
        for label, bad in _field_violations(prop, nsid, value.get(name)):
            yield f"{where}: {label}", _replace(value, name, bad)
        if name in definition.get("required", ()):
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
        target = normalize_ref(items["ref"] if items["type"] == "ref" else items["refs"][0], nsid)
        for label, bad in violations(target, current[0], f"{where}[0]"):
            yield label, _replace(value, name, [bad])


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
