"""Language tags: the lexicon ``language`` format, a BCP 47 tag (RFC 5646).

Spec: https://atproto.com/specs/lexicon#language (digest §4.7) and RFC 5646 §2.1::

    Language-Tag  = langtag / privateuse / grandfathered
    langtag       = language ["-" script] ["-" region] *("-" variant)
                    *("-" extension) ["-" privateuse]
    language      = 2*3ALPHA ["-" extlang]          ; extlang = 3ALPHA *2("-" 3ALPHA)
    script        = 4ALPHA
    region        = 2ALPHA / 3DIGIT
    variant       = 5*8alphanum / (DIGIT 3alphanum)
    extension     = singleton 1*("-" (2*8alphanum))  ; singleton: any alphanum but x
    privateuse    = "x" 1*("-" (1*8alphanum))

Two levels, as the interop fixtures have them: :func:`is_language_syntax` is well-formedness
(the grammar, ``language_syntax_*``); :func:`is_language` and :class:`Language` also reject
a repeated variant or a repeated extension singleton (compared case-insensitively), which RFC
5646 §2.2.5/§2.2.6 forbid (``language_parse_invalid``).

Tricky bits:

* atproto narrows the grammar (and so do its reference validators and fixtures): the primary
  language subtag is 2 or 3 *lowercase* letters (``JA`` and the reserved 4-letter and
  registered 5-8-letter forms such as ``jaja`` are rejected), and the tag's first subtag is
  lowercase in grandfathered tags too. Everything after the first subtag is
  case-insensitive, as is the private-use marker (``X-fr-CH``).
* The grammar is unambiguous subtag by subtag (each position's alternatives differ in length
  or character class), so a single left-to-right pass parses it; the grandfathered tags are
  checked first, since some (``zh-min-nan``) also read as a langtag.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from strato.syntax._base import Identifier, fail

# RFC 5646 §2.2.8: the irregular then the regular grandfathered tags.
_GRANDFATHERED: Final = frozenset(
    tag.lower()
    for tag in (
        *("en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon"),
        *("i-lux", "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu"),
        *("sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE"),
        *("art-lojban", "cel-gaulish", "no-bok", "no-nyn", "zh-guoyu", "zh-hakka", "zh-min"),
        *("zh-min-nan", "zh-xiang"),
    )
)

# The common shapes (``en``, ``pt-BR``, ``zh-Hant``, ``es-419``), accepted without the parser.
_COMMON_RE: Final = re.compile(r"[a-z]{2,3}(?:-(?:[a-zA-Z]{2}|[0-9]{3}|[a-zA-Z]{4}))?")


class LanguageParts(NamedTuple):
    """The subtags of a language tag, as written. A private-use-only tag (``x-foo``) has an
    empty ``language``; a grandfathered tag has only ``grandfathered`` set."""

    language: str = ""
    extlang: tuple[str, ...] = ()
    script: str = ""
    region: str = ""
    variants: tuple[str, ...] = ()
    extensions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    privateuse: tuple[str, ...] = ()
    grandfathered: str = ""


def _alpha(s: str) -> bool:
    return s.isascii() and s.isalpha()


def _digit(s: str) -> bool:
    return s.isascii() and s.isdigit()


def _alnum(s: str) -> bool:
    return s.isascii() and s.isalnum()


def _privateuse(subtags: list[str], start: int, tag: str) -> tuple[str, ...] | str:
    """The private-use subtags after the ``x`` at ``start``, or the reason they are bad."""
    rest = subtags[start + 1 :]
    if not rest:
        return f"language tag {tag!r}: private use 'x' needs at least one subtag"
    for sub in rest:
        if not (1 <= len(sub) <= 8 and _alnum(sub)):
            return f"language tag: private-use subtag {sub!r} must be 1-8 letters or digits"
    return tuple(rest)


def parse_language(tag: str) -> LanguageParts | str:
    """Parse the grammar: the parts, or the reason ``tag`` is not well-formed. Repeated
    variants or singletons are well-formed; see :func:`language_problem`."""
    if not tag:
        return "language tag is empty"
    if tag.lower() in _GRANDFATHERED and tag.split("-", 1)[0].islower():
        return LanguageParts(grandfathered=str(tag))
    subtags = tag.split("-")
    if "" in subtags:
        return "language tag has an empty subtag (a leading, trailing or double '-')"
    first = subtags[0]
    if first in ("x", "X"):
        private = _privateuse(subtags, 0, tag)
        return private if isinstance(private, str) else LanguageParts(privateuse=private)
    if not (2 <= len(first) <= 3 and _alpha(first) and first.islower()):
        return "language subtag must be 2 or 3 lowercase letters"
    i, n = 1, len(subtags)
    extlang: list[str] = []
    while i < n and len(extlang) < 3 and len(subtags[i]) == 3 and _alpha(subtags[i]):
        extlang.append(subtags[i])
        i += 1
    script = region = ""
    if i < n and len(subtags[i]) == 4 and _alpha(subtags[i]):
        script = subtags[i]
        i += 1
    if i < n and (
        (len(subtags[i]) == 2 and _alpha(subtags[i]))
        or (len(subtags[i]) == 3 and _digit(subtags[i]))
    ):
        region = subtags[i]
        i += 1
    variants: list[str] = []
    while (
        i < n
        and _alnum(subtags[i])
        and (5 <= len(subtags[i]) <= 8 or (len(subtags[i]) == 4 and subtags[i][0].isdigit()))
    ):
        variants.append(subtags[i])
        i += 1
    extensions: list[tuple[str, tuple[str, ...]]] = []
    while i < n and len(subtags[i]) == 1 and _alnum(subtags[i]) and subtags[i] not in "xX":
        singleton = subtags[i]
        i += 1
        start = i
        while i < n and 2 <= len(subtags[i]) <= 8 and _alnum(subtags[i]):
            i += 1
        if i == start:
            return f"language tag: extension {singleton!r} needs subtags of 2-8 letters or digits"
        extensions.append((singleton, tuple(subtags[start:i])))
    privateuse: tuple[str, ...] = ()
    if i < n and subtags[i] in ("x", "X"):
        private = _privateuse(subtags, i, tag)
        if isinstance(private, str):
            return private
        privateuse, i = private, n
    if i < n:
        return f"language tag: subtag {subtags[i]!r} is out of place or malformed"
    return LanguageParts(
        first, tuple(extlang), script, region, tuple(variants), tuple(extensions), privateuse
    )


def language_problem(tag: str) -> str | None:
    """Why ``tag`` is not a valid language tag, or None if it is one."""
    parts = parse_language(tag)
    if isinstance(parts, str):
        return parts
    variants = [v.lower() for v in parts.variants]
    if len(set(variants)) != len(variants):
        return "language tag repeats a variant subtag"
    singletons = [s.lower() for s, _ in parts.extensions]
    if len(set(singletons)) != len(singletons):
        return "language tag repeats an extension singleton"
    return None


def is_language_syntax(tag: str) -> bool:
    """Whether ``tag`` is a well-formed language tag (repeats allowed)."""
    return _COMMON_RE.fullmatch(tag) is not None or not isinstance(parse_language(tag), str)


def is_language(tag: str) -> bool:
    """Whether ``tag`` is a valid language tag (the lexicon ``language`` format)."""
    return _COMMON_RE.fullmatch(tag) is not None or language_problem(tag) is None


class Language(Identifier):
    """A BCP 47 language tag, kept exactly as written; the subtags are properties."""

    __slots__ = ()

    def __new__(cls, value: str) -> Language:
        if type(value) is Language:
            return value
        if _COMMON_RE.fullmatch(value) is not None:
            return str.__new__(cls, value)
        problem = language_problem(value)
        if problem is None:
            return str.__new__(cls, value)
        fail(problem, value)

    is_valid = staticmethod(is_language)

    @property
    def parts(self) -> LanguageParts:
        parts = parse_language(self)
        assert not isinstance(parts, str)  # a Language always parses
        return parts

    @property
    def language(self) -> str:
        """The primary language subtag (empty for private-use-only and grandfathered)."""
        return self.parts.language

    @property
    def extlang(self) -> tuple[str, ...]:
        return self.parts.extlang

    @property
    def script(self) -> str:
        return self.parts.script

    @property
    def region(self) -> str:
        return self.parts.region

    @property
    def variants(self) -> tuple[str, ...]:
        return self.parts.variants

    @property
    def extensions(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """``((singleton, (subtag, ...)), ...)``."""
        return self.parts.extensions

    @property
    def privateuse(self) -> tuple[str, ...]:
        """The subtags after ``x-``."""
        return self.parts.privateuse

    @property
    def is_grandfathered(self) -> bool:
        return bool(self.parts.grandfathered)
