"""Takedowns by the admin over HTTP: ``updateSubjectStatus`` / ``getSubjectStatus`` for
accounts (with their ``#account`` events) and blobs, what a taken-down account may still do,
and the admin auth and bad subjects refused with nothing written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pds_identity_helpers import admin, error_of, events_since, pds_with_admin
from pds_net import PASSWORD, LocalPds, local_network
from strato.pds.accounts import AccountStatus

UPDATE = "com.atproto.admin.updateSubjectStatus"
GET = "com.atproto.admin.getSubjectStatus"


@pytest.fixture
def pds(tmp_path: Path) -> Iterator[LocalPds]:
    with pds_with_admin(tmp_path) as running:
        yield running


def repo_ref(did: str) -> dict[str, Any]:
    return {"$type": "com.atproto.admin.defs#repoRef", "did": did}


def test_take_an_account_down_and_back(pds: LocalPds) -> None:
    did = pds.create_account("alice.test")["did"]
    head = pds.ctx.sequencer.head()
    takedown = {"applied": True, "ref": "mod-42"}
    response = admin(pds, UPDATE, json={"subject": repo_ref(did), "takedown": takedown})
    assert response.status_code == 200, response.text
    assert response.json() == {"subject": repo_ref(did), "takedown": takedown}
    assert pds.ctx.accounts.status(did) is AccountStatus.TAKENDOWN
    status = admin(pds, GET, params={"did": did}).json()
    assert status == {
        "subject": repo_ref(did),
        "takedown": {"applied": True, "ref": "mod-42"},
        "deactivated": {"applied": False},
    }
    # a login now gets only the taken-down scope, so it writes nothing
    login = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": "alice.test", "password": PASSWORD, "allowTakendown": True},
    ).json()
    record = {"$type": "app.bsky.feed.post", "text": "x", "createdAt": "2026-11-24T00:00:00Z"}
    write = pds.xrpc(
        "com.atproto.repo.createRecord", token=login["accessJwt"],
        json={"repo": did, "collection": "app.bsky.feed.post", "record": record},
    )  # fmt: skip
    assert error_of(write) == (400, "InvalidToken")

    reverse = admin(pds, UPDATE, json={"subject": repo_ref(did), "takedown": {"applied": False}})
    assert reverse.status_code == 200, reverse.text
    assert pds.ctx.accounts.status(did) is AccountStatus.ACTIVE
    assert admin(pds, GET, params={"did": did}).json()["takedown"] == {"applied": False}
    assert [
        (kind, body["did"], body["active"], body.get("status"))
        for kind, body in events_since(pds, head)
    ] == [("#account", did, False, "takendown"), ("#account", did, True, None)]


def test_a_takedown_without_a_reference_gets_one(pds: LocalPds) -> None:
    did = pds.create_account("alice.test")["did"]
    admin(pds, UPDATE, json={"subject": repo_ref(did), "takedown": {"applied": True}})
    ref = pds.ctx.accounts.get(did).takedown_ref
    assert ref is not None
    assert ref.endswith("Z")


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_take_a_blob_down_and_back(pds: LocalPds) -> None:
    did = pds.create_account("alice.test")["did"]
    stored = asyncio.run(pds.ctx.blobs.upload(did, _chunks(b"hello blob"), mime_type="text/plain"))
    subject = {"$type": "com.atproto.admin.defs#repoBlobRef", "did": did, "cid": stored.cid}
    head = pds.ctx.sequencer.head()
    takedown = {"applied": True, "ref": "dmca-1"}
    response = admin(pds, UPDATE, json={"subject": subject, "takedown": takedown})
    assert response.status_code == 200, response.text
    assert pds.ctx.blobs.takedown_ref(did, stored.cid) == "dmca-1"
    got = admin(pds, GET, params={"did": did, "blob": stored.cid}).json()
    assert got == {"subject": subject, "takedown": {"applied": True, "ref": "dmca-1"}}
    admin(pds, UPDATE, json={"subject": subject, "takedown": {"applied": False}})
    assert pds.ctx.blobs.takedown_ref(did, stored.cid) is None
    assert pds.ctx.sequencer.head() == head  # blob takedowns are not on the firehose


def test_bad_subjects_and_auth_write_nothing(pds: LocalPds) -> None:
    did = pds.create_account("alice.test")["did"]
    head = pds.ctx.sequencer.head()
    unknown_blob = "bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
    takedown = {"applied": True, "ref": "x"}
    record = {"$type": "com.atproto.repo.strongRef", "uri": f"at://{did}/app.bsky.feed.post/3k",
              "cid": unknown_blob}  # fmt: skip
    cases = [
        ({"subject": repo_ref("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"), "takedown": takedown},
         (400, "AccountNotFound")),
        ({"subject": {"$type": "com.atproto.admin.defs#repoBlobRef", "did": did,
                      "cid": unknown_blob}, "takedown": takedown}, (400, "BlobNotFound")),
        ({"subject": record, "takedown": takedown}, (400, "InvalidRequest")),
        ({"subject": {"$type": "com.example.thing"}, "takedown": takedown},
         (400, "InvalidRequest")),
        ({"subject": {"did": did}, "takedown": takedown}, (400, "InvalidRequest")),
        ({"subject": repo_ref("nope"), "takedown": takedown}, (400, "InvalidRequest")),
        ({"takedown": takedown}, (400, "InvalidRequest")),
    ]  # fmt: skip
    for body, expected in cases:
        assert error_of(admin(pds, UPDATE, json=body)) == expected, body
    wrong = admin(pds, UPDATE, "wrong-password", json={"subject": repo_ref(did),
                                                       "takedown": takedown})  # fmt: skip
    assert error_of(wrong) == (401, "AuthenticationRequired")
    no_auth = pds.xrpc(UPDATE, json={"subject": repo_ref(did), "takedown": takedown})
    assert error_of(no_auth) == (401, "AuthenticationRequired")
    assert pds.ctx.accounts.status(did) is AccountStatus.ACTIVE
    assert pds.ctx.sequencer.head() == head


def test_subject_status_lookups(pds: LocalPds) -> None:
    did = pds.create_account("alice.test")["did"]
    cid = "bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
    cases = [
        ({}, (400, "InvalidRequest")),
        ({"did": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}, (400, "NotFound")),
        ({"blob": cid}, (400, "InvalidRequest")),
        ({"did": did, "blob": cid}, (400, "NotFound")),
        ({"uri": f"at://{did}/app.bsky.feed.post/3k"}, (400, "InvalidRequest")),
        ({"did": "nope"}, (400, "InvalidRequest")),
    ]
    for params, expected in cases:
        assert error_of(admin(pds, GET, params=params)) == expected, params


def test_without_an_admin_token_there_is_no_admin(tmp_path: Path) -> None:
    with local_network(tmp_path) as pds:
        did = pds.create_account("alice.test")["did"]
        response = admin(pds, GET, params={"did": did})
        assert error_of(response) == (401, "AuthenticationRequired")
