"""The relay's hostname rules and address check (:mod:`strato.relay.ssrf`): every bad input
gets its error, a local network relaxes exactly what it should (loopback, not the private
ranges), ``--allow-network`` opens exactly its network."""

from __future__ import annotations

import asyncio

import pytest
from localnet import LocalDns
from strato.identity.dnsclient import DnsClient
from strato.netpolicy import NetworkPolicy
from strato.relay.ssrf import (
    AddressError,
    HostnameError,
    ParsedHostname,
    UnresolvedHostError,
    check_target,
    parse_hostname,
    resolve_addresses,
)

PUBLIC_ONLY = NetworkPolicy()
LOCAL = NetworkPolicy(local_network=True)

PDS = "pds.example.com"


@pytest.mark.parametrize(
    ("value", "no_ssl"),
    [
        ("pds.example.com", None),
        ("PDS.Example.COM", None),
        ("https://pds.example.com/", False),
        ("wss://pds.example.com", False),
        ("  pds.example.com  ", None),
    ],
)
def test_public_hostnames(value: str, no_ssl: bool | None) -> None:
    assert parse_hostname(value, local_network=False) == ParsedHostname(PDS, PDS, None, no_ssl)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://pds.example.com", "scheme 'ftp' not allowed"),
        ("https://", "is not a hostname"),
        ("pds.example.com/xrpc", "is not a hostname"),
        ("pds.example.com?x=1", "is not a hostname"),
        ("user@pds.example.com", "is not a hostname"),
        ("pds.example.com:443", "port number is only allowed on a local network"),
        ("pds.example.com:2583", "port number is only allowed on a local network"),
        ("localhost:2583", "port number is only allowed on a local network"),
        ("localhost", "not a valid DNS hostname"),
        ("pds", "not a valid DNS hostname"),
        ("127.0.0.1", "an IP address is not a hostname"),
        ("8.8.8.8", "an IP address is not a hostname"),
        ("[::1]", "an IP address is not a hostname"),
        ("2001:db8::1", "an IP address is not a hostname"),
        ("pds_1.example.com", "not a valid DNS hostname"),
        ("-pds.example.com", "not a valid DNS hostname"),
        ("pds.example.com.", "not a valid DNS hostname"),
        ("http://pds.example.com", "requires SSL"),
        ("ws://pds.example.com", "requires SSL"),
    ],
)
def test_bad_public_hostnames(value: str, message: str) -> None:
    with pytest.raises(HostnameError, match=message):
        parse_hostname(value, local_network=False)


def test_an_admin_may_add_a_plain_http_host() -> None:
    parsed = parse_hostname("http://pds.example.com", local_network=False, admin=True)
    assert parsed == ParsedHostname("pds.example.com", "pds.example.com", None, True)
    with pytest.raises(HostnameError, match="port number"):
        parse_hostname("http://pds.example.com:8080", local_network=False, admin=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost:2583", ParsedHostname("localhost:2583", "localhost", 2583, None)),
        ("http://LocalHost:2583", ParsedHostname("localhost:2583", "localhost", 2583, True)),
        ("pds:2583", ParsedHostname("pds:2583", "pds", 2583, None)),
        ("127.0.0.1:2583", ParsedHostname("127.0.0.1:2583", "127.0.0.1", 2583, None)),
        ("[::1]:2583", ParsedHostname("[::1]:2583", "::1", 2583, None)),
        ("pds.test", ParsedHostname("pds.test", "pds.test", None, None)),
        ("ws://pds.test:80", ParsedHostname("pds.test:80", "pds.test", 80, True)),
    ],
)
def test_local_network_hostnames(value: str, expected: ParsedHostname) -> None:
    assert parse_hostname(value, local_network=True) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("localhost:0", "bad port"),
        ("localhost:65536", "bad port"),
        ("localhost:http", "bad port"),
        ("localhost:", "bad port"),
        ("localhost:" + "9" * 5000, "bad port"),  # refused before it is converted
        ("[::1]:" + "9" * 5000, "bad port"),
        ("[::1", "is not a hostname"),
        ("[::1]x", "is not a hostname"),
        ("[pds]:80", "is not a hostname"),
        ("pds_1:2583", "not a valid DNS hostname"),
    ],
)
def test_bad_local_network_hostnames(value: str, message: str) -> None:
    with pytest.raises(HostnameError, match=message):
        parse_hostname(value, local_network=True)


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [
        ("127.0.0.1", 443, "loopback address"),
        ("::1", 443, "loopback address"),
        ("10.1.2.3", 443, "private address"),
        ("192.168.1.1", 80, "private address"),
        ("172.16.0.1", 443, "private address"),
        ("169.254.169.254", 80, "link-local address"),
        ("224.0.0.1", 443, "multicast address"),
        ("0.0.0.0", 443, "unspecified address"),
        ("240.0.0.1", 443, "reserved address"),
        ("100.64.0.1", 443, "shared address"),
        ("::ffff:127.0.0.1", 443, "loopback address"),
        ("8.8.8.8", 8080, "port 8080 not allowed"),
        ("localhost", 443, r"loopback address \(localhost resolves to"),
        ("no-such-host.invalid", 443, "cannot resolve no-such-host.invalid"),
    ],
)
def test_refused_addresses(host: str, port: int, message: str) -> None:
    with pytest.raises(AddressError, match=message):
        asyncio.run(resolve_addresses(host, port, policy=PUBLIC_ONLY, dns=DnsClient()))


def test_a_public_address_passes() -> None:
    found = asyncio.run(resolve_addresses("8.8.8.8", 443, policy=PUBLIC_ONLY, dns=DnsClient()))
    assert [str(address) for address in found] == ["8.8.8.8"]


def test_a_local_network_reaches_loopback_on_any_port_over_plain_http() -> None:
    target = asyncio.run(check_target("localhost:2583", no_ssl=None, policy=LOCAL, dns=DnsClient()))
    assert target.hostname == "localhost:2583"
    assert target.host == "localhost"
    assert target.port == 2583
    assert target.no_ssl
    assert {str(address) for address in target.addresses} <= {"127.0.0.1", "::1"}
    explicit = asyncio.run(
        check_target("localhost:2583", no_ssl=False, policy=LOCAL, dns=DnsClient())
    )
    assert not explicit.no_ssl
    with pytest.raises(UnresolvedHostError, match="cannot resolve"):
        asyncio.run(
            check_target("no-such-host.invalid", no_ssl=None, policy=LOCAL, dns=DnsClient())
        )


def test_the_check_of_a_stored_host_still_applies_the_rules() -> None:
    with pytest.raises(HostnameError, match="port number"):
        asyncio.run(
            check_target("localhost:2583", no_ssl=True, policy=PUBLIC_ONLY, dns=DnsClient())
        )
    with pytest.raises(HostnameError, match="an IP address"):
        asyncio.run(check_target("127.0.0.1", no_ssl=False, policy=PUBLIC_ONLY, dns=DnsClient()))


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("10.1.2.3", "private address"),
        ("192.168.0.10", "private address"),
        ("169.254.169.254", "link-local address"),
        ("100.64.0.1", "shared address"),
        ("fd00::1", "private address"),
        ("fe80::1", "link-local address"),
        ("0.0.0.0", "unspecified address"),
        ("::ffff:192.168.0.10", "private address"),
        ("lan-pds.test", r"private address \(lan-pds.test resolves to 10.9.9.9\)"),
    ],
)
def test_a_local_network_refuses_every_non_public_address_but_loopback(
    local_dns: LocalDns, host: str, message: str
) -> None:
    local_dns.a("lan-pds.test", "10.9.9.9")
    dns = DnsClient([local_dns.address])
    with pytest.raises(AddressError, match=message):
        asyncio.run(resolve_addresses(host, 2583, policy=LOCAL, dns=dns))
    assert asyncio.run(resolve_addresses("127.0.0.1", 2583, policy=LOCAL, dns=dns))
    assert asyncio.run(resolve_addresses("::1", 2583, policy=LOCAL, dns=dns))


def test_an_allowed_network_passes_the_policy(local_dns: LocalDns) -> None:
    local_dns.a("lan-pds.test", "10.9.9.9")
    dns = DnsClient([local_dns.address])
    for local_network in (True, False):
        policy = NetworkPolicy.from_options(
            local_network=local_network, allow_network=["10.0.0.0/8"]
        )
        found = asyncio.run(resolve_addresses("lan-pds.test", 443, policy=policy, dns=dns))
        assert [str(address) for address in found] == ["10.9.9.9"]
        with pytest.raises(AddressError, match="private address"):
            asyncio.run(resolve_addresses("192.168.0.10", 443, policy=policy, dns=dns))
    local = NetworkPolicy.from_options(local_network=True, allow_network=["10.0.0.0/8"])
    target = asyncio.run(check_target("10.1.2.3:2583", no_ssl=None, policy=local, dns=dns))
    assert (target.no_ssl, target.port, [str(a) for a in target.addresses]) == (
        True, 2583, ["10.1.2.3"],
    )  # fmt: skip
