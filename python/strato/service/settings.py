"""What every service's settings share: the one loader that builds a service's frozen settings
dataclass from ``STRATO_<SERVICE>_<FIELD>`` environment variables and command-line options
(:func:`load_settings`), and the text forms of sizes (:func:`parse_size`) and durations
(:func:`parse_duration`).

A service's settings class (``plc/settings.py``, ``pds/settings.py``, ``relay/settings.py``)
declares its fields and validates them in ``__post_init__``; the loader reads each field's
variable by the field's type: ``int``, ``float``, ``bool``, ``str``, ``Path``, an optional one
(an empty variable is None), ``tuple[str, ...]`` or ``tuple[Path, ...]`` (comma-separated).
A field annotated ``Annotated[int, SIZE]`` is read by :func:`parse_size`, one annotated
``Annotated[float, Duration("hours")]`` by :func:`parse_duration` in that unit; the connection
limits keep their own reading (:func:`strato.service.limits.parse_setting`). Fields of any
other type (a mapping) are never read from the environment: the service reads them its own way.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

from strato.service.limits import CONNECTION_SETTINGS, parse_setting

_SIZE_RE: Final = re.compile(r"(\d+)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?", re.IGNORECASE)
_SIZE_UNITS: Final = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_DURATION_RE: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhd])?", re.IGNORECASE)
_SECONDS: Final = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
_SUFFIXES: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_TRUE: Final = ("1", "true", "yes", "on")
_FALSE: Final = ("0", "false", "no", "off")

#: The mark of a size field: ``blob_limit: Annotated[int, SIZE]``.
SIZE: Final = "size"


@dataclasses.dataclass(frozen=True)
class Duration:
    """The mark of a duration field and of the unit its number is in:
    ``event_retention_hours: Annotated[float, Duration("hours")]``."""

    unit: str

    def __post_init__(self) -> None:
        if self.unit not in _SECONDS:
            raise ValueError(f"{self.unit!r} is not one of {', '.join(_SECONDS)}")


def parse_size(text: str) -> int:
    """A size in bytes from ``123``, ``512kB``, ``100MB``, ``2GiB``... (units are powers of
    1024 whether written kB or KiB, so ``100MB`` is the default blob limit)."""
    found = _SIZE_RE.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a size (such as 5000000, 512kB, 100MB or 1GB)")
    unit = (found.group(2) or "b")[0].lower()
    return int(found.group(1)) * _SIZE_UNITS[unit]


def parse_duration(text: str, unit: str = "seconds") -> float:
    """A duration as a number of ``unit`` (seconds, minutes, hours or days) from ``90s``,
    ``15m``, ``72h``, ``3d``, or a plain number (``1.5``, ``1e3``, ``-1``: whether it is in
    range is the setting's to say), which is already in ``unit``. Never NaN or infinite."""
    found = _DURATION_RE.fullmatch(text.strip())
    if found is not None:
        given = _SUFFIXES[found.group(2).lower()] if found.group(2) else unit
        return float(found.group(1)) * _SECONDS[given] / _SECONDS[unit]
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a duration (such as 90s, 15m, 72h or 3d)")
    return number


Settings = TypeVar("Settings")
_Reader = Callable[[str, str], Any]  # (text, variable) -> value


def load_settings(
    cls: type[Settings], prefix: str, environ: Mapping[str, str], /, **overrides: Any
) -> Settings:
    """``cls`` (a settings dataclass) from its ``<prefix><FIELD>`` variables in ``environ``,
    then ``overrides`` (options given on the command line, None meaning not given). A value
    that cannot be read is a ValueError naming its variable; ``cls`` validates the rest."""
    hints = typing.get_type_hints(cls, include_extras=True)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        variable = prefix + item.name.upper()
        raw = environ.get(variable)
        if raw is None or not item.init:
            continue
        if item.name in CONNECTION_SETTINGS:
            values[item.name] = parse_setting(item.name, raw, variable)
            continue
        if not raw.strip() and hints[item.name] in (str, Path) and item.default != "":
            # an unset ${VAR} in an env file: refused, not read as "" (which would listen on
            # every address) or "." (a data directory in the current one)
            raise ValueError(f"{variable} is empty (unset it for the default)")
        reader = _reader(hints[item.name])
        if reader is not None:
            values[item.name] = reader(raw, variable)
    values.update({name: value for name, value in overrides.items() if value is not None})
    return cls(**values)


def _reader(hint: Any) -> _Reader | None:
    """How a field of type ``hint`` is read from text (None: it is not read from text)."""
    if typing.get_origin(hint) is typing.Annotated:
        base, *marks = typing.get_args(hint)
        for mark in marks:
            if mark == SIZE:
                return _size
            if isinstance(mark, Duration):
                return _duration_reader(mark.unit)
        return _reader(base)
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        read = _reader(inner[0]) if len(inner) == 1 else None
        if read is None:
            raise TypeError(f"a setting of type {hint} cannot be read from text")
        return lambda raw, variable: read(raw, variable) if raw.strip() else None
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        return lambda raw, variable: tuple(
            item_type(part.strip()) for part in raw.split(",") if part.strip()
        )
    if origin is not None and issubclass(origin, Mapping):
        return None
    if hint in _SCALARS:
        return _SCALARS[hint]
    raise TypeError(f"a setting of type {hint} cannot be read from text")


def _size(raw: str, variable: str) -> int:
    try:
        return parse_size(raw)
    except ValueError as err:
        raise ValueError(f"{variable}: {err}") from None


def _duration_reader(unit: str) -> _Reader:
    def read(raw: str, variable: str) -> float:
        try:
            return parse_duration(raw, unit)
        except ValueError:
            # the message the services' tests and operators already know (a unit is accepted)
            raise ValueError(f"{variable} must be a number of {unit}") from None

    return read


def _integer(raw: str, variable: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{variable} must be an integer") from None


def _number(raw: str, variable: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{variable} must be a number") from None


def _boolean(raw: str, variable: str) -> bool:
    lowered = raw.strip().lower()
    if lowered not in _TRUE + _FALSE:
        raise ValueError(f"{variable} must be true or false")
    return lowered in _TRUE


_SCALARS: Final[dict[Any, _Reader]] = {
    int: _integer,
    float: _number,
    bool: _boolean,
    str: lambda raw, variable: raw,
    Path: lambda raw, variable: Path(raw),
}
