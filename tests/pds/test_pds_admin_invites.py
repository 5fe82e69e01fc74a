"""Invite codes over HTTP: the admin creates, lists and disables them and switches an
account's invites; an account lists its own; a created code lets an account in when codes
are required; refusals write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pds_identity_helpers import admin, error_of, pds_with_admin
from pds_net import PASSWORD, LocalPds


@pytest.fixture
def pds(tmp_path: Path) -> Iterator[LocalPds]:
    with pds_with_admin(tmp_path, invite_code_required=True) as running:
        yield running


def create_account(pds: LocalPds, handle: str, code: str | None) -> dict[str, str]:
    body = {"handle": handle, "password": PASSWORD}
    if code is not None:
        body["inviteCode"] = code
    response = pds.xrpc("com.atproto.server.createAccount", json=body)
    result: dict[str, str] = response.json()
    return result


def test_admin_codes_let_accounts_in(pds: LocalPds) -> None:
    assert create_account(pds, "alice.test", None)["error"] == "InvalidInviteCode"
    code = admin(pds, "com.atproto.server.createInviteCode", json={"useCount": 1}).json()["code"]
    assert code.startswith("localhost-")
    alice = create_account(pds, "alice.test", code)
    assert "did" in alice, alice
    assert create_account(pds, "bob.test", code)["error"] == "InvalidInviteCode"
    listed = admin(pds, "com.atproto.admin.getInviteCodes").json()
    (entry,) = listed["codes"]
    assert (entry["code"], entry["forAccount"], entry["createdBy"]) == (code, "admin", "admin")
    assert [use["usedBy"] for use in entry["uses"]] == [alice["did"]]
    info = admin(pds, "com.atproto.admin.getAccountInfo", params={"did": alice["did"]}).json()
    assert info["invites"] == []
    assert info["invitedBy"]["code"] == code
    assert [use["usedBy"] for use in info["invitedBy"]["uses"]] == [alice["did"]]


def test_codes_for_accounts_and_listing(pds: LocalPds) -> None:
    code = admin(pds, "com.atproto.server.createInviteCode", json={"useCount": 5}).json()["code"]
    alice = create_account(pds, "alice.test", code)
    bob = create_account(pds, "bob.test", code)
    made = admin(
        pds, "com.atproto.server.createInviteCodes",
        json={"codeCount": 2, "useCount": 1, "forAccounts": [alice["did"], bob["did"]]},
    ).json()["codes"]  # fmt: skip
    assert [(entry["account"], len(entry["codes"])) for entry in made] == [
        (alice["did"], 2), (bob["did"], 2),
    ]  # fmt: skip
    mine = pds.xrpc("com.atproto.server.getAccountInviteCodes", token=alice["accessJwt"]).json()
    assert sorted(c["code"] for c in mine["codes"]) == sorted(made[0]["codes"])
    carol = create_account(pds, "carol.test", made[0]["codes"][0])
    assert "did" in carol
    unused = pds.xrpc(
        "com.atproto.server.getAccountInviteCodes", token=alice["accessJwt"],
        params={"includeUsed": "false"},
    ).json()["codes"]  # fmt: skip
    assert [c["code"] for c in unused] == [made[0]["codes"][1]]
    view = admin(pds, "com.atproto.admin.getAccountInfo", params={"did": alice["did"]}).json()
    assert sorted(c["code"] for c in view["invites"]) == sorted(made[0]["codes"])
    # paging through every code, most used first
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2, "sort": "usage"}
        if cursor is not None:
            params["cursor"] = cursor
        page = admin(pds, "com.atproto.admin.getInviteCodes", params=params).json()
        seen += [c["code"] for c in page["codes"]]
        cursor = page.get("cursor")
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert seen[0] == code  # two uses
    bad_sort = admin(pds, "com.atproto.admin.getInviteCodes", params={"sort": "random"})
    assert error_of(bad_sort) == (400, "InvalidRequest")
    bad_cursor = admin(pds, "com.atproto.admin.getInviteCodes", params={"cursor": "nope"})
    assert error_of(bad_cursor) == (400, "InvalidRequest")


def test_disabling_codes(pds: LocalPds) -> None:
    code = admin(pds, "com.atproto.server.createInviteCode", json={"useCount": 5}).json()["code"]
    alice = create_account(pds, "alice.test", code)
    (entry,) = admin(
        pds, "com.atproto.server.createInviteCodes",
        json={"codeCount": 1, "useCount": 3, "forAccounts": [alice["did"]]},
    ).json()["codes"]  # fmt: skip
    refused = admin(pds, "com.atproto.admin.disableInviteCodes", json={"accounts": ["admin"]})
    assert error_of(refused) == (400, "InvalidRequest")
    assert "did" in create_account(pds, "bob.test", code)
    assert admin(
        pds, "com.atproto.admin.disableInviteCodes",
        json={"codes": [code], "accounts": [alice["did"]]},
    ).status_code == 200  # fmt: skip
    assert create_account(pds, "carol.test", code)["error"] == "InvalidInviteCode"
    assert create_account(pds, "carol.test", entry["codes"][0])["error"] == "InvalidInviteCode"
    codes = admin(pds, "com.atproto.admin.getInviteCodes").json()["codes"]
    assert all(c["disabled"] for c in codes)


def test_account_invite_switch_and_bad_inputs(pds: LocalPds) -> None:
    code = admin(pds, "com.atproto.server.createInviteCode", json={"useCount": 1}).json()["code"]
    did = create_account(pds, "alice.test", code)["did"]
    for nsid, disabled in [
        ("com.atproto.admin.disableAccountInvites", True),
        ("com.atproto.admin.enableAccountInvites", False),
    ]:
        response = admin(pds, nsid, json={"account": did, "note": "why"})
        assert response.status_code == 200, response.text
        assert pds.ctx.accounts.get(did).invites_disabled is disabled
    unknown = {"account": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}
    assert error_of(admin(pds, "com.atproto.admin.disableAccountInvites", json=unknown)) == (
        400, "AccountNotFound",
    )  # fmt: skip
    before = admin(pds, "com.atproto.admin.getInviteCodes").json()
    for nsid, body in [
        ("com.atproto.server.createInviteCode", {"useCount": 0}),
        ("com.atproto.server.createInviteCode", {"useCount": 1, "forAccount": "nope"}),
        ("com.atproto.server.createInviteCodes", {"codeCount": 0, "useCount": 1}),
        ("com.atproto.server.createInviteCodes", {"useCount": 1}),
        # one call makes at most 10,000 codes (2^62 of them would hold the writer for ever)
        ("com.atproto.server.createInviteCodes", {"codeCount": 2**62, "useCount": 1}),
        (
            "com.atproto.server.createInviteCodes",
            {"codeCount": 5001, "useCount": 1, "forAccounts": [did, did]},
        ),
    ]:
        assert error_of(admin(pds, nsid, json=body)) == (400, "InvalidRequest"), body
    user = pds.xrpc("com.atproto.server.createInviteCode", json={"useCount": 1})
    assert error_of(user) == (401, "AuthenticationRequired")
    assert admin(pds, "com.atproto.admin.getInviteCodes").json() == before
    assert error_of(pds.xrpc("com.atproto.server.getAccountInviteCodes")) == (401, "AuthMissing")
