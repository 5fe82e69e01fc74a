"""createAccount's checks before a DID is registered, over HTTP: a taken or malformed email
address and a missing or unknown invite code are refused without touching the PLC directory;
a DID registered for an account that then cannot be stored is tombstoned."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pds_net import PASSWORD, LocalPds, local_network
from pds_server_helpers import assert_error
from strato.errors import AccountNotFoundError, RepoExistsError
from strato.identity.plc import PlcClient

CREATE = "com.atproto.server.createAccount"


def _plc_log(pds: LocalPds) -> list[dict[str, Any]]:
    async def export() -> list[dict[str, Any]]:
        async with PlcClient(pds.plc_url) as plc:
            return await plc.export()

    return asyncio.run(export())


def test_a_taken_or_malformed_email_registers_no_did(pds: LocalPds) -> None:
    pds.create_account("alice.test", email="alice@example.com")
    log, head = _plc_log(pds), pds.ctx.sequencer.head()
    for email in ("ALICE@example.com", "not an address"):
        body = {"handle": "bob.test", "email": email, "password": PASSWORD}
        assert_error(pds.xrpc(CREATE, json=body), 400, "InvalidRequest")
    assert _plc_log(pds) == log
    assert pds.ctx.sequencer.head() == head


def test_invite_codes_are_checked_first(tmp_path: Path) -> None:
    with local_network(tmp_path, invite_code_required=True) as pds:
        log = _plc_log(pds)
        for extra in ({}, {"inviteCode": "pds-test-aaaaa-bbbbb"}):
            body = {"handle": "bob.test", "password": PASSWORD, **extra}
            assert_error(pds.xrpc(CREATE, json=body), 400, "InvalidInviteCode")
        assert _plc_log(pds) == log
        code = pds.ctx.accounts.create_invite_codes("pds.test")[0]
        body = {"handle": "bob.test", "password": PASSWORD, "inviteCode": code}
        assert pds.xrpc(CREATE, json=body).status_code == 200
        # used up
        body = {"handle": "carol.test", "password": PASSWORD, "inviteCode": code}
        assert_error(pds.xrpc(CREATE, json=body), 400, "InvalidInviteCode")


def test_a_did_whose_account_cannot_be_stored_is_tombstoned(
    pds: LocalPds, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RepoExistsError("a repository for this DID exists")

    monkeypatch.setattr(pds.ctx.repos, "create", refuse)
    head = pds.ctx.sequencer.head()
    response = pds.xrpc(CREATE, json={"handle": "bob.test", "password": PASSWORD})
    assert response.status_code == 500, response.text
    entries = _plc_log(pds)
    assert [entry["operation"]["type"] for entry in entries] == ["plc_operation", "plc_tombstone"]
    did = entries[0]["did"]
    assert entries[1]["did"] == did
    assert pds.ctx.sequencer.head() == head
    with pytest.raises(AccountNotFoundError):
        pds.ctx.accounts.get(did)
