"""The connection-limit options of every server command (``strato plc``, ``pds``, ``relay``,
``up``): in ``--help`` with their variables and defaults, read from options over
``STRATO_<SERVICE>_*`` variables, no per-IP cap behind ``--trust-proxy``, and bad values
refused with one ``strato: error:`` line before anything is created."""

from __future__ import annotations

from pathlib import Path

import pytest
from strato.cli.main import build_parser, main
from strato.cli.pds import pds_settings
from strato.cli.relay import relay_settings
from strato.cli.serving import connection_limits
from strato.service.limits import ConnectionLimits

COMMANDS = {
    "plc": "STRATO_PLC_",
    "pds": "STRATO_PDS_",
    "relay": "STRATO_RELAY_",
    "up": "STRATO_UP_",
}


def limits_of(command: str, argv: list[str], environ: dict[str, str]) -> ConnectionLimits:
    args = build_parser().parse_args([command, *argv])
    if command == "pds":
        return pds_settings(args, environ).connection_limits
    if command == "relay":
        return relay_settings(args, environ).connection_limits
    return connection_limits(args, COMMANDS[command], environ)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_the_options_their_variables_and_defaults(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in (
        "header-timeout",
        "keepalive-timeout",
        "max-connections",
        "max-connections-per-ip",
    ):
        assert f"--{option}" in text
        assert COMMANDS[command] + option.upper().replace("-", "_") in text
    for default in ("default 10;", "default 75;", "default 256;", "default: half the open-file"):
        assert default in text


@pytest.mark.parametrize("command", COMMANDS)
def test_options_win_over_variables(command: str) -> None:
    prefix = COMMANDS[command]
    environ = {f"{prefix}HEADER_TIMEOUT": "9", f"{prefix}MAX_CONNECTIONS": "100"}
    argv = ["--header-timeout", "2.5", "--keepalive-timeout", "30", "--max-connections-per-ip", "8"]
    assert limits_of(command, argv, environ) == ConnectionLimits(
        header_timeout=2.5, keepalive_timeout=30, max_connections=100, max_connections_per_ip=8
    )
    assert limits_of(command, [], {}) == ConnectionLimits()


@pytest.mark.parametrize("command", ["pds", "relay"])
def test_no_per_ip_cap_behind_trusted_proxies(command: str) -> None:
    environ = {COMMANDS[command] + "TRUST_PROXY": "1"}
    assert (
        limits_of(command, ["--max-connections-per-ip", "8"], environ).max_connections_per_ip == 0
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plc", "--header-timeout", "0"],
         "the header timeout must be a positive number of seconds, not 0.0"),
        (["pds", "--keepalive-timeout", "inf"],
         "the keepalive timeout must be a positive number of seconds, not inf"),
        (["relay", "--max-connections", "0"], "max connections must be at least 1, not 0"),
        (["up", "--max-connections-per-ip", "-1"],
         "max connections per IP must be 0 (no cap) or more, not -1"),
        (["STRATO_PDS_HEADER_TIMEOUT=soon", "pds"],
         "STRATO_PDS_HEADER_TIMEOUT must be a number of seconds"),
        (["STRATO_PLC_MAX_CONNECTIONS=many", "plc"],
         "STRATO_PLC_MAX_CONNECTIONS must be an integer"),
        (["STRATO_RELAY_MAX_CONNECTIONS_PER_IP=1.5", "relay"],
         "STRATO_RELAY_MAX_CONNECTIONS_PER_IP must be an integer"),
        (["STRATO_UP_KEEPALIVE_TIMEOUT=nan", "up"],
         "the keepalive timeout must be a positive number of seconds, not nan"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    message: str,
) -> None:
    """``argv`` may start with ``VARIABLE=value`` items, set in the environment."""
    while "=" in argv[0]:
        monkeypatch.setenv(*argv[0].split("=", 1))
        argv = argv[1:]
    code = main([*argv, "--data-dir", str(tmp_path / "data")])
    out, err = capsys.readouterr()
    assert (code, out, err) == (1, "", f"strato: error: {message}\n")
    assert not (tmp_path / "data").exists()


def test_a_timeout_that_is_no_number_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["plc", "--header-timeout", "soon"])
    assert exited.value.code == 2
    assert "argument --header-timeout: invalid float value: 'soon'" in capsys.readouterr().err
