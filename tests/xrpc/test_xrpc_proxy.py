"""The atproto-proxy header: ``<did>#<service id>`` and every malformed form."""

from __future__ import annotations

import pytest
from strato.xrpc import ProxyTarget, XrpcError, parse_proxy_header


@pytest.mark.parametrize(
    ("value", "did", "service_id"),
    [
        ("did:web:api.bsky.app#bsky_appview", "did:web:api.bsky.app", "bsky_appview"),
        (
            "did:plc:ewvi7nxzyoun6zhxrhs64oiz#atproto_labeler",
            "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
            "atproto_labeler",
        ),
        ("did:web:localhost%3A2585#bsky_appview", "did:web:localhost%3A2585", "bsky_appview"),
    ],
)
def test_valid_headers(value: str, did: str, service_id: str) -> None:
    target = parse_proxy_header(value)
    assert target == ProxyTarget(did, service_id)
    assert str(target) == value
    assert target.audience == value


@pytest.mark.parametrize(
    "value",
    [
        "did:web:api.bsky.app",
        "did:web:api.bsky.app#",
        "#bsky_appview",
        "api.bsky.app#bsky_appview",
        "did:web:api.bsky.app#a#b",
        "did:web:api.bsky.app#bsky appview",
        "DID:web:api.bsky.app#bsky_appview",
        "",
    ],
)
def test_malformed_headers(value: str) -> None:
    with pytest.raises(XrpcError) as info:
        parse_proxy_header(value)
    assert (info.value.status, info.value.error) == (400, "InvalidRequest")
    assert info.value.message == f"invalid atproto-proxy header: {value!r}"
