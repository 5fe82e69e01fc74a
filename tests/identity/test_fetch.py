"""The guarded HTTP client (``strato.identity.fetch``): the network policy's refusals with their
reasons (a local network included), pinning to the checked address, redirects, size caps and
timeouts. Public hosts are answered by the
local DNS server; what a public host would serve comes from ``httpx.MockTransport`` (the point
there is the request's shape), everything else from the real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
from localnet import LocalDns, LocalHttp
from strato.errors import (
    DidResolutionError,
    IdentityUnavailableError,
    UnsafeAddressError,
)
from strato.identity.dnsclient import DnsClient, parse_nameserver
from strato.identity.fetch import Fetcher, Response
from strato.netpolicy import NetworkPolicy

PUBLIC = "93.184.216.34"


def fetch(
    url: str,
    *,
    dns: LocalDns | None = None,
    local_network: bool = False,
    allow: tuple[str, ...] = (),
    handler: Callable[[httpx.Request], Coroutine[None, None, httpx.Response]] | None = None,
    timeout: float = 5.0,
    **options: Any,
) -> Response:
    async def run() -> Response:
        client = DnsClient([dns.address] if dns else None, timeout=2.0)
        transport = httpx.MockTransport(handler) if handler else None
        policy = NetworkPolicy.from_options(local_network=local_network, allow_network=allow)
        fetcher = Fetcher(client, policy=policy, timeout=timeout, transport=transport)
        try:
            options.setdefault("max_bytes", 4096)
            options.setdefault("failure", DidResolutionError)
            return await fetcher.get(url, **options)
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


def refused(url: str, *, at: str | None = None, **options: Any) -> str:
    """The reason ``url`` is refused; ``at`` is the refused URL (default ``url``)."""
    with pytest.raises(UnsafeAddressError) as info:
        fetch(url, **options)
    assert info.value.subject == (at or url)
    return info.value.reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/", "scheme 'http' not allowed (https only)"),
        ("file:///etc/passwd", "scheme 'file' not allowed"),
        ("https://example.com:8080/", "non-standard port 8080"),
        ("https://127.0.0.1/", "loopback address"),
        ("https://[::1]/", "loopback address"),
        ("https://10.0.0.1/", "private address"),
        ("https://192.168.1.1/", "private address"),
        ("https://[fc00::1]/", "private address"),
        ("https://[::ffff:10.0.0.1]/", "private address"),
        ("https://[::ffff:127.0.0.1]/", "loopback address"),
        ("https://169.254.169.254/latest/meta-data", "link-local address"),
        ("https://[fe80::1]/", "link-local address"),
        ("https://224.0.0.1/", "multicast address"),
        ("https://[ff02::1]/", "multicast address"),
        ("https://0.0.0.0/", "unspecified address"),
        ("https://240.0.0.1/", "reserved address"),
        ("https://100.64.0.1/", "shared address"),
    ],
)
def test_refused_urls(url: str, reason: str) -> None:
    assert refused(url) == reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1:8080/", "private address"),
        ("http://192.168.1.1/", "private address"),
        ("http://169.254.169.254/latest/meta-data", "link-local address"),
        ("http://100.64.0.1/", "shared address"),
        ("http://[fd00::1]/", "private address"),
        ("http://[fe80::1]/", "link-local address"),
        ("http://0.0.0.0:9/", "unspecified address"),
        ("http://[::ffff:10.0.0.1]/", "private address"),
    ],
)
def test_a_local_network_refuses_all_but_loopback(url: str, reason: str) -> None:
    assert refused(url, local_network=True) == reason


def test_a_local_network_refuses_a_name_resolving_to_a_private_address(
    local_dns: LocalDns,
) -> None:
    local_dns.a("evil.test", "127.0.0.1", "10.9.8.7")
    reason = refused("http://evil.test:8080/", dns=local_dns, local_network=True)
    assert reason == "private address (evil.test resolves to 10.9.8.7)"


@pytest.mark.parametrize("local_network", [False, True])
def test_an_allowed_network_is_reached(local_dns: LocalDns, local_network: bool) -> None:
    local_dns.a("pds.lan", "10.1.2.3")
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.headers['Host']} {request.url}")
        return httpx.Response(200, content=b"ok")

    options: dict[str, Any] = {"dns": local_dns, "handler": handler, "allow": ("10.0.0.0/8",)}
    assert fetch("https://pds.lan/x", local_network=local_network, **options).body == b"ok"
    assert seen == ["pds.lan https://10.1.2.3/x"]
    # only that network: the rest keeps its rules
    assert refused("https://192.168.1.1/", local_network=local_network, **options) == (
        "private address"
    )


def test_hostname_resolving_to_a_private_address(local_dns: LocalDns) -> None:
    local_dns.a("evil.example.com", "10.1.2.3")
    reason = refused("https://evil.example.com/x", dns=local_dns)
    assert reason == "private address (evil.example.com resolves to 10.1.2.3)"


def test_any_private_address_among_several_refuses(local_dns: LocalDns) -> None:
    local_dns.a("mixed.example.com", PUBLIC, "::1")
    reason = refused("https://mixed.example.com/", dns=local_dns)
    assert reason == "loopback address (mixed.example.com resolves to ::1)"


def test_unresolvable_host_is_the_callers_failure(local_dns: LocalDns) -> None:
    with pytest.raises(DidResolutionError) as info:
        fetch("https://nowhere.example.com/", dns=local_dns)
    assert info.value.reason == "host nowhere.example.com does not resolve"


def test_connection_is_pinned_to_the_checked_address(local_dns: LocalDns) -> None:
    local_dns.a("pds.example.com", PUBLIC)
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"ok")

    response = fetch("https://pds.example.com/.well-known/did.json", dns=local_dns, handler=handler)
    assert response == Response("https://pds.example.com/.well-known/did.json", 200, b"ok")
    (request,) = seen
    assert str(request.url) == f"https://{PUBLIC}/.well-known/did.json"
    assert request.headers["Host"] == "pds.example.com"
    assert request.extensions["sni_hostname"] == "pds.example.com"


def test_pinning_to_an_ipv6_address(local_dns: LocalDns) -> None:
    local_dns.a("v6.example.com", "2606:4700::1111")
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.headers['Host']} {request.url}")
        return httpx.Response(200, content=b"ok")

    assert fetch("https://v6.example.com/a", dns=local_dns, handler=handler).body == b"ok"
    assert seen == ["v6.example.com https://[2606:4700::1111]/a"]


def test_redirects_are_checked_at_every_hop(local_dns: LocalDns) -> None:
    local_dns.a("a.example.com", PUBLIC)
    local_dns.a("internal.example.com", "10.0.0.5")

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://internal.example.com/secret"})

    at = "https://internal.example.com/secret"
    reason = refused("https://a.example.com/", at=at, dns=local_dns, handler=handler, redirects=3)
    assert reason == "private address (internal.example.com resolves to 10.0.0.5)"


def test_redirect_to_http_is_refused(local_dns: LocalDns) -> None:
    local_dns.a("a.example.com", PUBLIC)

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": "http://a.example.com/"})

    reason = refused(
        "https://a.example.com/",
        at="http://a.example.com/",
        dns=local_dns,
        handler=handler,
        redirects=1,
    )
    assert reason == "scheme 'http' not allowed (https only)"


def test_redirects_followed_up_to_the_limit(local_http: LocalHttp) -> None:
    local_http.serve("/one", b"", status=302, location="/two")
    local_http.serve("/two", b"", status=307, location=f"{local_http.url}/three")
    local_http.serve("/three", b"done")
    url = f"{local_http.url}/one"
    response = fetch(url, local_network=True, redirects=2)
    assert response == Response(f"{local_http.url}/three", 200, b"done")
    with pytest.raises(DidResolutionError) as info:
        fetch(url, local_network=True, redirects=1)
    assert info.value.reason == "more than 1 redirects"
    with pytest.raises(DidResolutionError) as info:
        fetch(url, local_network=True)
    assert info.value.reason == "more than 0 redirects"


def test_redirect_without_location(local_http: LocalHttp) -> None:
    local_http.serve("/r", b"", status=302)
    with pytest.raises(DidResolutionError) as info:
        fetch(f"{local_http.url}/r", local_network=True, redirects=1)
    assert info.value.reason == "redirect (302) without Location"


def test_trusted_urls_skip_the_guard(local_http: LocalHttp) -> None:
    local_http.serve("/doc", b"{}")
    assert fetch(f"{local_http.url}/doc", trusted=True).body == b"{}"
    assert refused(f"{local_http.url}/doc") == "scheme 'http' not allowed (https only)"


@pytest.mark.parametrize("chunked", [False, True])
def test_size_limit(local_http: LocalHttp, chunked: bool) -> None:
    local_http.serve("/exact", b"x" * 4096, chunked=chunked)
    local_http.serve("/big", b"x" * 4097, chunked=chunked)
    assert len(fetch(f"{local_http.url}/exact", local_network=True).body) == 4096
    with pytest.raises(DidResolutionError) as info:
        fetch(f"{local_http.url}/big", local_network=True)
    expected = "over 4096 bytes" if chunked else "4097 bytes, limit 4096"
    assert info.value.reason == f"response too large ({expected})"


def test_timeout(local_http: LocalHttp) -> None:
    local_http.serve("/slow", b"late")
    local_http.delay = 1.0
    with pytest.raises(IdentityUnavailableError) as info:
        fetch(f"{local_http.url}/slow", local_network=True, timeout=0.3)
    assert info.value.reason == "timed out"


def test_connection_refused() -> None:
    with pytest.raises(IdentityUnavailableError) as info:
        fetch("http://127.0.0.1:9/", local_network=True)
    assert info.value.reason.startswith("HTTP request failed")


def test_local_network_with_own_dns_pins_to_its_answer(
    local_dns: LocalDns, local_http: LocalHttp
) -> None:
    local_dns.a("pds.test", "127.0.0.1")
    local_http.serve("/hello", b"from pds.test", host="pds.test")
    response = fetch(f"http://pds.test:{local_http.port}/hello", dns=local_dns, local_network=True)
    assert response.body == b"from pds.test"
    assert local_http.hits[("pds.test", "/hello")] == 1


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("10.0.0.1", ("10.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:53", ("::1", 53)),
    ],
)
def test_parse_nameserver(value: str, parsed: tuple[str, int]) -> None:
    assert parse_nameserver(value) == parsed


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("dns.example.com", "not an IP address (IP[:PORT])"),
        ("10.0.0.1:0", "bad port"),
        ("10.0.0.1:x", "bad port"),
        ("[::1]x", "bad port"),
        ("[::1]:70000", "bad port"),
    ],
)
def test_parse_nameserver_rejects(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"bad nameserver {value!r}: {reason}")):
        parse_nameserver(value)
