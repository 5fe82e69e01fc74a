"""Relay settings: defaults, the per-check policy, and the errors of bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from strato.relay.settings import (
    DEFAULT_RETENTION_BYTES,
    RelaySettings,
    load_policy,
    settings_from_env,
)
from strato.sync import VerifyPolicy


def test_defaults_are_strict_with_a_72_hour_20_gb_window() -> None:
    settings = RelaySettings()
    assert settings.port == 2584
    assert settings.host == "127.0.0.1"
    assert settings.public_url == "http://localhost:2584"
    assert settings.event_retention_hours == 72
    assert DEFAULT_RETENTION_BYTES == 20_000_000_000
    assert settings.verify_policy == VerifyPolicy()


def test_lenient_relaxes_every_check_and_the_policy_wins_per_check() -> None:
    lenient = RelaySettings(lenient=True, policy={"high_s": True})
    policy = lenient.verify_policy
    assert policy.is_strict("high_s")
    assert not policy.is_strict("rev_in_future")
    assert policy.is_strict("bad_signature")  # never relaxable
    assert policy == VerifyPolicy(strict=False, checks={"high_s": True})
    # Built once: the same object for every reader, and a setting of its own for nobody.
    assert lenient.verify_policy is policy
    assert "verify_policy" not in repr(lenient)
    assert settings_from_env({"STRATO_RELAY_VERIFY_POLICY": "x"}).verify_policy == VerifyPolicy()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"policy": {"bad_signature": False}}, "policy check 'bad_signature' is not one of"),
        ({"policy": {"high_s": "no"}}, "must be true (strict) or false"),
        ({"port": 70000}, "not between 0 and 65535"),
        ({"plc_url": "ftp://plc"}, "is not an http(s) URL"),
        ({"public_url": "https://relay.example.com/path"}, "must have no path"),
        ({"event_retention_hours": 0}, "must be positive"),
        ({"workers": -1}, "cannot be negative"),
        ({"consumer_buffer": 0}, "must hold at least one event"),
    ],
)
def test_bad_settings_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RelaySettings(**options)  # type: ignore[arg-type]


def test_settings_from_environment_variables_and_a_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text('{"rev_in_future": false}')
    settings = settings_from_env(
        {
            "STRATO_RELAY_PORT": "3000",
            "STRATO_RELAY_CRAWL": "pds1.example.com, pds2.example.com",
            "STRATO_RELAY_EVENT_RETENTION_BYTES": "5GB",
            "STRATO_RELAY_LOCAL_NETWORK": "yes",
            "STRATO_RELAY_POLICY_FILE": str(policy),
        },
        port=None,
        lenient=True,
    )
    assert settings.port == 3000
    assert settings.crawl == ("pds1.example.com", "pds2.example.com")
    assert settings.event_retention_bytes == 5 << 30
    assert settings.local_network
    assert settings.lenient
    assert settings.verify_policy == VerifyPolicy(strict=False, checks={"rev_in_future": False})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"STRATO_RELAY_PORT": "abc"}, "STRATO_RELAY_PORT must be an integer"),
        ({"STRATO_RELAY_LENIENT": "maybe"}, "STRATO_RELAY_LENIENT must be true or false"),
        ({"STRATO_RELAY_EVENT_RETENTION_HOURS": "x"}, "must be a number of hours"),
    ],
)
def test_bad_environment_values_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from_env(environ)


def test_a_policy_file_must_hold_an_object(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text("[1]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        load_policy(path)
    with pytest.raises(ValueError, match="cannot read the policy file"):
        load_policy(tmp_path / "missing.json")


def test_allowed_networks_and_trusted_domains() -> None:
    settings = settings_from_env(
        {
            "STRATO_RELAY_ALLOW_NETWORK": "10.0.0.0/8, fd00::/8",
            "STRATO_RELAY_TRUSTED_DOMAINS": "PDS.example.com,*.host.example",
        }
    )
    assert settings.allow_network == ("10.0.0.0/8", "fd00::/8")
    assert settings.trusted_domains == ("pds.example.com", "*.host.example")
    assert not settings.network_policy.local_network
    assert [str(network) for network in settings.network_policy.allowed] == [
        "10.0.0.0/8", "fd00::/8",
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"'10\.0\.0\.1/8' is not a network in CIDR form"):
        settings_from_env({"STRATO_RELAY_ALLOW_NETWORK": "10.0.0.1/8"})
