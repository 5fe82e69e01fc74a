"""The identifier types as values: their parts, normalization, string behaviour, and the
helpers beside parsing (TID generation, datetime conversion, AT-URI building, CID decoding).
"""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from strato import CID, _core, syntax
from strato.errors import CIDError, IdentifierError
from strato.syntax.atid import did_problem
from strato.syntax.language import language_problem

# -- string behaviour -------------------------------------------------------------------------


def test_identifiers_are_strings() -> None:
    did = syntax.DID("did:plc:7iza6de2dwap2sbkpav7c6c6")
    assert isinstance(did, str)
    assert did == "did:plc:7iza6de2dwap2sbkpav7c6c6"
    assert hash(did) == hash("did:plc:7iza6de2dwap2sbkpav7c6c6")
    assert {"did:plc:7iza6de2dwap2sbkpav7c6c6": 1}[did] == 1
    assert repr(did) == "DID('did:plc:7iza6de2dwap2sbkpav7c6c6')"
    assert syntax.DID(did) is did  # parsing a parsed value is free
    assert not hasattr(did, "__dict__")


@pytest.mark.parametrize(
    "value",
    [
        syntax.DID("did:web:example.com"),
        syntax.Handle("Alice.Test"),
        syntax.NSID("app.bsky.feed.post"),
        syntax.ATURI("at://did:plc:a/app.bsky.feed.post/3jzfcijpj2z2a"),
        syntax.ATURI("at://did:plc:a/app.bsky.feed.post/x#/embed", allow_fragment=True),
        syntax.TID("3jzfcijpj2z2a"),
        syntax.RecordKey("self"),
        syntax.Datetime("1985-04-12T23:20:50.123Z"),
        syntax.Language("en-GB"),
        syntax.URI("https://example.com"),
        syntax.CIDString("bafyreie5gq4jxvzmsym6hjlwxej4rwdoxt7wadqvmmwbqi7r27fclha2va"),
    ],
)
def test_pickle_and_copy_keep_the_type(value: str) -> None:
    for clone in (pickle.loads(pickle.dumps(value)), copy.copy(value), copy.deepcopy(value)):
        assert type(clone) is type(value)
        assert clone == value


# -- DID, handle, at-identifier ---------------------------------------------------------------


def test_did_parts() -> None:
    did = syntax.DID("did:web:localhost%3A1234")
    assert (did.method, did.identifier) == ("web", "localhost%3A1234")
    assert syntax.DID("did:method::::val").identifier == ":::val"
    assert did.is_did
    assert not did.is_handle


def test_handle_is_lowercase() -> None:
    handle = syntax.Handle("XX.LCS.MIT.EDU")
    assert handle == "xx.lcs.mit.edu"
    assert handle.labels == ("xx", "lcs", "mit", "edu")
    assert handle.tld == "edu"
    assert handle.is_handle
    assert not handle.is_did
    assert syntax.HANDLE_INVALID.is_invalid_marker
    assert not handle.is_invalid_marker


def test_at_identifier_returns_did_or_handle() -> None:
    did = syntax.AtIdentifier("did:plc:abc")
    handle = syntax.AtIdentifier("John.Test")
    assert type(did) is syntax.DID
    assert type(handle) is syntax.Handle
    assert handle == "john.test"
    assert isinstance(did, syntax.AtIdentifier)
    assert isinstance(handle, syntax.AtIdentifier)
    assert syntax.AtIdentifier(handle) is handle


# -- NSID -------------------------------------------------------------------------------------


def test_nsid_parts() -> None:
    nsid = syntax.NSID("App.Bsky.Feed.fooBar")
    assert nsid.authority == "App.Bsky.Feed"
    assert nsid.authority_domain == "feed.bsky.app"
    assert nsid.name == "fooBar"
    assert nsid.segments == ("App", "Bsky", "Feed", "fooBar")
    assert nsid.normalize() == "app.bsky.feed.fooBar"
    assert type(nsid.normalize()) is syntax.NSID
    assert syntax.NSID("app.toy.record").authority_domain == "toy.app"


# -- TID --------------------------------------------------------------------------------------


def test_tid_parts() -> None:
    tid = syntax.TID("3jzfcijpj2z2a")
    assert tid.micros == 1688137381887007
    assert tid.clock_id == 6
    assert tid.value == (tid.micros << 10) | tid.clock_id
    assert tid.timestamp == datetime(2023, 6, 30, 15, 3, 1, 887007, tzinfo=UTC)
    assert syntax.TID("2222222222222").micros == 0


def test_tid_from_parts_round_trips() -> None:
    tid = syntax.TID.from_parts(1688137381887007, 6)
    assert tid == "3jzfcijpj2z2a"
    assert type(tid) is syntax.TID
    with pytest.raises(ValueError, match="TID timestamp must fit 53 bits"):
        syntax.TID.from_parts(2**53, 0)
    with pytest.raises(ValueError, match="TID timestamp must fit 53 bits"):
        syntax.TID.from_parts(0, 1024)


def test_tid_next_increases_and_passes_after() -> None:
    first = syntax.TID.next()
    second = syntax.TID.next()
    assert type(first) is syntax.TID
    assert second > first
    later = syntax.TID.from_parts(second.micros + 10, 0)
    assert syntax.TID.next(later) > later
    with pytest.raises(IdentifierError):
        syntax.TID.next("not-a-tid")


# -- AT-URI -----------------------------------------------------------------------------------


def test_aturi_parts() -> None:
    uri = syntax.ATURI("at://did:plc:asdf123/app.bsky.feed.post/3jzfcijpj2z2a")
    assert uri.authority == "did:plc:asdf123"
    assert type(uri.authority) is syntax.DID
    assert type(uri.collection) is syntax.NSID
    assert uri.collection == "app.bsky.feed.post"
    assert type(uri.rkey) is syntax.RecordKey
    assert uri.rkey == "3jzfcijpj2z2a"
    assert uri.path == "app.bsky.feed.post/3jzfcijpj2z2a"
    assert uri.fragment is None
    bare = syntax.ATURI("at://Alice.Test")
    assert bare.authority == "alice.test"
    assert type(bare.authority) is syntax.Handle
    assert (bare.collection, bare.rkey, bare.path) == (None, None, "")
    collection_only = syntax.ATURI("at://alice.test/app.bsky.feed.post")
    assert (collection_only.collection, collection_only.rkey) == ("app.bsky.feed.post", None)


def test_aturi_fragments_only_when_allowed() -> None:
    text = "at://did:plc:asdf123/app.bsky.feed.post/abc#/embed/images/0"
    with pytest.raises(IdentifierError):
        syntax.ATURI(text)
    uri = syntax.ATURI(text, allow_fragment=True)
    assert uri.fragment == "/embed/images/0"
    assert uri.rkey == "abc"
    assert syntax.ATURI("at://did:plc:a#/x", allow_fragment=True).path == ""
    assert syntax.ATURI(uri, allow_fragment=True) is uri
    with pytest.raises(IdentifierError) as strict:
        syntax.ATURI(uri)  # a parsed URI with a fragment is still not lexicon form
    assert strict.value.reason == "AT-URI must not have a fragment ('#') in lexicon form"
    plain = syntax.ATURI("at://did:plc:a")
    assert syntax.ATURI(plain) is plain
    assert syntax.ATURI(plain, allow_fragment=True) is plain
    bad = {
        "at://did:plc:a#": "AT-URI fragment must be a JSON path starting with '/'",
        "at://did:plc:a#frag": "AT-URI fragment must be a JSON path starting with '/'",
        "at://did:plc:a#/a b": "AT-URI fragment has a disallowed character ' '",
        "at://did:plc:a#/asdf#/asdf": "AT-URI fragment has a disallowed character '#'",
        "at://did:plc:a/app.bsky.feed.post/#/frag": "AT-URI has an empty path segment "
        "(a trailing or double slash)",
    }
    for text, reason in bad.items():
        with pytest.raises(IdentifierError) as info:
            syntax.ATURI(text, allow_fragment=True)
        assert info.value.reason == reason, text


def test_aturi_from_parts() -> None:
    uri = syntax.ATURI.from_parts("did:plc:a", "app.bsky.feed.post", "self")
    assert uri == "at://did:plc:a/app.bsky.feed.post/self"
    assert syntax.ATURI.from_parts("alice.test") == "at://alice.test"
    with pytest.raises(ValueError, match="needs a collection"):
        syntax.ATURI.from_parts("did:plc:a", None, "self")
    with pytest.raises(IdentifierError):
        syntax.ATURI.from_parts("did:plc:a", "not-an-nsid", "self")


# -- datetime ---------------------------------------------------------------------------------


def test_datetime_values() -> None:
    value = syntax.Datetime("1985-04-12T23:20:50.123456789+01:45")
    assert value.fraction == "123456789"
    assert value.utc_offset == timedelta(hours=1, minutes=45)
    expected = datetime(1985, 4, 12, 23, 20, 50, 123456, tzinfo=timezone(timedelta(minutes=105)))
    assert value.datetime == expected
    assert value.epoch_micros == int(expected.timestamp()) * 1_000_000 + 123456
    plain = syntax.Datetime("1985-04-12T23:20:50Z")
    assert plain.fraction == ""
    assert plain.datetime == datetime(1985, 4, 12, 23, 20, 50, tzinfo=UTC)


def test_datetime_year_zero() -> None:
    value = syntax.Datetime("0000-01-01T00:00:00.000Z")
    assert value.epoch_micros == -62167219200 * 1_000_000
    with pytest.raises(ValueError, match="year 0"):
        _ = value.datetime
    assert syntax.Datetime("0000-01-01T01:00:00+01:00").epoch_micros == value.epoch_micros
    assert syntax.Datetime("0000-02-29T00:00:00Z")  # year 0 is a leap year


def test_datetime_from_datetime_is_the_preferred_form() -> None:
    aware = datetime(1985, 4, 12, 23, 20, 50, 123000, tzinfo=timezone(timedelta(hours=-7)))
    assert syntax.Datetime.from_datetime(aware) == "1985-04-13T06:20:50.123Z"
    micro = datetime(985, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert syntax.Datetime.from_datetime(micro) == "0985-01-02T03:04:05.000006Z"
    with pytest.raises(ValueError, match="naive"):
        syntax.Datetime.from_datetime(datetime(2020, 1, 1))
    now = syntax.Datetime.now()
    assert type(now) is syntax.Datetime
    assert now.endswith("Z")


# -- language ---------------------------------------------------------------------------------


def test_language_parts() -> None:
    tag = syntax.Language("hy-Latn-IT-arevela")
    assert (tag.language, tag.script, tag.region, tag.variants) == (
        "hy",
        "Latn",
        "IT",
        ("arevela",),
    )
    full = syntax.Language("zh-cmn-yue-Hans-CN-1901-u-co-phonebk-t-en-US-x-priv-ate")
    assert full.extlang == ("cmn", "yue")
    assert full.variants == ("1901",)
    assert full.extensions == (("u", ("co", "phonebk")), ("t", ("en", "US")))
    assert full.privateuse == ("priv", "ate")
    assert not full.is_grandfathered


def test_language_grandfathered_and_private_use() -> None:
    for text in ("i-default", "zh-min-nan", "en-GB-oed", "sgn-BE-NL"):
        tag = syntax.Language(text)
        assert tag.is_grandfathered
        assert tag.parts == syntax.LanguageParts(grandfathered=text)
    private = syntax.Language("X-fr-CH")
    assert private.privateuse == ("fr", "CH")
    assert private.language == ""
    with pytest.raises(IdentifierError):
        syntax.Language("I-DEFAULT")  # the first subtag is lowercase in atproto


def test_language_syntax_and_validity_levels() -> None:
    # duplicates are well-formed but not valid
    assert syntax.is_language_syntax("en-rozaj-ROZAJ")
    assert not syntax.is_language("en-rozaj-ROZAJ")
    assert syntax.parse_language("en-a-foo-a-bar") == syntax.LanguageParts(
        language="en", extensions=(("a", ("foo",)), ("a", ("bar",)))
    )
    # the commented-out line of language_syntax_invalid.txt
    assert not syntax.is_language_syntax("de-419-DE")


# -- record key, URI, CID string --------------------------------------------------------------


def test_commented_out_fixture_cases() -> None:
    # lines that the fixture files write after '#', so the list readers skip them
    assert not syntax.is_record_key("#extra")
    assert not syntax.is_at_uri("#at://did:plc:asdf123")


def test_uri_scheme() -> None:
    assert syntax.URI("HTTPS://example.com").scheme == "https"
    assert syntax.URI("microsoft.windows.camera:thing").scheme == "microsoft.windows.camera"


def test_cid_string_decodes_with_strato_cid() -> None:
    text = "bafyreie5gq4jxvzmsym6hjlwxej4rwdoxt7wadqvmmwbqi7r27fclha2va"
    value = syntax.CIDString(text)
    assert value.base == "base32"
    assert value.cid == CID.decode(text)
    assert syntax.CIDString(value.cid.encode("base58btc")).base == "base58btc"
    contrived = syntax.CIDString("mBcDxtdWx0aWhhc2g+")  # syntax-valid, not a real CID
    assert contrived.base == "base64"
    with pytest.raises(CIDError):
        _ = contrived.cid


# -- the native constructor -------------------------------------------------------------------


def test_identifier_parser_guards() -> None:
    with pytest.raises(ValueError, match='no native check for format "language"'):
        _core.IdentifierParser("language", language_problem)
    parser = _core.IdentifierParser("did", did_problem)

    class Plain(str):
        __slots__ = ()

    made = parser(Plain, "did:plc:abc")
    assert type(made) is Plain
    assert made == "did:plc:abc"
    not_str: Any = int
    with pytest.raises(TypeError, match="str subclasses only"):
        parser(not_str, "did:plc:abc")
    silent = _core.IdentifierParser("did", lambda text: None)
    with pytest.raises(IdentifierError) as info:
        silent(Plain, "not a did")
    assert info.value.reason == "not valid"


@pytest.mark.parametrize(
    ("cls", "name", "text"),
    [
        (syntax.DID, "did", "did:plc:\ud800"),
        (syntax.Handle, "handle", "a\ud800.test"),
        (syntax.NSID, "nsid", "app.bsky.\ud800"),
        (syntax.RecordKey, "record-key", "\ud800"),
        (syntax.TID, "tid", "3jzfcijpj2z2\ud800"),
        (syntax.Datetime, "datetime", "1985-04-12T23:20:50\ud800Z"),
        (syntax.ATURI, "at-uri", "at://did:plc:a/\ud800"),
    ],
)
def test_lone_surrogates_are_invalid(cls: type[str], name: str, text: str) -> None:
    assert not syntax.FORMAT_CHECKS[name](text)
    with pytest.raises(IdentifierError):
        cls(text)
