"""The services' one settings loader (:func:`strato.service.settings.load_settings`): every kind
of field read from its ``STRATO_<SERVICE>_<FIELD>`` variable, command-line overrides, each bad
value's error, and :func:`parse_duration`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import pytest
from strato.plc.settings import PlcSettings
from strato.plc.settings import settings_from_env as plc_settings_from_env
from strato.service.settings import SIZE, Duration, load_settings, parse_duration


@dataclass(frozen=True)
class Example:
    count: int = 1
    ratio: float = 0.5
    flag: bool = False
    name: str = "x"
    path: Path = Path("here")
    maybe_name: str | None = "given"
    maybe_path: Path | None = None
    names: tuple[str, ...] = ()
    paths: tuple[Path, ...] = ()
    size: Annotated[int, SIZE] = 10
    hours: Annotated[float, Duration("hours")] = 1.0
    header_timeout: float = 5.0
    table: Mapping[str, bool] = field(default_factory=dict)
    derived: int = field(default=0, init=False)


def load(environ: dict[str, str], **overrides: object) -> Example:
    return load_settings(Example, "STRATO_EX_", environ, **overrides)


def test_every_kind_of_field_is_read_from_its_variable() -> None:
    made = load(
        {
            "STRATO_EX_COUNT": "7",
            "STRATO_EX_RATIO": "2.5",
            "STRATO_EX_FLAG": "Yes",
            "STRATO_EX_NAME": "strato",
            "STRATO_EX_PATH": "/var/lib/strato",
            "STRATO_EX_MAYBE_NAME": "",
            "STRATO_EX_MAYBE_PATH": "/etc/token",
            "STRATO_EX_NAMES": " a, b ,,c ",
            "STRATO_EX_PATHS": "/one,/two",
            "STRATO_EX_SIZE": "2MB",
            "STRATO_EX_HOURS": "3d",
            "STRATO_EX_HEADER_TIMEOUT": "2.5",
            "STRATO_EX_TABLE": "never read",
            "STRATO_EX_DERIVED": "never read",
            "STRATO_OTHER_COUNT": "9",
        }
    )
    assert made == Example(
        count=7, ratio=2.5, flag=True, name="strato", path=Path("/var/lib/strato"),
        maybe_name=None, maybe_path=Path("/etc/token"), names=("a", "b", "c"),
        paths=(Path("/one"), Path("/two")), size=2 << 20, hours=72.0, header_timeout=2.5,
    )  # fmt: skip
    assert load({}) == Example()


def test_options_given_win_over_variables_and_none_is_not_given() -> None:
    made = load({"STRATO_EX_COUNT": "7", "STRATO_EX_NAME": "env"}, count=None, name="option")
    assert (made.count, made.name) == (7, "option")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COUNT", "seven", "STRATO_EX_COUNT must be an integer"),
        ("RATIO", "half", "STRATO_EX_RATIO must be a number"),
        ("FLAG", "maybe", "STRATO_EX_FLAG must be true or false"),
        ("SIZE", "lots",
         "STRATO_EX_SIZE: 'lots' is not a size (such as 5000000, 512kB, 100MB or 1GB)"),
        ("HOURS", "a day", "STRATO_EX_HOURS must be a number of hours"),
        ("HEADER_TIMEOUT", "soon", "STRATO_EX_HEADER_TIMEOUT must be a number of seconds"),
    ],
)  # fmt: skip
def test_a_bad_value_is_refused_naming_what_is_wrong(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load({f"STRATO_EX_{variable}": value})


@pytest.mark.parametrize("variable", ["NAME", "PATH"])
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_text_or_path_variable_is_refused(variable: str, value: str) -> None:
    # an unset ${VAR} in an env file must not become "" (every address) or "." (this directory)
    with pytest.raises(ValueError, match=f"^STRATO_EX_{variable} is empty \\(unset it for"):
        load({f"STRATO_EX_{variable}": value})


def test_an_empty_variable_is_none_for_an_optional_field_and_nothing_for_a_tuple() -> None:
    made = load({"STRATO_EX_MAYBE_NAME": "", "STRATO_EX_NAMES": ""})
    assert (made.maybe_name, made.names) == (None, ())


def test_a_field_of_a_type_not_read_from_text_is_a_type_error() -> None:
    @dataclass(frozen=True)
    class Odd:
        pair: int | str = 0

    with pytest.raises(TypeError, match="cannot be read from text"):
        load_settings(Odd, "STRATO_ODD_", {"STRATO_ODD_PAIR": "1"})


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [
        ("90s", "seconds", 90.0), ("15m", "seconds", 900.0), ("72h", "hours", 72.0),
        ("3d", "hours", 72.0), ("1.5", "hours", 1.5), (" 30 M ", "hours", 0.5),
        ("90s", "minutes", 1.5), ("2", "days", 2.0), (".5h", "seconds", 1800.0),
        # a plain number as float() reads it, its range the setting's to check
        ("1e3", "seconds", 1000.0), ("-1", "hours", -1.0),
    ],
)  # fmt: skip
def test_parse_duration(text: str, unit: str, value: float) -> None:
    assert parse_duration(text, unit) == value


@pytest.mark.parametrize("text", ["", "h", "-1h", "1w", "1h30m", "inf", "-inf", "nan", "one"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration \(such as 90s, 15m, 72h or 3d\)"):
        parse_duration(text)


def test_a_duration_mark_names_a_known_unit() -> None:
    with pytest.raises(ValueError, match="'weeks' is not one of seconds, minutes, hours, days"):
        Duration("weeks")


def test_plc_settings_from_variables() -> None:
    made = plc_settings_from_env(
        {
            "STRATO_PLC_DATA_DIR": "/srv/plc",
            "STRATO_PLC_PORT": "3582",
            "STRATO_PLC_RATE_LIMITS": "true",
            "STRATO_PLC_MAX_CONNECTIONS_PER_IP": "5",
        },
        host="0.0.0.0",
    )
    assert made == PlcSettings(
        Path("/srv/plc"), rate_limits=True, host="0.0.0.0", port=3582, max_connections_per_ip=5
    )
    assert made.connection_limits.max_connections_per_ip == 5
    with pytest.raises(ValueError, match="port 70000 is not between 0 and 65535"):
        plc_settings_from_env({"STRATO_PLC_PORT": "70000"})
    with pytest.raises(ValueError, match="STRATO_PLC_RATE_LIMITS must be true or false"):
        plc_settings_from_env({"STRATO_PLC_RATE_LIMITS": "sometimes"})
