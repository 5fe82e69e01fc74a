"""Every line of every list in ``interop/syntax/`` through strato.syntax.

For each ``<kind>_<level>_<valid|invalid>.txt``: a valid line constructs the type and passes
the format's fast check (``FORMAT_CHECKS``), the type's ``is_valid`` and the explaining check;
an invalid line raises ``IdentifierError`` whose ``reason`` is what the explaining check says
and fails every boolean check. The ``*_parse_invalid`` lists also pass the syntax-only check
(:func:`is_datetime_syntax`, :func:`is_language_syntax`), which is what makes them parse
failures and not syntax failures.

Lines are taken as they are in the files, leading and trailing spaces included (several
lines test exactly that); only the line break is removed. Lines starting with ``#`` are
comments and empty lines separators, as the files intend (see ``test_syntax_types.py`` for the
commented-out cases, tested on their own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import shared_path, skipped_param
from strato import syntax
from strato.errors import IdentifierError
from strato.syntax.atid import did_problem, handle_problem
from strato.syntax.aturi import at_uri_problem
from strato.syntax.cid import cid_problem
from strato.syntax.datetimes import datetime_problem
from strato.syntax.language import language_problem
from strato.syntax.nsid import nsid_problem
from strato.syntax.recordkey import record_key_problem
from strato.syntax.uri import uri_problem

SYNTAX = shared_path("interop", "syntax")


def tid_problem(text: str) -> str | None:
    return None if syntax.is_tid(text) else "not a TID"


def at_identifier_problem(text: str) -> str | None:
    return did_problem(text) if text.startswith("did:") else handle_problem(text)


# fixture kind -> (type, lexicon format name, explaining check)
KINDS: dict[str, tuple[type[str], str, Callable[[str], str | None]]] = {
    "atidentifier": (syntax.AtIdentifier, "at-identifier", at_identifier_problem),
    "aturi": (syntax.ATURI, "at-uri", at_uri_problem),
    "cid": (syntax.CIDString, "cid", cid_problem),
    "datetime": (syntax.Datetime, "datetime", datetime_problem),
    "did": (syntax.DID, "did", did_problem),
    "handle": (syntax.Handle, "handle", handle_problem),
    "language": (syntax.Language, "language", language_problem),
    "nsid": (syntax.NSID, "nsid", nsid_problem),
    "recordkey": (syntax.RecordKey, "record-key", record_key_problem),
    "tid": (syntax.TID, "tid", tid_problem),
    "uri": (syntax.URI, "uri", uri_problem),
}
SYNTAX_ONLY: dict[str, Callable[[str], bool]] = {
    "datetime": syntax.is_datetime_syntax,
    "language": syntax.is_language_syntax,
}


def fixture_cases() -> list[Any]:
    if not SYNTAX.is_dir():
        return skipped_param(SYNTAX)
    cases: list[Any] = []
    for path in sorted(SYNTAX.glob("*.txt")):
        kind, level, expect = path.stem.split("_")
        lines = path.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines, 1):
            if line and not line.startswith("#"):
                case = (kind, level, expect == "valid", line)
                cases.append(pytest.param(case, id=f"{path.stem}:{number}"))
    return cases


CASES = fixture_cases()


def test_every_list_has_a_type() -> None:
    if not SYNTAX.is_dir():
        pytest.skip(f"shared fixtures not found: {SYNTAX}")
    kinds = {path.stem.split("_")[0] for path in SYNTAX.glob("*.txt")}
    assert kinds == set(KINDS)
    assert len(CASES) > 400


@pytest.mark.parametrize("case", CASES)
def test_fixture_line(case: tuple[str, str, bool, str]) -> None:
    kind, level, valid, line = case
    cls, format_name, problem = KINDS[kind]
    check = syntax.FORMAT_CHECKS[format_name]
    if valid:
        value = cls(line)
        assert isinstance(value, cls)
        assert value == (line.lower() if isinstance(value, syntax.Handle) else line)
        assert check(line)
        assert getattr(cls, "is_valid")(line)  # noqa: B009 - the classes' own check
        assert problem(line) is None
        return
    assert not check(line)
    assert not getattr(cls, "is_valid")(line)  # noqa: B009
    reason = problem(line)
    assert reason is not None
    with pytest.raises(IdentifierError) as info:
        cls(line)
    assert info.value.value == line
    if kind != "tid":  # TID reasons come from the Rust parser (tests/core/test_tid.py)
        assert info.value.reason == reason
    if level == "parse":
        assert SYNTAX_ONLY[kind](line), "a parse_invalid line must pass the syntax check"
    elif kind in SYNTAX_ONLY:
        assert not SYNTAX_ONLY[kind](line), "a syntax_invalid line must fail the syntax check"
