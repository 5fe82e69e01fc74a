"""The account lifecycle over HTTP: deactivation (with ``deleteAfter``) and activation with
their ``#account`` events, what sessions say about a deactivated account, checkAccountStatus,
activation refused while the DID document points elsewhere, and who may do each."""

from __future__ import annotations

import asyncio

from pds_net import LocalPds
from pds_server_helpers import app_password_login, assert_error, events_since, login, post, snapshot
from strato.identity.plc import PlcClient

ACTIVATE = "com.atproto.server.activateAccount"
DEACTIVATE = "com.atproto.server.deactivateAccount"
STATUS = "com.atproto.server.checkAccountStatus"

POST = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-11-24T00:00:00Z"}


def test_deactivate_then_activate(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    did, token = alice["did"], alice["accessJwt"]
    head = pds.ctx.sequencer.head()
    response = pds.xrpc(DEACTIVATE, token=token, json={"deleteAfter": "2027-01-01T00:00:00.000Z"})
    assert response.status_code == 200, response.text
    account = pds.ctx.accounts.get(did)
    assert account.deactivated_at is not None
    assert account.delete_after == 1_798_761_600_000
    assert [(kind, body["did"], body["active"], body.get("status")) for kind, body in
            events_since(pds, head)] == [("#account", did, False, "deactivated")]  # fmt: skip

    # sessions say so, and still work
    session = login(pds, "alice.test")
    assert (session["active"], session["status"]) == (False, "deactivated")
    me = pds.xrpc("com.atproto.server.getSession", token=session["accessJwt"]).json()
    assert (me["active"], me["status"]) == (False, "deactivated")
    refreshed = post(pds, "com.atproto.server.refreshSession", session["refreshJwt"])
    assert refreshed.status_code == 200, refreshed.text
    assert (refreshed.json()["active"], refreshed.json()["status"]) == (False, "deactivated")
    status = pds.xrpc(STATUS, token=token).json()
    assert (status["activated"], status["validDid"]) == (False, True)

    head = pds.ctx.sequencer.head()
    activated = post(pds, ACTIVATE, token)
    assert activated.status_code == 200, activated.text
    assert pds.ctx.accounts.get(did).deactivated_at is None
    emitted = events_since(pds, head)
    assert [kind for kind, _ in emitted] == ["#account", "#identity", "#sync"]
    assert emitted[0][1]["active"] is True
    assert "status" not in emitted[0][1]
    assert emitted[1][1]["handle"] == "alice.test"
    with pds.ctx.store.read() as txn:
        assert emitted[2][1]["rev"] == pds.ctx.repos.latest(txn, did).rev
    assert login(pds, "alice.test")["active"] is True


def test_check_account_status_counts_the_repository(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    token = alice["accessJwt"]
    for n in range(3):
        record = {**POST, "text": f"post {n}"}
        created = pds.xrpc(
            "com.atproto.repo.createRecord", token=token,
            json={"repo": alice["did"], "collection": "app.bsky.feed.post", "record": record},
        )  # fmt: skip
        assert created.status_code == 200, created.text
    status = pds.xrpc(STATUS, token=token).json()
    with pds.ctx.store.read() as txn:
        head = pds.ctx.repos.latest(txn, alice["did"])
    assert status["repoCommit"] == head.commit.encode()
    assert status["repoRev"] == head.rev
    assert status["indexedRecords"] == 3
    # the commit, the MST root and three records, at least
    assert status["repoBlocks"] >= 5
    assert (status["activated"], status["validDid"], status["privateStateValues"]) == (
        True, True, 0,
    )  # fmt: skip
    assert (status["expectedBlobs"], status["importedBlobs"]) == (0, 0)


async def _move_away(pds: LocalPds, did: str) -> None:
    async with PlcClient(pds.plc_url) as plc:
        await plc.update(did, pds.ctx.keys.rotation_key(), pds_endpoint="https://elsewhere.example")


def test_activation_needs_a_did_document_pointing_here(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    token = alice["accessJwt"]
    assert pds.xrpc(DEACTIVATE, token=token, json={}).status_code == 200
    asyncio.run(_move_away(pds, alice["did"]))
    assert pds.xrpc(STATUS, token=token).json()["validDid"] is False
    before = snapshot(pds, alice["did"])
    assert_error(post(pds, ACTIVATE, token), 400, "InvalidRequest")
    assert snapshot(pds, alice["did"]) == before


def test_lifecycle_methods_refuse_weaker_sessions_and_bad_input(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    app_token = app_password_login(pds, alice, privileged=True)
    before = snapshot(pds, alice["did"])
    assert_error(pds.xrpc(DEACTIVATE, token=app_token, json={}), 400, "InvalidToken")
    assert_error(post(pds, ACTIVATE, app_token), 400, "InvalidToken")
    assert_error(pds.xrpc(DEACTIVATE, json={}), 401, "AuthMissing")
    assert_error(post(pds, ACTIVATE, alice["refreshJwt"]), 400, "InvalidToken")
    bad_date = pds.xrpc(DEACTIVATE, token=alice["accessJwt"], json={"deleteAfter": "soon"})
    assert_error(bad_date, 400, "InvalidRequest")
    assert_error(pds.xrpc(STATUS), 401, "AuthMissing")
    assert snapshot(pds, alice["did"]) == before
    # an app password may read the status
    assert pds.xrpc(STATUS, token=app_token).json()["activated"] is True


def test_a_taken_down_account_cannot_be_reactivated(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    token = alice["accessJwt"]
    assert pds.xrpc(DEACTIVATE, token=token, json={}).status_code == 200
    pds.ctx.accounts.set_takedown(None, alice["did"], "mod-1")
    before = snapshot(pds, alice["did"])
    assert_error(post(pds, ACTIVATE, token), 400, "InvalidRequest")
    assert snapshot(pds, alice["did"]) == before
