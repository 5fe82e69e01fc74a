"""The outbound network policy (:mod:`strato.netpolicy`): every kind of address in each mode,
``--allow-network`` opening exactly its networks, the scheme and port rules, CIDR parsing, and
where a checked destination sends a request."""

from __future__ import annotations

import ipaddress

import pytest
from strato.netpolicy import Destination, NetworkPolicy, address_kind, parse_network

PUBLIC_ONLY = NetworkPolicy()
LOCAL = NetworkPolicy(local_network=True)
LAN = NetworkPolicy.from_options(local_network=False, allow_network=["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
        ("127.0.0.1", "loopback address"),
        ("127.8.9.10", "loopback address"),
        ("::1", "loopback address"),
        ("10.0.0.1", "private address"),
        ("172.16.5.4", "private address"),
        ("192.168.1.1", "private address"),
        ("fc00::1", "private address"),
        ("fd12:3456::1", "private address"),
        ("169.254.169.254", "link-local address"),
        ("fe80::1", "link-local address"),
        ("100.64.0.1", "shared address"),
        ("100.127.255.254", "shared address"),
        ("224.0.0.1", "multicast address"),
        ("ff02::1", "multicast address"),
        ("0.0.0.0", "unspecified address"),
        ("::", "unspecified address"),
        ("240.0.0.1", "reserved address"),
        ("192.0.2.1", "private address"),  # documentation (TEST-NET-1)
        ("::ffff:10.0.0.1", "private address"),
        ("::ffff:127.0.0.1", "loopback address"),
        ("::ffff:93.184.216.34", None),
        ("2002:0a00:0001::1", "private address"),  # 6to4 of 10.0.0.1
        ("2002:7f00:0001::1", "loopback address"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "link-local address"),  # 6to4 of 169.254.169.254
        ("2002:5db8:d822::1", None),  # 6to4 of 93.184.216.34
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private address"),  # Teredo
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    ("address", "public_only", "local", "lan"),
    [
        ("93.184.216.34", None, None, None),
        ("127.0.0.1", "loopback address", None, "loopback address"),
        ("::1", "loopback address", None, "loopback address"),
        ("10.1.2.3", "private address", "private address", None),
        ("::ffff:10.1.2.3", "private address", "private address", None),
        ("2002:0a01:0203::1", "private address", "private address", None),
        ("fd00::5", "private address", "private address", None),
        ("fc00::5", "private address", "private address", "private address"),
        ("192.168.0.1", "private address", "private address", "private address"),
        ("169.254.169.254", "link-local address", "link-local address", "link-local address"),
        ("100.64.0.1", "shared address", "shared address", "shared address"),
        ("0.0.0.0", "unspecified address", "unspecified address", "unspecified address"),
    ],
)
def test_what_each_mode_allows(
    address: str, public_only: str | None, local: str | None, lan: str | None
) -> None:
    ip = ipaddress.ip_address(address)
    assert PUBLIC_ONLY.address_problem(ip) == public_only
    assert LOCAL.address_problem(ip) == local
    assert LAN.address_problem(ip) == lan


def test_schemes_and_ports() -> None:
    assert PUBLIC_ONLY.scheme_problem("https") is None
    assert PUBLIC_ONLY.scheme_problem("wss") is None
    assert PUBLIC_ONLY.scheme_problem("http") == "scheme 'http' not allowed (https only)"
    assert LAN.scheme_problem("ws") == "scheme 'ws' not allowed (https only)"
    assert LOCAL.scheme_problem("http") is None
    assert LOCAL.scheme_problem("ftp") == "scheme 'ftp' not allowed"
    assert PUBLIC_ONLY.port_problem("https", None) is None
    assert PUBLIC_ONLY.port_problem("https", 443) is None
    assert PUBLIC_ONLY.port_problem("https", 8443) == "non-standard port 8443"
    assert LAN.port_problem("https", 80) == "non-standard port 80"
    assert LOCAL.port_problem("http", 2583) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.0.0.1/8", "has host bits set"),
        ("10.0.0.0/33", "not a network in CIDR form"),
        ("lan", "not a network in CIDR form"),
        ("", "not a network in CIDR form"),
    ],
)
def test_bad_networks(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_network(text)


def test_a_bare_address_is_one_host() -> None:
    policy = NetworkPolicy.from_options(local_network=False, allow_network=[" 10.0.0.5 "])
    assert policy.address_problem(ipaddress.ip_address("10.0.0.5")) is None
    assert policy.address_problem(ipaddress.ip_address("10.0.0.6")) == "private address"


def test_a_destination_pins_the_address_and_keeps_the_name() -> None:
    v4 = ipaddress.ip_address("10.0.0.5")
    v6 = ipaddress.ip_address("fd00::5")
    plain = Destination("http", "pds.lan", 2583, (v4, v6))
    assert plain.authority == "pds.lan:2583"
    assert plain.url(v4, "/xrpc/x?a=1") == "http://10.0.0.5:2583/xrpc/x?a=1"
    assert plain.url(v6, "/") == "http://[fd00::5]:2583/"
    assert Destination("https", "pds.example.com", 443, (v4,)).authority == "pds.example.com"
    assert Destination("https", "::1", 8443, (v6,)).authority == "[::1]:8443"
