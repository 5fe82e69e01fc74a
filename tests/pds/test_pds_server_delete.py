"""Account deletion over HTTP, the reference's two steps: requestAccountDelete emails a code,
deleteAccount with the DID, the password and the code removes the repository, the signing
key, the blobs and the account in one transaction with an ``#account`` ``deleted`` event.
Every wrong password, code or session is refused with its error and deletes nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from pds_net import PASSWORD, LocalPds
from pds_server_helpers import (
    app_password_login,
    assert_error,
    emailed_token,
    events_since,
    login,
    post,
    record_mail,
    snapshot,
)
from strato.errors import KeyStoreError
from strato.pds.accounts import AccountStatus, EmailTokenPurpose

REQUEST = "com.atproto.server.requestAccountDelete"
DELETE = "com.atproto.server.deleteAccount"
PURPOSE = EmailTokenPurpose.DELETE_ACCOUNT


async def _chunks() -> AsyncIterator[bytes]:
    yield b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_request_then_delete(pds: LocalPds, caplog: pytest.LogCaptureFixture) -> None:
    record_mail(caplog)
    alice = pds.create_account("alice.test", email="alice@example.com")
    bob = pds.create_account("bob.test")
    did = alice["did"]
    blob = asyncio.run(pds.ctx.blobs.upload(did, _chunks()))
    assert pds.ctx.blobs.path_of(blob.cid).exists()
    assert post(pds, REQUEST, alice["accessJwt"]).status_code == 200
    token = emailed_token(caplog, did, PURPOSE)

    head = pds.ctx.sequencer.head()
    response = pds.xrpc(DELETE, json={"did": did, "password": PASSWORD, "token": token})
    assert response.status_code == 200, response.text
    assert pds.ctx.accounts.status(did) is AccountStatus.DELETED
    with pds.ctx.store.read() as txn:
        assert pds.ctx.repos.head(txn, did) is None
    with pytest.raises(KeyStoreError):
        pds.ctx.keys.signing_key(did)
    assert not pds.ctx.blobs.path_of(blob.cid).exists()
    assert [(kind, body["did"], body["active"], body["status"]) for kind, body in
            events_since(pds, head)] == [("#account", did, False, "deleted")]  # fmt: skip
    # the account is gone: no login, no refresh; the other account is untouched
    gone = pds.xrpc(
        "com.atproto.server.createSession", json={"identifier": did, "password": PASSWORD}
    )
    assert_error(gone, 401, "AuthenticationRequired")
    refresh = post(pds, "com.atproto.server.refreshSession", alice["refreshJwt"])
    assert_error(refresh, 403, "AccountNotFound")
    assert login(pds, "bob.test")["did"] == bob["did"]
    # the handle is free again
    assert pds.create_account("alice.test")["did"] != did


def test_refused_deletions_delete_nothing(
    pds: LocalPds, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_mail(caplog)
    alice = pds.create_account("alice.test", email="alice@example.com")
    bob = pds.create_account("bob.test", email="bob@example.com")
    did = alice["did"]
    app = pds.xrpc(
        "com.atproto.server.createAppPassword", token=alice["accessJwt"], json={"name": "app"}
    ).json()
    post(pds, REQUEST, alice["accessJwt"])
    token = emailed_token(caplog, did, PURPOSE)
    post(pds, REQUEST, bob["accessJwt"])
    bob_token = emailed_token(caplog, bob["did"], PURPOSE)
    before = snapshot(pds, did)
    cases = [
        ({"did": did, "password": "wrong password", "token": token}, 401,
         "AuthenticationRequired"),
        ({"did": did, "password": app["password"], "token": token}, 401,
         "AuthenticationRequired"),  # an app password is not the password
        ({"did": did, "password": PASSWORD, "token": "AAAAA-BBBBB"}, 400, "InvalidToken"),
        ({"did": did, "password": PASSWORD, "token": bob_token}, 400, "InvalidToken"),
        ({"did": "did:plc:nobodyhere234567abcdefgh", "password": PASSWORD, "token": token}, 400,
         "InvalidRequest"),
        ({"did": "not a did", "password": PASSWORD, "token": token}, 400, "InvalidRequest"),
        ({"did": did, "password": PASSWORD}, 400, "InvalidRequest"),  # no token
    ]  # fmt: skip
    for body, status, error in cases:
        assert_error(pds.xrpc(DELETE, json=body), status, error)
    assert snapshot(pds, did) == before
    # a code is good for 15 minutes
    later = time.time() + 16 * 60
    monkeypatch.setattr(pds.ctx.accounts, "_clock", lambda: later)
    expired = pds.xrpc(DELETE, json={"did": did, "password": PASSWORD, "token": token})
    assert_error(expired, 400, "ExpiredToken")
    assert snapshot(pds, did) == before


def test_requesting_a_code_takes_a_full_session_and_an_address(
    pds: LocalPds, caplog: pytest.LogCaptureFixture
) -> None:
    record_mail(caplog)
    alice = pds.create_account("alice.test", email="alice@example.com")
    carol = pds.create_account("carol.test")  # no email address
    app_token = app_password_login(pds, alice, privileged=True)
    before = snapshot(pds, alice["did"])
    assert_error(post(pds, REQUEST, app_token), 400, "InvalidToken")
    assert_error(post(pds, REQUEST), 401, "AuthMissing")
    assert snapshot(pds, alice["did"]) == before
    carol_before = snapshot(pds, carol["did"])
    assert_error(post(pds, REQUEST, carol["accessJwt"]), 400, "InvalidRequest")
    assert snapshot(pds, carol["did"]) == carol_before
    pds.ctx.accounts.set_takedown(None, alice["did"], "mod-1")
    assert_error(post(pds, REQUEST, alice["accessJwt"]), 401, "AccountTakedown")
    assert not [record for record in caplog.records if record.name == "strato.pds.mailer"]
