"""Datetimes: the lexicon ``datetime`` format, a strict subset of RFC 3339 and ISO 8601.

Spec: https://atproto.com/specs/lexicon#datetime (digest §4.7). Syntax:
``YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`` with an uppercase ``T`` and ``Z``,
mandatory seconds and zone, any number (1+) of fraction digits, at most 64 characters, and no
``-00:00`` zone.

Two levels, as the interop fixtures have them: :func:`is_datetime_syntax` is the syntax above
(``datetime_syntax_*``); :func:`is_datetime` and :class:`Datetime` also parse it
(``datetime_parse_invalid``): month 01-12, a day that exists in that month (proleptic
Gregorian, year 0000 a leap year), hour <= 23, minute and second <= 59 (no leap second), zone
offset <= 23:59, and not before 0000-01-01T00:00:00Z once the offset is applied.

Tricky bits: a :class:`Datetime` keeps its text as written, and nothing here reformats it
(records are hashed). Python's ``datetime`` has no year 0 and only microseconds, so
:attr:`Datetime.datetime` is exact to the microsecond and fails for year 0;
:attr:`Datetime.epoch_micros` works for every valid value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final

from strato import _core
from strato.syntax._base import Identifier

MAX_DATETIME_LENGTH: Final = 64

_DATETIME_RE: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)
_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Days from 0000-03-01 (the start of a 400-year era) to 1970-01-01.
_EPOCH_DAYS: Final = 719468


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (year 0 included)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - _EPOCH_DAYS


def datetime_syntax_problem(value: str) -> str | None:
    """Why ``value`` does not have the datetime syntax, or None if it has it."""
    if len(value) > MAX_DATETIME_LENGTH:
        return f"datetime is longer than {MAX_DATETIME_LENGTH} characters"
    if _DATETIME_RE.fullmatch(value) is None:
        return (
            "datetime syntax must be YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or +HH:MM "
            "(uppercase T and Z, zero-padded fields, seconds and zone required)"
        )
    if value.endswith("-00:00"):
        return "datetime zone -00:00 is not allowed (use Z or +00:00)"
    return None


def _parse_problem(match: re.Match[str]) -> str | None:
    """Why a syntactically valid datetime does not parse, or None."""
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not 1 <= month <= 12:
        return "datetime month must be 01-12"
    days = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month - 1]
    if not 1 <= day <= days:
        return f"datetime day must be 01-{days} in that month"
    if hour > 23:
        return "datetime hour must be 00-23"
    if minute > 59:
        return "datetime minute must be 00-59"
    if second > 59:
        return "datetime second must be 00-59"
    zone = match.group(8)
    if zone != "Z":
        if int(zone[1:3]) > 23 or int(zone[4:6]) > 59:
            return "datetime zone offset must be at most 23:59"
        # An offset is under a day, so only the first day of year 0 can fall before it.
        first_day = year == 0 and month == 1 and day == 1
        if first_day and _offset_minutes(zone) > hour * 60 + minute:
            return "datetime is before year 0 once its zone offset is applied"
    return None


def _offset_minutes(zone: str) -> int:
    if zone == "Z":
        return 0
    minutes = int(zone[1:3]) * 60 + int(zone[4:6])
    return -minutes if zone[0] == "-" else minutes


is_datetime_syntax: Final = _core.syntax_is_datetime_syntax
"""Whether a string has the datetime syntax, field ranges not checked (native)."""
is_datetime: Final = _core.syntax_is_datetime
"""Whether a string is a valid datetime (the lexicon ``datetime`` format; native)."""


def datetime_problem(value: str) -> str | None:
    """Why ``value`` is not a valid datetime, or None if it is one."""
    problem = datetime_syntax_problem(value)
    if problem is not None:
        return problem
    match = _DATETIME_RE.fullmatch(value)
    assert match is not None  # the syntax check matched it
    return _parse_problem(match)


class Datetime(Identifier):
    """A valid atproto datetime, kept exactly as written."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __new__(cls, value: str) -> Datetime: ...

    else:
        __new__ = _core.IdentifierParser("datetime", datetime_problem)

    is_valid = staticmethod(is_datetime)

    @classmethod
    def from_datetime(cls, value: datetime) -> Datetime:
        """The preferred form of an aware datetime: UTC, ``Z``, milliseconds (microseconds
        when it has sub-millisecond precision)."""
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("a naive datetime has no zone; give an aware one")
        utc = value.astimezone(UTC)
        micro = utc.microsecond
        fraction = f"{micro // 1000:03d}" if micro % 1000 == 0 else f"{micro:06d}"
        return cls(
            f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
            f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{fraction}Z"
        )

    @classmethod
    def now(cls) -> Datetime:
        """The current time in the preferred form."""
        return cls.from_datetime(datetime.now(UTC))

    def _match(self) -> re.Match[str]:
        match = _DATETIME_RE.fullmatch(self)
        assert match is not None  # a Datetime always matches
        return match

    @property
    def fraction(self) -> str:
        """The fraction-of-second digits as written (empty if none)."""
        return self._match().group(7) or ""

    @property
    def utc_offset(self) -> timedelta:
        """The zone offset (zero for ``Z``)."""
        return timedelta(minutes=_offset_minutes(self._match().group(8)))

    @property
    def epoch_micros(self) -> int:
        """Microseconds since 1970-01-01T00:00:00Z (fraction digits past six are dropped)."""
        match = self._match()
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
        micros = int((match.group(7) or "0")[:6].ljust(6, "0"))
        seconds = (
            _days_from_civil(year, month, day) * 86400
            + hour * 3600
            + (minute - _offset_minutes(match.group(8))) * 60
            + second
        )
        return seconds * 1_000_000 + micros

    @property
    def datetime(self) -> datetime:
        """An aware ``datetime`` in the value's own zone offset, exact to the microsecond.
        ``ValueError`` for year 0000, which Python's ``datetime`` cannot hold."""
        match = self._match()
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
        if year == 0:
            raise ValueError(f"{self!s} is in year 0, which Python's datetime cannot hold")
        micros = int((match.group(7) or "0")[:6].ljust(6, "0"))
        zone = timezone(timedelta(minutes=_offset_minutes(match.group(8))))
        return datetime(year, month, day, hour, minute, second, micros, tzinfo=zone)
