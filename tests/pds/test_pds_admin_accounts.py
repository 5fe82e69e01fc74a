"""The admin's account methods over HTTP: account views, handle, email and password changes
and account deletion, each with its effects (PLC document, events, sessions) and its refusals
with nothing written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pds_identity_helpers import admin, error_of, events_since, pds_with_admin, plc_data
from pds_net import PASSWORD, LocalPds
from strato.errors import KeyStoreError
from strato.pds.accounts import AccountStatus
from strato.pds.preferences import TABLE as PREFERENCES


@pytest.fixture
def pds(tmp_path: Path) -> Iterator[LocalPds]:
    with pds_with_admin(tmp_path) as running:
        yield running


def login(pds: LocalPds, identifier: str, password: str = PASSWORD) -> int:
    return pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": identifier, "password": password},
    ).status_code


def test_account_views(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test", email="alice@example.com")
    bob = pds.create_account("bob.test")
    view = admin(pds, "com.atproto.admin.getAccountInfo", params={"did": alice["did"]}).json()
    indexed_at = view.pop("indexedAt")
    assert indexed_at.endswith("Z")
    assert view == {
        "did": alice["did"], "handle": "alice.test", "email": "alice@example.com",
        "invites": [], "invitesDisabled": False,
    }  # fmt: skip
    unknown = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    infos = admin(
        pds, "com.atproto.admin.getAccountInfos",
        params={"dids": [bob["did"], unknown, alice["did"], bob["did"]]},
    ).json()["infos"]  # fmt: skip
    assert [info["did"] for info in infos] == [bob["did"], alice["did"]]
    missing = admin(pds, "com.atproto.admin.getAccountInfo", params={"did": unknown})
    assert error_of(missing) == (400, "NotFound")
    bad = admin(pds, "com.atproto.admin.getAccountInfo", params={"did": "nope"})
    assert error_of(bad) == (400, "InvalidRequest")


def test_update_account_handle(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    pds.create_account("bob.test")
    did = alice["did"]
    head = pds.ctx.sequencer.head()
    nsid = "com.atproto.admin.updateAccountHandle"
    response = admin(pds, nsid, json={"did": did, "handle": "alicia.test"})
    assert response.status_code == 200, response.text
    assert plc_data(pds, did)["alsoKnownAs"] == ["at://alicia.test"]
    assert [(kind, body["handle"]) for kind, body in events_since(pds, head)] == [
        ("#identity", "alicia.test")
    ]
    head = pds.ctx.sequencer.head()
    for body, expected in [
        ({"did": did, "handle": "bob.test"}, (400, "InvalidRequest")),
        ({"did": did, "handle": "x.test"}, (400, "InvalidHandle")),
        ({"did": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "handle": "carol.test"},
         (400, "InvalidRequest")),
        ({"did": did}, (400, "InvalidRequest")),
    ]:  # fmt: skip
        assert error_of(admin(pds, nsid, json=body)) == expected, body
    assert pds.ctx.accounts.get(did).handle == "alicia.test"
    assert pds.ctx.sequencer.head() == head


def test_update_account_email(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test", email="alice@example.com")
    pds.create_account("bob.test", email="bob@example.com")
    nsid = "com.atproto.admin.updateAccountEmail"
    response = admin(pds, nsid, json={"account": "alice.test", "email": "New@Example.com"})
    assert response.status_code == 200, response.text
    account = pds.ctx.accounts.get(alice["did"])
    assert (account.email, account.email_confirmed_at) == ("new@example.com", None)
    assert login(pds, "new@example.com") == 200
    for body, expected in [
        ({"account": alice["did"], "email": "bob@example.com"}, (400, "InvalidRequest")),
        ({"account": alice["did"], "email": "not an address"}, (400, "InvalidRequest")),
        ({"account": "nobody.test", "email": "x@example.com"}, (400, "InvalidRequest")),
    ]:
        assert error_of(admin(pds, nsid, json=body)) == expected, body
    assert pds.ctx.accounts.get(alice["did"]).email == "new@example.com"


def test_update_account_password_ends_sessions(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    nsid = "com.atproto.admin.updateAccountPassword"
    response = admin(pds, nsid, json={"did": alice["did"], "password": "a new password"})
    assert response.status_code == 200, response.text
    assert login(pds, "alice.test") == 401
    assert login(pds, "alice.test", "a new password") == 200
    refreshed = pds.xrpc(
        "com.atproto.server.refreshSession", token=alice["refreshJwt"], content=b""
    )
    assert error_of(refreshed) == (400, "ExpiredToken")  # revoked, as the reference says
    unknown = {"did": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "password": "whatever it is"}
    assert error_of(admin(pds, nsid, json=unknown)) == (400, "InvalidRequest")


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_delete_account(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    bob = pds.create_account("bob.test")
    did = alice["did"]
    assert pds.xrpc(
        "app.bsky.actor.putPreferences", token=alice["accessJwt"],
        json={"preferences": [{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": True}]},
    ).status_code == 200  # fmt: skip
    blob = asyncio.run(pds.ctx.blobs.upload(did, _chunks(b"alice's blob"), mime_type="text/plain"))
    head = pds.ctx.sequencer.head()
    response = admin(pds, "com.atproto.admin.deleteAccount", json={"did": did})
    assert response.status_code == 200, response.text
    assert pds.ctx.accounts.status(did) is AccountStatus.DELETED
    assert [(kind, body["did"], body.get("status")) for kind, body in events_since(pds, head)] == [
        ("#account", did, "deleted")
    ]
    with pds.ctx.store.read() as txn:
        assert pds.ctx.repos.head(txn, did) is None
        assert txn.get(PREFERENCES, did.encode()) is None
    with pytest.raises(KeyStoreError):
        pds.ctx.keys.signing_key(did)
    assert not pds.ctx.blobs.exists(did, blob.cid)
    assert not pds.ctx.blobs.path_of(blob.cid).exists()
    assert login(pds, "alice.test") == 401
    repo = pds.xrpc(
        "com.atproto.repo.getRecord",
        params={"repo": did, "collection": "app.bsky.feed.post", "rkey": "3k"},
    )
    assert error_of(repo) == (400, "RepoNotFound")
    # the handle is free; other accounts are untouched
    pds.create_account("alice.test")
    assert pds.ctx.accounts.status(bob["did"]) is AccountStatus.ACTIVE
    again = admin(pds, "com.atproto.admin.deleteAccount", json={"did": did})
    assert error_of(again) == (400, "InvalidRequest")
