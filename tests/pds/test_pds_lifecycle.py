"""Account lifecycle across namespaces: an admin takedown closes the repository to reads,
sync and writes (and the reversal reopens it), and account deletion, by the user or the
admin, leaves nothing of the account behind, preferences included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pds_identity_helpers import admin, error_of, pds_with_admin
from pds_net import LocalPds
from pds_server_helpers import emailed_token, record_mail
from strato.pds.accounts import EmailTokenPurpose
from strato.pds.preferences import TABLE as PREFERENCES

POST = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-11-24T00:00:00Z"}
PREFS = {"preferences": [{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": False}]}


@pytest.fixture
def pds(tmp_path: Path) -> Iterator[LocalPds]:
    with pds_with_admin(tmp_path) as running:
        yield running


def _post(pds: LocalPds, session: dict[str, Any]) -> str:
    created = pds.xrpc(
        "com.atproto.repo.createRecord", token=session["accessJwt"],
        json={"repo": session["did"], "collection": "app.bsky.feed.post", "record": POST},
    )  # fmt: skip
    assert created.status_code == 200, created.text
    rkey: str = created.json()["uri"].rsplit("/", 1)[1]
    return rkey


def _takedown(pds: LocalPds, did: str, applied: bool) -> None:
    subject = {"$type": "com.atproto.admin.defs#repoRef", "did": did}
    takedown: dict[str, Any] = {"applied": applied, "ref": "t-1"} if applied else {"applied": False}
    body = {"subject": subject, "takedown": takedown}
    response = admin(pds, "com.atproto.admin.updateSubjectStatus", json=body)
    assert response.status_code == 200, response.text


def test_a_takedown_closes_reads_sync_and_writes_until_reversed(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    did = alice["did"]
    rkey = _post(pds, alice)
    record = {"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey}
    _takedown(pds, did, applied=True)
    head = pds.ctx.sequencer.head()
    assert error_of(pds.xrpc("com.atproto.sync.getRepo", params={"did": did})) == (
        400, "RepoTakendown",
    )  # fmt: skip
    assert error_of(pds.xrpc("com.atproto.sync.getRecord", params={**record, "did": did})) == (
        400, "RepoTakendown",
    )  # fmt: skip
    assert error_of(pds.xrpc("com.atproto.repo.getRecord", params=record)) == (
        400, "RecordNotFound",
    )  # fmt: skip
    listed = pds.xrpc(
        "com.atproto.repo.listRecords", params={"repo": did, "collection": "app.bsky.feed.post"}
    )
    assert error_of(listed) == (400, "InvalidRequest")
    write = pds.xrpc(
        "com.atproto.repo.createRecord", token=alice["accessJwt"],
        json={"repo": did, "collection": "app.bsky.feed.post", "record": POST},
    )  # fmt: skip
    assert error_of(write) == (401, "AccountTakedown")
    assert pds.ctx.sequencer.head() == head
    _takedown(pds, did, applied=False)
    assert pds.xrpc("com.atproto.sync.getRepo", params={"did": did}).status_code == 200
    assert pds.xrpc("com.atproto.repo.getRecord", params=record).status_code == 200
    _post(pds, alice)


def _preferences(pds: LocalPds, did: str) -> bytes | None:
    with pds.ctx.store.read() as txn:
        return txn.get(PREFERENCES, did.encode())


def test_the_user_deleting_the_account_leaves_nothing(
    pds: LocalPds, caplog: pytest.LogCaptureFixture
) -> None:
    record_mail(caplog)
    alice = pds.create_account("alice.test", email="alice@example.com")
    did = alice["did"]
    _post(pds, alice)
    put = pds.xrpc("app.bsky.actor.putPreferences", token=alice["accessJwt"], json=PREFS)
    assert put.status_code == 200, put.text
    assert _preferences(pds, did) is not None
    requested = pds.xrpc("com.atproto.server.requestAccountDelete", token=alice["accessJwt"],
                         content=b"")  # fmt: skip
    assert requested.status_code == 200, requested.text
    token = emailed_token(caplog, did, EmailTokenPurpose.DELETE_ACCOUNT)
    deleted = pds.xrpc(
        "com.atproto.server.deleteAccount",
        json={"did": did, "password": "correct horse battery", "token": token},
    )
    assert deleted.status_code == 200, deleted.text
    assert _preferences(pds, did) is None
    assert error_of(pds.xrpc("com.atproto.sync.getRepo", params={"did": did})) == (
        400, "RepoNotFound",
    )  # fmt: skip


def test_the_admin_deleting_the_account_leaves_nothing(pds: LocalPds) -> None:
    bob = pds.create_account("bob.test")
    did = bob["did"]
    pds.xrpc("app.bsky.actor.putPreferences", token=bob["accessJwt"], json=PREFS)
    assert _preferences(pds, did) is not None
    deleted = admin(pds, "com.atproto.admin.deleteAccount", json={"did": did})
    assert deleted.status_code == 200, deleted.text
    assert _preferences(pds, did) is None
    assert error_of(pds.xrpc("com.atproto.sync.getLatestCommit", params={"did": did})) == (
        400, "RepoNotFound",
    )  # fmt: skip
