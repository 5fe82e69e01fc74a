"""Bad identifiers get ``IdentifierError`` (a ``ValueError``) with the specific reason.

One case per rule of each format, so that a reason cannot silently change or merge with
another; plus the type errors for non-strings.
"""

from __future__ import annotations

import pytest
from strato import syntax
from strato.errors import IdentifierError

CASES: list[tuple[type[str], str, str]] = [
    # DID
    (syntax.DID, "did", 'DID must start with "did:" (lowercase)'),
    (syntax.DID, "DID:plc:abc", 'DID must start with "did:" (lowercase)'),
    (syntax.DID, "did:plc", 'DID must have a method and an identifier ("did:method:identifier")'),
    (syntax.DID, "did:PLC:abc", "DID method must be one or more lowercase letters a-z"),
    (syntax.DID, "did:m1:abc", "DID method must be one or more lowercase letters a-z"),
    (syntax.DID, "did::abc", "DID method must be one or more lowercase letters a-z"),
    (syntax.DID, "did:plc:", "DID identifier part is empty"),
    (syntax.DID, "did:plc:a/b", "DID identifier has a disallowed character '/'"),
    (syntax.DID, "did:plc:a#b", "DID identifier has a disallowed character '#'"),
    (syntax.DID, "did:plc:é", "DID identifier has a disallowed character 'é'"),
    (syntax.DID, "did:plc:abc:", "DID must not end with ':' or '%'"),
    (syntax.DID, "did:plc:abc%", "DID must not end with ':' or '%'"),
    (syntax.DID, "did:plc:" + "a" * 2041, "DID is longer than 2048 characters"),
    # Handle
    (syntax.Handle, "", "handle is empty"),
    (syntax.Handle, "john", "handle must have at least two labels (a domain name with a TLD)"),
    (syntax.Handle, "john..test", "handle has an empty label (a leading, trailing or double dot)"),
    (syntax.Handle, "john.test.", "handle has an empty label (a leading, trailing or double dot)"),
    (
        syntax.Handle,
        "jo_hn.test",
        "handle has a disallowed character '_' (ASCII letters, digits, '-')",
    ),
    (
        syntax.Handle,
        " john.test",
        "handle has a disallowed character ' ' (ASCII letters, digits, '-')",
    ),
    (syntax.Handle, "john-.test", "handle label must not start or end with a hyphen"),
    (syntax.Handle, "a." + "b" * 64 + ".test", "handle label is longer than 63 characters"),
    (syntax.Handle, "john.0test", "handle TLD must not start with a digit"),
    (syntax.Handle, ("a" * 62 + ".") * 4 + "test", "handle is longer than 253 characters"),
    # NSID
    (syntax.NSID, "", "NSID is empty"),
    (
        syntax.NSID,
        "com.example",
        "NSID must have at least three segments (a domain authority and a name)",
    ),
    (syntax.NSID, "com..example.foo", "NSID has an empty segment (a leading or double dot)"),
    (syntax.NSID, "com.exa_mple.foo", "NSID authority has a disallowed character '_'"),
    (syntax.NSID, "com.example-.foo", "NSID authority segment must not start or end with a hyphen"),
    (syntax.NSID, "com." + "o" * 64 + ".foo", "NSID segment is longer than 63 characters"),
    (syntax.NSID, "1com.example.foo", "NSID first segment must not start with a digit"),
    (syntax.NSID, "com.example.", "NSID name is empty (a trailing dot)"),
    (
        syntax.NSID,
        "com.example.f-o",
        "NSID name has a disallowed character '-' (letters and digits only)",
    ),
    (
        syntax.NSID,
        "com.example.*",
        "NSID name has a disallowed character '*' (letters and digits only)",
    ),
    (syntax.NSID, "com.example." + "o" * 64, "NSID name is longer than 63 characters"),
    (syntax.NSID, "com.example.2foo", "NSID name must not start with a digit"),
    (syntax.NSID, "com." + "a." * 160 + "foo", "NSID is longer than 317 characters"),
    # record key
    (syntax.RecordKey, "", "record key is empty"),
    (syntax.RecordKey, "o" * 513, "record key is longer than 512 characters"),
    (syntax.RecordKey, "a/b", "record key has a disallowed character '/'"),
    (syntax.RecordKey, "%23", "record key has a disallowed character '%'"),
    (syntax.RecordKey, ".", "record key must not be '.' or '..'"),
    (syntax.RecordKey, "..", "record key must not be '.' or '..'"),
    # TID (reasons from the Rust parser)
    (syntax.TID, "3jzfcijpj2z2", "TID must be 13 characters"),
    (syntax.TID, "3JZFCIJPJ2Z2A", "TID character outside the base32-sortable alphabet"),
    (syntax.TID, "kjzfcijpj2z2a", "TID first character must be one of 234567abcdefghij"),
    # AT-URI
    (syntax.ATURI, "http://did:plc:a", 'AT-URI must start with "at://"'),
    (syntax.ATURI, "at://", "AT-URI has no authority"),
    (syntax.ATURI, "at://did:plc:a#/frag", "AT-URI must not have a fragment ('#') in lexicon form"),
    (syntax.ATURI, "at://did:plc:a?x=1", "AT-URI must not have a query ('?')"),
    (syntax.ATURI, "at://me@bsky.social", "AT-URI authority must not have user info ('@')"),
    (
        syntax.ATURI,
        "at://did:plc:",
        "AT-URI authority is not a valid DID: DID identifier part is empty",
    ),
    (
        syntax.ATURI,
        "at://bsky",
        "AT-URI authority is neither a DID nor a handle: handle must have at least two labels "
        "(a domain name with a TLD)",
    ),
    (
        syntax.ATURI,
        "at://did:plc:a/",
        "AT-URI has an empty path segment (a trailing or double slash)",
    ),
    (
        syntax.ATURI,
        "at://did:plc:a//app.bsky.feed.post",
        "AT-URI has an empty path segment (a trailing or double slash)",
    ),
    (
        syntax.ATURI,
        "at://did:plc:a/app.bsky.feed.post/x/y",
        "AT-URI path has more than a collection and a record key",
    ),
    (
        syntax.ATURI,
        "at://did:plc:a/12345",
        "AT-URI collection is not an NSID: NSID must have at least three segments "
        "(a domain authority and a name)",
    ),
    (
        syntax.ATURI,
        "at://did:plc:a/app.bsky.feed.post/..",
        "AT-URI record key is not valid: record key must not be '.' or '..'",
    ),
    (
        syntax.ATURI,
        "at://did:plc:a/app.bsky.feed.post/" + "o" * 8200,
        "AT-URI is longer than 8192 characters",
    ),
    # datetime: syntax, then each parse rule
    (
        syntax.Datetime,
        "1985-04-12T23:20:50.123z",
        "datetime syntax must be YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or +HH:MM "
        "(uppercase T and Z, zero-padded fields, seconds and zone required)",
    ),
    (
        syntax.Datetime,
        "1985-04-12T23:20:50-00:00",
        "datetime zone -00:00 is not allowed (use Z or +00:00)",
    ),
    (
        syntax.Datetime,
        "1985-04-12T23:20:50." + "1" * 50 + "Z",
        "datetime is longer than 64 characters",
    ),
    (syntax.Datetime, "1985-13-12T23:20:50Z", "datetime month must be 01-12"),
    (syntax.Datetime, "1985-00-12T23:20:50Z", "datetime month must be 01-12"),
    (syntax.Datetime, "1985-04-31T23:20:50Z", "datetime day must be 01-30 in that month"),
    (syntax.Datetime, "1985-02-29T23:20:50Z", "datetime day must be 01-28 in that month"),
    (syntax.Datetime, "1900-02-29T23:20:50Z", "datetime day must be 01-28 in that month"),
    (syntax.Datetime, "1985-04-12T24:00:00Z", "datetime hour must be 00-23"),
    (syntax.Datetime, "1985-04-12T23:60:00Z", "datetime minute must be 00-59"),
    (syntax.Datetime, "1985-04-12T23:59:60Z", "datetime second must be 00-59"),
    (syntax.Datetime, "1985-04-12T23:59:59+24:00", "datetime zone offset must be at most 23:59"),
    (syntax.Datetime, "1985-04-12T23:59:59+01:60", "datetime zone offset must be at most 23:59"),
    (
        syntax.Datetime,
        "0000-01-01T00:59:59+01:00",
        "datetime is before year 0 once its zone offset is applied",
    ),
    # language
    (syntax.Language, "", "language tag is empty"),
    (
        syntax.Language,
        "en--GB",
        "language tag has an empty subtag (a leading, trailing or double '-')",
    ),
    (syntax.Language, "JA", "language subtag must be 2 or 3 lowercase letters"),
    (syntax.Language, "jaja", "language subtag must be 2 or 3 lowercase letters"),
    (syntax.Language, "x", "language tag 'x': private use 'x' needs at least one subtag"),
    (
        syntax.Language,
        "en-x-abcdefghi",
        "language tag: private-use subtag 'abcdefghi' must be 1-8 letters or digits",
    ),
    (
        syntax.Language,
        "en-a-b",
        "language tag: extension 'a' needs subtags of 2-8 letters or digits",
    ),
    (syntax.Language, "de-419-DE", "language tag: subtag 'DE' is out of place or malformed"),
    (
        syntax.Language,
        "en-abcdefghi",
        "language tag: subtag 'abcdefghi' is out of place or malformed",
    ),
    (syntax.Language, "de-DE-1901-1901", "language tag repeats a variant subtag"),
    (
        syntax.Language,
        "en-u-co-phonebk-U-ca-buddhist",
        "language tag repeats an extension singleton",
    ),
    # URI
    (syntax.URI, "", "URI is empty"),
    (syntax.URI, "example.com", "URI has no scheme (no ':')"),
    (syntax.URI, "://example.com", "URI scheme is empty"),
    (syntax.URI, "1http://example.com", "URI scheme must start with a letter"),
    (syntax.URI, "ht_tp://example.com", "URI scheme has a disallowed character '_'"),
    (syntax.URI, "http:", "URI has nothing after the scheme"),
    (
        syntax.URI,
        "https://example.com/a b",
        "URI has a disallowed character ' ' (whitespace, control or non-ASCII)",
    ),
    (
        syntax.URI,
        "https://example.com/é",
        "URI has a disallowed character 'é' (whitespace, control or non-ASCII)",
    ),
    (syntax.URI, "https://example.com/" + "x" * 8200, "URI is longer than 8192 characters"),
    # CID string
    (syntax.CIDString, "bafy", "CID string is shorter than 8 characters"),
    (syntax.CIDString, "b" * 257, "CID string is longer than 256 characters"),
    (
        syntax.CIDString,
        "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR",
        "CIDv0 ('Qm...') is not allowed in atproto; use a CIDv1 string",
    ),
    (syntax.CIDString, "xafyreie5", "CID string has no known multibase prefix (got 'x')"),
    (syntax.CIDString, "bafyreie1", "CID string has a character '1' outside the base32 alphabet"),
    (
        syntax.CIDString,
        "zdj7W0eQ43",
        "CID string has a character '0' outside the base58btc alphabet",
    ),
]


@pytest.mark.parametrize(("cls", "text", "reason"), CASES, ids=[c[1][:40] for c in CASES])
def test_reason(cls: type[str], text: str, reason: str) -> None:
    with pytest.raises(IdentifierError) as info:
        cls(text)
    assert info.value.reason == reason
    assert info.value.value == text
    assert isinstance(info.value, ValueError)
    assert str(info.value) == f"invalid identifier {text!r}: {reason}"


@pytest.mark.parametrize(
    "cls",
    [
        syntax.DID,
        syntax.Handle,
        syntax.AtIdentifier,
        syntax.NSID,
        syntax.RecordKey,
        syntax.TID,
        syntax.ATURI,
        syntax.Datetime,
        syntax.Language,
        syntax.URI,
        syntax.CIDString,
    ],
)
@pytest.mark.parametrize("value", [None, 12, b"did:plc:abc"])
def test_non_strings_are_type_errors(cls: type[str], value: object) -> None:
    with pytest.raises(TypeError):
        cls(value)


def test_supported_did_rules() -> None:
    syntax.DID("did:plc:7iza6de2dwap2sbkpav7c6c6").require_supported()
    syntax.DID("did:web:example.com").require_supported()
    syntax.DID("did:web:localhost%3A1234").require_supported()
    bad = {
        "did:example:123": "unsupported DID method 'example' (atproto supports plc and web)",
        "did:plc:7iza6de2dwap2sbkpav7c6c": "did:plc identifier must be 24 characters of base32 "
        "(a-z, 2-7)",
        "did:plc:7iza6de2dwap2sbkpav7c6c1": "did:plc identifier must be 24 characters of base32 "
        "(a-z, 2-7)",
        "did:web:example.com%3A443": "did:web may carry a port only for localhost "
        "(did:web:localhost%3A1234)",
        "did:web:example.com:path": "did:web identifier must be a hostname (no path, no other "
        "characters)",
        "did:web:example": "did:web identifier must be a hostname (no path, no other characters)",
    }
    for text, reason in bad.items():
        did = syntax.DID(text)  # syntax-valid
        assert did.is_supported == (did.method in {"plc", "web"})
        with pytest.raises(IdentifierError) as info:
            did.require_supported()
        assert info.value.reason == reason, text


@pytest.mark.parametrize(
    "text",
    [
        "laptop.local",
        "x.arpa",
        "a.example",
        "b.internal",
        "handle.invalid",
        "c.localhost",
        "d.onion",
        "e.alt",
    ],
)
def test_disallowed_tlds_are_syntax_valid_but_not_registrable(text: str) -> None:
    handle = syntax.Handle(text)
    assert not handle.tld_allowed()
    with pytest.raises(IdentifierError) as info:
        handle.require_allowed_tld()
    assert info.value.reason == f"handle TLD .{handle.tld} is not allowed for a registered handle"


def test_test_tld_is_for_development_only() -> None:
    handle = syntax.Handle("alice.test")
    assert handle.tld_allowed()
    handle.require_allowed_tld()
    assert not handle.tld_allowed(allow_test=False)
    with pytest.raises(IdentifierError):
        handle.require_allowed_tld(allow_test=False)
    assert syntax.Handle("alice.bsky.social").tld_allowed(allow_test=False)
