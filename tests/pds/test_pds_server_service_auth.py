"""getServiceAuth and reserveSigningKey over HTTP: tokens signed with the account's repo key,
the reference's rules on ``exp`` and ``lxm``, which sessions may ask for which methods."""

from __future__ import annotations

import time
from typing import Any

from pds_net import PASSWORD, LocalPds
from pds_server_helpers import app_password_login, assert_error, snapshot
from strato.xrpc import jws

GET = "com.atproto.server.getServiceAuth"
AUD = "did:web:api.example.com"


def _claims(pds: LocalPds, did: str, token: str) -> dict[str, Any]:
    parsed = jws.decode(token, (jws.ES256K,))
    assert jws.verify_ecdsa(parsed, pds.ctx.keys.signing_key(did).public_key)
    return parsed.payload


def test_tokens_are_signed_with_the_repo_key(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    did, token = alice["did"], alice["accessJwt"]
    lxm = "app.bsky.feed.getTimeline"
    answer = pds.xrpc(GET, token=token, params={"aud": AUD, "lxm": lxm})
    assert answer.status_code == 200, answer.text
    claims = _claims(pds, did, answer.json()["token"])
    assert (claims["iss"], claims["aud"], claims["lxm"]) == (did, AUD, lxm)
    assert claims["exp"] - claims["iat"] == 60
    # an expiry of the caller's choosing, up to an hour with a method
    exp = int(time.time()) + 1800
    answer = pds.xrpc(GET, token=token, params={"aud": AUD, "lxm": lxm, "exp": exp})
    assert _claims(pds, did, answer.json()["token"])["exp"] == exp
    # no method: a minute at most
    bare = pds.xrpc(GET, token=token, params={"aud": AUD})
    assert "lxm" not in _claims(pds, did, bare.json()["token"])


def test_refused_requests(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    token = alice["accessJwt"]
    plain_app = app_password_login(pds, alice, name="plain")
    privileged_app = app_password_login(pds, alice, name="chat", privileged=True)
    now = int(time.time())
    chat = "chat.bsky.convo.sendMessage"
    before = snapshot(pds, alice["did"])
    cases = [
        (token, {"aud": AUD, "lxm": "app.bsky.feed.getTimeline", "exp": now - 10}, 400,
         "BadExpiration"),
        (token, {"aud": AUD, "lxm": "app.bsky.feed.getTimeline", "exp": now + 7200}, 400,
         "BadExpiration"),
        (token, {"aud": AUD, "exp": now + 300}, 400, "BadExpiration"),  # method-less
        (token, {"aud": AUD, "lxm": "com.atproto.server.createAppPassword"}, 400,
         "InvalidRequest"),  # protected
        (token, {"aud": AUD, "lxm": "com.atproto.identity.updateHandle"}, 400, "InvalidRequest"),
        (plain_app, {"aud": AUD, "lxm": chat}, 400, "InvalidRequest"),  # privileged
        (token, {"lxm": chat}, 400, "InvalidRequest"),  # no aud
        (token, {"aud": AUD, "lxm": "not an nsid"}, 400, "InvalidRequest"),
        (token, {"aud": AUD, "exp": "soon"}, 400, "InvalidRequest"),
        (None, {"aud": AUD}, 401, "AuthMissing"),
        (alice["refreshJwt"], {"aud": AUD}, 400, "InvalidToken"),
    ]  # fmt: skip
    for bearer, params, status, error in cases:
        assert_error(pds.xrpc(GET, token=bearer, params=params), status, error)
    assert snapshot(pds, alice["did"]) == before
    # a privileged app password, or the account password, may reach chat
    for bearer in (privileged_app, token):
        assert pds.xrpc(GET, token=bearer, params={"aud": AUD, "lxm": chat}).status_code == 200


def test_a_taken_down_account_may_only_migrate(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    pds.ctx.accounts.set_takedown(None, alice["did"], "mod-1")
    session = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": "alice.test", "password": PASSWORD, "allowTakendown": True},
    ).json()
    token = session["accessJwt"]
    other = pds.xrpc(GET, token=token, params={"aud": AUD, "lxm": "app.bsky.feed.getTimeline"})
    assert_error(other, 400, "InvalidToken")
    assert_error(pds.xrpc(GET, token=token, params={"aud": AUD}), 400, "InvalidToken")
    move = pds.xrpc(
        GET, token=token, params={"aud": AUD, "lxm": "com.atproto.server.createAccount"}
    )
    assert move.status_code == 200, move.text


def test_reserve_signing_key(pds: LocalPds) -> None:
    did = "did:plc:abcdefghijklmnopqrstuvwx"
    first = pds.xrpc("com.atproto.server.reserveSigningKey", json={"did": did})
    assert first.status_code == 200, first.text
    key = first.json()["signingKey"]
    assert key.startswith("did:key:z")
    # asked again for the same DID: the same key
    again = pds.xrpc("com.atproto.server.reserveSigningKey", json={"did": did}).json()
    assert again["signingKey"] == key
    reserved = pds.ctx.keys.reserved_signing_key(did)
    assert reserved is not None
    assert reserved.public_key.did_key() == key
    # without a DID, a new key each time, kept under its did:key
    loose = pds.xrpc("com.atproto.server.reserveSigningKey", json={}).json()["signingKey"]
    assert loose != key
    assert pds.ctx.keys.reserved_signing_key(loose) is not None
    bad = pds.xrpc("com.atproto.server.reserveSigningKey", json={"did": "not a did"})
    assert_error(bad, 400, "InvalidRequest")
