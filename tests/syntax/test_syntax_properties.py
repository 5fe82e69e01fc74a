"""Hypothesis properties of strato.syntax.

* Each fast boolean check (the regular expressions lexicon validation calls) agrees with the
  rule-by-rule explaining check on strings built from the characters that matter, so the two
  cannot drift apart; and a type accepts exactly what its check accepts.
* Round trips: TID parts, datetimes through the preferred form, AT-URIs through their parts,
  language tags generated from the RFC 5646 grammar through their parts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strato import syntax
from strato.errors import IdentifierError
from strato.syntax.atid import did_problem, handle_problem
from strato.syntax.aturi import at_uri_problem
from strato.syntax.cid import cid_problem
from strato.syntax.datetimes import datetime_problem, datetime_syntax_problem
from strato.syntax.language import language_problem
from strato.syntax.nsid import nsid_problem
from strato.syntax.recordkey import record_key_problem
from strato.syntax.uri import uri_problem


def language_syntax_problem(tag: str) -> str | None:
    parts = syntax.parse_language(tag)
    return parts if isinstance(parts, str) else None


ASCII_EDGES = "aAzZ09-._:%/#?@~+= é\t"


def texts(alphabet: str, *prefixes: str, max_size: int = 40) -> st.SearchStrategy[str]:
    body = st.text(alphabet=alphabet, max_size=max_size)
    return st.builds(lambda p, b: p + b, st.sampled_from(("", *prefixes)), body)


def segments(alphabet: str, sep: str) -> st.SearchStrategy[str]:
    part = st.text(alphabet=alphabet, min_size=0, max_size=8)
    return st.lists(part, min_size=1, max_size=5).map(sep.join)


CHECKS: list[tuple[Callable[[str], bool], Callable[[str], str | None], st.SearchStrategy[str]]] = [
    (syntax.is_did, did_problem, texts("abcXY19:%._-/#", "did:", "did:plc:", "DID:")),
    (syntax.is_handle, handle_problem, segments("abcXY09-_", ".")),
    (syntax.is_nsid, nsid_problem, segments("abcXY09-*", ".")),
    (syntax.is_record_key, record_key_problem, texts("abZ09.:_~-%/ ")),
    (syntax.is_uri, uri_problem, texts("abZ09+.-:/ é", "https:", "at://", "1a:")),
    (syntax.is_cid, cid_problem, texts("abfzQm01=+/-_ ", "b", "z", "Qm", "m", "u", "f")),
    (
        syntax.is_at_uri,
        at_uri_problem,
        st.builds(
            lambda a, b, c: a + b + c,
            st.sampled_from(("at://", "at:/", "")),
            st.sampled_from(("did:plc:abc", "alice.test", "", "did:plc:", "bsky", "a@b.c")),
            segments("abX09.-/#?", "/"),
        ),
    ),
    (
        syntax.is_datetime,
        datetime_problem,
        st.builds(
            "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{}".format,
            st.integers(0, 9999),
            st.integers(0, 13),
            st.integers(0, 32),
            st.integers(0, 25),
            st.integers(0, 61),
            st.integers(0, 61),
            st.sampled_from(("", ".1", ".123456789", ".")),
            st.sampled_from(("Z", "z", "+00:00", "-00:00", "+23:59", "+24:00", "-07:30", "")),
        ),
    ),
    (syntax.is_language, language_problem, segments("enGBxX19-", "-")),
]
CHECKS += [
    # the syntax-only levels, on the same strings as their full checks
    (syntax.is_datetime_syntax, datetime_syntax_problem, CHECKS[7][2]),
    (syntax.is_language_syntax, language_syntax_problem, CHECKS[8][2]),
]


@pytest.mark.parametrize(("check", "problem", "strategy"), CHECKS, ids=lambda c: "")
def test_fast_check_agrees_with_explaining_check(
    check: Callable[[str], bool],
    problem: Callable[[str], str | None],
    strategy: st.SearchStrategy[str],
) -> None:
    @given(strategy)
    def agree(text: str) -> None:
        assert check(text) == (problem(text) is None), text

    agree()


@given(st.text(alphabet=ASCII_EDGES, max_size=30))
def test_types_accept_exactly_what_checks_accept(text: str) -> None:
    for cls, name in [
        (syntax.DID, "did"),
        (syntax.Handle, "handle"),
        (syntax.AtIdentifier, "at-identifier"),
        (syntax.NSID, "nsid"),
        (syntax.RecordKey, "record-key"),
        (syntax.TID, "tid"),
        (syntax.ATURI, "at-uri"),
        (syntax.Datetime, "datetime"),
        (syntax.Language, "language"),
        (syntax.URI, "uri"),
        (syntax.CIDString, "cid"),
    ]:
        try:
            cls(text)
        except IdentifierError:
            assert not syntax.FORMAT_CHECKS[name](text), (name, text)
        else:
            assert syntax.FORMAT_CHECKS[name](text), (name, text)


@given(st.integers(0, 2**53 - 1), st.integers(0, 1023))
def test_tid_parts_round_trip(micros: int, clock_id: int) -> None:
    tid = syntax.TID.from_parts(micros, clock_id)
    assert syntax.TID(str(tid)) == tid
    assert (tid.micros, tid.clock_id) == (micros, clock_id)
    assert syntax.is_tid(tid)


@given(st.integers(0, 2**53 - 1), st.integers(0, 2**53 - 1))
def test_tid_order_is_time_order(a: int, b: int) -> None:
    assert (syntax.TID.from_parts(a, 0) < syntax.TID.from_parts(b, 0)) == (a < b)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.just(UTC),
    ),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
)
def test_datetime_round_trip(moment: datetime, offset_minutes: int) -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    micros = (moment - epoch) // timedelta(microseconds=1)
    preferred = syntax.Datetime.from_datetime(moment)
    assert preferred.datetime == moment
    assert preferred.epoch_micros == micros
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    written = syntax.Datetime(local.isoformat())
    assert written.datetime == local
    assert written.utc_offset == timedelta(minutes=offset_minutes)
    assert written.epoch_micros == micros


ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGIT = "0123456789"


def fixed(alphabet: str, size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=size, max_size=size)


@st.composite
def language_tags(draw: st.DrawFn) -> tuple[str, syntax.LanguageParts]:
    """A well-formed langtag with distinct variants and singletons, and its parts."""
    language = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=3))
    extlang = tuple(draw(st.lists(fixed(ALPHA, 3), max_size=3))) if len(language) else ()
    script = draw(st.sampled_from(("", "Latn", "hans")))
    region = draw(st.sampled_from(("", "GB", "us", "419")))
    variants = tuple(
        draw(
            st.lists(
                st.sampled_from(("1901", "rozaj", "biske", "arevela")),
                unique_by=str.lower,
                max_size=3,
            )
        )
    )
    singletons = draw(st.lists(st.sampled_from("abtuAB019"), unique_by=str.lower, max_size=2))
    extensions = tuple(
        (
            s,
            tuple(
                draw(st.lists(fixed(ALPHA + DIGIT, 2) | fixed(DIGIT, 8), min_size=1, max_size=2))
            ),
        )
        for s in singletons
    )
    privateuse = tuple(
        draw(st.lists(st.text(alphabet=ALPHA + DIGIT, min_size=1, max_size=8), max_size=2))
    )
    parts = [language, *extlang, script, region, *variants]
    for singleton, subtags in extensions:
        parts += [singleton, *subtags]
    if privateuse:
        parts += ["x", *privateuse]
    tag = "-".join(p for p in parts if p)
    expected = syntax.LanguageParts(
        language, extlang, script, region, variants, extensions, privateuse
    )
    return tag, expected


@given(language_tags())
def test_language_grammar_round_trip(case: tuple[str, syntax.LanguageParts]) -> None:
    tag, expected = case
    if tag.lower() in {"zh-min", "zh-min-nan", "zh-guoyu", "zh-xiang", "no-bok", "no-nyn"}:
        return  # grandfathered spellings parse as such
    value = syntax.Language(tag)
    assert value.parts == expected
