"""Session tokens at the PDS's door: expired, foreign (another PDS's secret or audience),
of the wrong kind, or malformed, each refused with its error and nothing written."""

from __future__ import annotations

import time
from typing import Any

from pds_net import LocalPds
from strato.xrpc.auth import AuthScope, create_session_tokens

POST = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-11-24T00:00:00Z"}


def _write(pds: LocalPds, did: str, token: str) -> tuple[int, str]:
    response = pds.xrpc(
        "com.atproto.repo.createRecord", token=token,
        json={"repo": did, "collection": "app.bsky.feed.post", "record": POST},
    )  # fmt: skip
    body: dict[str, Any] = response.json()
    return response.status_code, body["error"]


def test_bad_session_tokens_write_nothing(pds: LocalPds) -> None:
    session = pds.create_account("alice.test")
    did = session["did"]
    secret = pds.ctx.auth.jwt_secret
    service = pds.settings.service_did
    head = pds.ctx.sequencer.head()
    expired = create_session_tokens(secret, service, did, now=time.time() - 3 * 3600)
    other_secret = create_session_tokens(b"x" * 32, service, did)
    other_audience = create_session_tokens(secret, "did:web:pds.example.com", did)
    refresh_scope = create_session_tokens(secret, service, did, scope=AuthScope.REFRESH)
    cases = {
        "expired": (expired.access_jwt, (400, "ExpiredToken")),
        "another PDS's secret": (other_secret.access_jwt, (400, "InvalidToken")),
        "another PDS's audience": (other_audience.access_jwt, (400, "InvalidToken")),
        "a refresh token": (session["refreshJwt"], (400, "InvalidToken")),
        "an access token with the refresh scope": (refresh_scope.access_jwt, (400, "InvalidToken")),
        "not a JWT": ("not-a-jwt", (400, "InvalidToken")),
        "a truncated JWT": (session["accessJwt"].rsplit(".", 1)[0], (400, "InvalidToken")),
    }
    for name, (token, expected) in cases.items():
        assert _write(pds, did, token) == expected, name
    assert pds.ctx.sequencer.head() == head
    # the real token still writes
    assert pds.xrpc(
        "com.atproto.repo.createRecord", token=session["accessJwt"],
        json={"repo": did, "collection": "app.bsky.feed.post", "record": POST},
    ).status_code == 200  # fmt: skip


def test_an_expired_refresh_token_cannot_refresh(pds: LocalPds) -> None:
    session = pds.create_account("bob.test")
    expired = create_session_tokens(
        pds.ctx.auth.jwt_secret, pds.settings.service_did, session["did"],
        now=time.time() - 100 * 86400,
    )  # fmt: skip
    response = pds.xrpc("com.atproto.server.refreshSession", token=expired.refresh_jwt, content=b"")
    assert (response.status_code, response.json()["error"]) == (400, "ExpiredToken")
