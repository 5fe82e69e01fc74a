"""Sessions of accounts that are not active, over HTTP: a taken-down account logs in only with
``allowTakendown`` (and then gets the ``takendown`` scope), cannot refresh, and its status shows
in every session answer."""

from __future__ import annotations

from pds_net import PASSWORD, LocalPds
from pds_server_helpers import assert_error, post, snapshot
from strato.xrpc import jws

SESSION = "com.atproto.server.createSession"


def test_a_taken_down_account(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    pds.ctx.accounts.set_takedown(None, alice["did"], "mod-1")
    before = snapshot(pds, alice["did"])
    refused = pds.xrpc(SESSION, json={"identifier": "alice.test", "password": PASSWORD})
    assert_error(refused, 401, "AccountTakedown")
    wrong = pds.xrpc(
        SESSION,
        json={"identifier": "alice.test", "password": "wrong", "allowTakendown": True},
    )
    assert_error(wrong, 401, "AuthenticationRequired")
    # the session made before the takedown cannot be refreshed
    assert_error(
        post(pds, "com.atproto.server.refreshSession", alice["refreshJwt"]), 401, "AccountTakedown"
    )
    assert snapshot(pds, alice["did"])[:3] == before[:3]

    allowed = pds.xrpc(
        SESSION, json={"identifier": "alice.test", "password": PASSWORD, "allowTakendown": True}
    )
    assert allowed.status_code == 200, allowed.text
    session = allowed.json()
    assert (session["active"], session["status"]) == (False, "takendown")
    payload = jws.decode(session["accessJwt"], (jws.HS256,)).payload
    assert payload["scope"] == "com.atproto.takendown"
    me = pds.xrpc("com.atproto.server.getSession", token=session["accessJwt"]).json()
    assert (me["active"], me["status"]) == (False, "takendown")
    refresh = post(pds, "com.atproto.server.refreshSession", session["refreshJwt"])
    assert_error(refresh, 401, "AccountTakedown")
    # the takendown scope reaches nothing else
    write = pds.xrpc(
        "com.atproto.repo.createRecord", token=session["accessJwt"],
        json={"repo": alice["did"], "collection": "app.bsky.feed.post",
              "record": {"text": "x", "createdAt": "2026-11-24T00:00:00Z"}},
    )  # fmt: skip
    assert_error(write, 400, "InvalidToken")

    # reversing the takedown: a plain login works again and the account is active
    pds.ctx.accounts.set_takedown(None, alice["did"], None)
    again = pds.xrpc(SESSION, json={"identifier": "alice.test", "password": PASSWORD}).json()
    assert again["active"] is True
    assert "status" not in again


def test_missing_and_malformed_login_fields(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    before = snapshot(pds, alice["did"])
    for body in (
        {"identifier": "alice.test"},
        {"password": PASSWORD},
        {"identifier": "alice.test", "password": PASSWORD, "allowTakendown": "yes"},
    ):
        assert_error(pds.xrpc(SESSION, json=body), 400, "InvalidRequest")
    assert snapshot(pds, alice["did"]) == before
