"""The PDS end to end over HTTP: an account is created through the PLC directory, logs in,
writes a record and reads it back, and the write is on the firehose log."""

from __future__ import annotations

import asyncio
from typing import Any

from pds_net import PASSWORD, LocalPds
from strato.firehose import decode_frame
from strato.identity.plc import PlcClient


def test_create_account_login_write_and_read(pds: LocalPds) -> None:
    session = pds.create_account("alice.test", email="alice@example.com")
    did = session["did"]
    assert did.startswith("did:plc:")
    assert session["handle"] == "alice.test"

    login = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": "alice.test", "password": PASSWORD},
    )
    assert login.status_code == 200, login.text
    token = login.json()["accessJwt"]
    me = pds.xrpc("com.atproto.server.getSession", token=token).json()
    assert me == {
        "handle": "alice.test", "did": did, "active": True, "email": "alice@example.com",
        "emailConfirmed": False, "emailAuthFactor": False,
    }  # fmt: skip

    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post", "text": "hello", "createdAt": "2026-11-24T00:00:00Z",
    }  # fmt: skip
    created = pds.xrpc(
        "com.atproto.repo.createRecord", token=token,
        json={"repo": did, "collection": "app.bsky.feed.post", "record": record},
    )  # fmt: skip
    assert created.status_code == 200, created.text
    written = created.json()
    assert written["validationStatus"] == "valid"
    rkey = written["uri"].rsplit("/", 1)[1]
    got = pds.xrpc(
        "com.atproto.repo.getRecord",
        params={"repo": "alice.test", "collection": "app.bsky.feed.post", "rkey": rkey},
    ).json()
    assert got == {"uri": written["uri"], "cid": written["cid"], "value": record}

    kinds = [decode_frame(event.frame).t for event in pds.ctx.sequencer.events_after(0)]
    assert kinds == ["#identity", "#account", "#commit", "#commit"]


async def _document(plc_url: str, did: str) -> dict[str, Any]:
    async with PlcClient(plc_url) as plc:
        return await plc.get_document(did)


def test_the_did_is_registered_with_this_pds_and_its_key(pds: LocalPds) -> None:
    did = pds.create_account("bob.test")["did"]
    doc = asyncio.run(_document(pds.plc_url, did))
    assert doc["alsoKnownAs"] == ["at://bob.test"]
    assert doc["service"][0]["serviceEndpoint"] == pds.settings.public_url
    key = pds.ctx.keys.signing_key(did).public_key.multikey()
    assert doc["verificationMethod"][0]["publicKeyMultibase"] == key


def test_bad_writes_get_their_errors_and_write_nothing(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    bob = pds.create_account("bob.test")
    head = pds.ctx.sequencer.head()
    post = {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "2026-11-24T00:00:00Z"}
    cases = [
        # another user's repo
        (bob["accessJwt"], {"repo": alice["did"], "collection": "app.bsky.feed.post",
                            "record": post}, 401, "AuthenticationRequired"),
        # a record that breaks its schema
        (alice["accessJwt"], {"repo": alice["did"], "collection": "app.bsky.feed.post",
                              "record": {**post, "text": 5}}, 400, "InvalidRequest"),
        # $type not the collection
        (alice["accessJwt"], {"repo": alice["did"], "collection": "app.bsky.feed.like",
                              "record": post}, 400, "InvalidRequest"),
        # a stale swapCommit
        (alice["accessJwt"], {"repo": alice["did"], "collection": "app.bsky.feed.post",
                              "record": post, "swapCommit":
                              "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},
         400, "InvalidSwap"),
        # no token
        (None, {"repo": alice["did"], "collection": "app.bsky.feed.post", "record": post},
         401, "AuthMissing"),
        # a forged token
        (alice["accessJwt"][:-4] + "AAAA", {"repo": alice["did"],
                                            "collection": "app.bsky.feed.post", "record": post},
         400, "InvalidToken"),
    ]  # fmt: skip
    for token, body, status, error in cases:
        response = pds.xrpc("com.atproto.repo.createRecord", token=token, json=body)
        assert (response.status_code, response.json()["error"]) == (status, error), body
    assert pds.ctx.sequencer.head() == head


def test_handles_are_checked(pds: LocalPds) -> None:
    for handle, error in [
        ("alice.example.com", "UnsupportedDomain"),
        ("al.test", "InvalidHandle"),
        ("a.b.test", "InvalidHandle"),
        ("not a handle", "InvalidRequest"),
    ]:
        response = pds.xrpc(
            "com.atproto.server.createAccount", json={"handle": handle, "password": PASSWORD}
        )
        assert (response.status_code, response.json()["error"]) == (400, error), handle
    pds.create_account("carol.test")
    again = pds.xrpc(
        "com.atproto.server.createAccount", json={"handle": "carol.test", "password": PASSWORD}
    )
    assert (again.status_code, again.json()["error"]) == (400, "HandleNotAvailable")
