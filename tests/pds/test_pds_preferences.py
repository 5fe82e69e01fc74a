"""``app.bsky.actor.getPreferences`` / ``putPreferences`` over HTTP: stored per account,
replaced whole, only the ``app.bsky`` namespace, the personal-details preference kept from
app-password sessions, and refusals that change nothing."""

from __future__ import annotations

from typing import Any

import msgspec
from pds_identity_helpers import error_of
from pds_net import LocalPds
from strato.pds.preferences import TABLE

GET = "app.bsky.actor.getPreferences"
PUT = "app.bsky.actor.putPreferences"
ADULT = {"$type": "app.bsky.actor.defs#adultContentPref", "enabled": True}
FEEDS = {"$type": "app.bsky.actor.defs#savedFeedsPrefV2", "items": []}
OUTSIDE = "Some preferences are not in the app.bsky namespace"
BIRTH = {"$type": "app.bsky.actor.defs#personalDetailsPref", "birthDate": "1990-01-01T00:00:00Z"}


def get(pds: LocalPds, token: str) -> list[dict[str, Any]]:
    response = pds.xrpc(GET, token=token)
    assert response.status_code == 200, response.text
    preferences: list[dict[str, Any]] = response.json()["preferences"]
    return preferences


def put(pds: LocalPds, token: str | None, preferences: Any) -> Any:
    return pds.xrpc(PUT, token=token, json={"preferences": preferences})


def app_password_token(pds: LocalPds, did: str, handle: str) -> str:
    password = pds.ctx.accounts.create_app_password(None, did, "app").password
    login = pds.xrpc(
        "com.atproto.server.createSession", json={"identifier": handle, "password": password}
    )
    token: str = login.json()["accessJwt"]
    return token


def test_put_then_get(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    bob = pds.create_account("bob.test")
    token = alice["accessJwt"]
    assert get(pds, token) == []
    assert put(pds, token, [ADULT, FEEDS, BIRTH]).status_code == 200
    assert get(pds, token) == [ADULT, FEEDS, BIRTH]
    assert get(pds, bob["accessJwt"]) == []
    # a put replaces the whole set
    assert put(pds, token, [FEEDS]).status_code == 200
    assert get(pds, token) == [FEEDS]
    assert put(pds, token, []).status_code == 200
    assert get(pds, token) == []


def test_personal_details_need_full_access(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    assert put(pds, alice["accessJwt"], [ADULT, BIRTH]).status_code == 200
    app_token = app_password_token(pds, alice["did"], "alice.test")
    assert get(pds, app_token) == [ADULT]
    refused = put(pds, app_token, [BIRTH])
    assert error_of(refused) == (400, "InvalidRequest")
    assert refused.json()["message"] == "Do not have authorization to set preferences."
    # an app password's put leaves the birth date alone
    assert put(pds, app_token, [FEEDS]).status_code == 200
    assert get(pds, alice["accessJwt"]) == [BIRTH, FEEDS]


def test_bad_puts_change_nothing(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    token = alice["accessJwt"]
    assert put(pds, token, [ADULT]).status_code == 200
    with pds.ctx.store.read() as txn:
        before = txn.get(TABLE, alice["did"].encode())
    cases = [
        ([{"$type": "com.example.pref", "x": 1}], OUTSIDE),
        ([ADULT, {"$type": "app.bskyx.pref"}], OUTSIDE),
        ([{"enabled": True}], "Input.preferences[0]: a union variant needs a $type"),
        ([5], "Input.preferences[0]: expected an object (a union variant)"),
        ("x", "Input.preferences: expected an array"),
    ]  # fmt: skip
    for preferences, message in cases:
        response = put(pds, token, preferences)
        assert error_of(response) == (400, "InvalidRequest"), preferences
        assert response.json()["message"] == message
    assert error_of(pds.xrpc(PUT, token=token, json={})) == (400, "InvalidRequest")
    assert error_of(put(pds, None, [ADULT])) == (401, "AuthMissing")
    assert error_of(pds.xrpc(GET)) == (401, "AuthMissing")
    with pds.ctx.store.read() as txn:
        assert txn.get(TABLE, alice["did"].encode()) == before
    assert msgspec.json.decode(before or b"") == [ADULT]
