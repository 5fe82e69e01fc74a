"""App passwords over HTTP: create (privileged or not), list, log in with one (the session's
scope), what an app-password session may not do, and revoking (its sessions end)."""

from __future__ import annotations

from pds_net import PASSWORD, LocalPds
from pds_server_helpers import assert_error, login, post, snapshot
from strato.xrpc import jws

CREATE = "com.atproto.server.createAppPassword"
LIST = "com.atproto.server.listAppPasswords"
REVOKE = "com.atproto.server.revokeAppPassword"


def _scope(token: str) -> str:
    scope: str = jws.decode(token, (jws.HS256,)).payload["scope"]
    return scope


def test_create_list_log_in_and_revoke(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    token = alice["accessJwt"]
    phone = pds.xrpc(CREATE, token=token, json={"name": "phone"})
    assert phone.status_code == 200, phone.text
    created = phone.json()
    assert created["name"] == "phone"
    assert created["privileged"] is False
    assert len(created["password"]) == 19
    assert created["password"].count("-") == 3
    chat = pds.xrpc(CREATE, token=token, json={"name": "chat", "privileged": True}).json()
    assert chat["privileged"] is True

    listed = pds.xrpc(LIST, token=token).json()["passwords"]
    assert {(item["name"], item["privileged"]) for item in listed} == {
        ("phone", False),
        ("chat", True),
    }
    assert all("password" not in item for item in listed)
    assert {item["createdAt"] for item in listed} == {created["createdAt"], chat["createdAt"]}

    phone_session = login(pds, "alice.test", created["password"])
    assert _scope(phone_session["accessJwt"]) == "com.atproto.appPass"
    chat_session = login(pds, alice["did"], chat["password"])
    assert _scope(chat_session["accessJwt"]) == "com.atproto.appPassPrivileged"
    # an app-password session may list and reads its own session
    assert pds.xrpc(LIST, token=phone_session["accessJwt"]).status_code == 200
    me = pds.xrpc("com.atproto.server.getSession", token=phone_session["accessJwt"])
    assert me.json()["did"] == alice["did"]

    revoked = pds.xrpc(REVOKE, token=phone_session["accessJwt"], json={"name": "phone"})
    assert revoked.status_code == 200, revoked.text
    assert [item["name"] for item in pds.xrpc(LIST, token=token).json()["passwords"]] == ["chat"]
    # the password no longer logs in, and the session it opened cannot be refreshed
    again = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": "alice.test", "password": created["password"]},
    )
    assert_error(again, 401, "AuthenticationRequired")
    refresh = post(pds, "com.atproto.server.refreshSession", phone_session["refreshJwt"])
    assert_error(refresh, 400, "ExpiredToken")
    # the other app password's session and the account's own are untouched
    chat_refresh = post(pds, "com.atproto.server.refreshSession", chat_session["refreshJwt"])
    assert chat_refresh.status_code == 200, chat_refresh.text
    assert _scope(chat_refresh.json()["accessJwt"]) == "com.atproto.appPassPrivileged"
    own = post(pds, "com.atproto.server.refreshSession", alice["refreshJwt"])
    assert own.status_code == 200, own.text


def test_revoking_an_unknown_name_is_quiet(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    before = snapshot(pds, alice["did"])
    response = pds.xrpc(REVOKE, token=alice["accessJwt"], json={"name": "nothing"})
    assert response.status_code == 200, response.text
    assert snapshot(pds, alice["did"]) == before


def test_refused_creations_write_nothing(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    token = alice["accessJwt"]
    pds.xrpc(CREATE, token=token, json={"name": "phone"})
    app = pds.xrpc(CREATE, token=token, json={"name": "laptop", "privileged": True}).json()
    app_session = login(pds, "alice.test", app["password"])
    before = snapshot(pds, alice["did"])
    cases = [
        (token, {"name": "phone"}, 400, "InvalidRequest"),  # the name is taken
        (token, {"name": "   "}, 400, "InvalidRequest"),  # an empty name
        (token, {}, 400, "InvalidRequest"),  # no name
        (token, {"name": 5}, 400, "InvalidRequest"),  # not a string
        # even a privileged app password may not make app passwords
        (app_session["accessJwt"], {"name": "more"}, 400, "InvalidToken"),
        (alice["refreshJwt"], {"name": "more"}, 400, "InvalidToken"),  # a refresh token
        (None, {"name": "more"}, 401, "AuthMissing"),
        (token[:-3] + "AAA", {"name": "more"}, 400, "InvalidToken"),  # a forged token
    ]
    for bearer, body, status, error in cases:
        assert_error(pds.xrpc(CREATE, token=bearer, json=body), status, error)
    assert snapshot(pds, alice["did"]) == before


def test_a_taken_down_account_cannot_manage_app_passwords(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    app = pds.xrpc(CREATE, token=alice["accessJwt"], json={"name": "phone"}).json()
    pds.ctx.accounts.set_takedown(None, alice["did"], "mod-1")
    before = snapshot(pds, alice["did"])
    # a token issued before the takedown
    assert_error(
        pds.xrpc(CREATE, token=alice["accessJwt"], json={"name": "x"}), 401, "AccountTakedown"
    )
    # an app password no longer logs in; the password only with allowTakendown
    refused = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": "alice.test", "password": app["password"], "allowTakendown": True},
    )
    assert_error(refused, 401, "AuthenticationRequired")
    session = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": "alice.test", "password": PASSWORD, "allowTakendown": True},
    ).json()
    for nsid, body in [(LIST, None), (REVOKE, {"name": "phone"}), (CREATE, {"name": "y"})]:
        kwargs = {} if body is None else {"json": body}
        response = pds.xrpc(nsid, token=session["accessJwt"], **kwargs)
        assert_error(response, 400, "InvalidToken")
    after = snapshot(pds, alice["did"])
    assert after[:3] == before[:3]
