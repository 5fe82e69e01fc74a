"""Domain bans (:mod:`strato.relay.bans`): a pattern bans its domain and every subdomain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from strato.relay.bans import TABLES, DomainBans, candidates, normalize_domain
from strato.relay.ssrf import HostnameError
from strato.storage import Store


@pytest.fixture
def bans(tmp_path: Path) -> Iterator[DomainBans]:
    with Store.open(tmp_path / "b", name="relay", schema_version=1, tables=TABLES) as store:
        yield DomainBans(store)


def test_a_pattern_bans_the_domain_and_its_subdomains(bans: DomainBans) -> None:
    assert bans.ban(None, "Example.COM") == "example.com"
    assert bans.banned_by(None, "example.com") == "example.com"
    assert bans.banned_by(None, "pds.example.com") == "example.com"
    assert bans.banned_by(None, "a.b.EXAMPLE.com:2583") == "example.com"
    assert not bans.is_banned(None, "notexample.com")
    assert not bans.is_banned(None, "example.com.au")
    assert not bans.is_banned(None, "com")
    assert bans.unban(None, "example.com")
    assert not bans.unban(None, "example.com")
    assert not bans.is_banned(None, "pds.example.com")


def test_patterns_are_listed_and_normalized(bans: DomainBans) -> None:
    bans.ban(None, "*.spam.example")
    bans.ban(None, ".other.test")
    bans.ban(None, "localhost")
    assert bans.patterns() == ["localhost", "other.test", "spam.example"]
    assert bans.is_banned(None, "localhost:2583")


def test_ip_literals_match_only_themselves(bans: DomainBans) -> None:
    bans.ban(None, "10.0.0.1")
    assert bans.is_banned(None, "10.0.0.1:2583")
    assert not bans.is_banned(None, "0.0.1")
    assert candidates("[::1]:2583") == ["::1"]
    assert candidates("a.b.c") == ["a.b.c", "b.c", "c"]


@pytest.mark.parametrize(
    "value",
    ["", "https://example.com", "example.com:443", "example.com/x", "exa mple.com", "-x.com"],
)
def test_bad_patterns(value: str) -> None:
    with pytest.raises(HostnameError):
        normalize_domain(value)
