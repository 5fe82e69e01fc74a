"""An existing identity moving here over HTTP: createAccount with ``did`` takes a service token
from that DID (for this PDS and ``createAccount``), creates the account deactivated with its
reserved signing key and an empty repository and emits nothing; once the DID document points
here, activateAccount makes it live."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pds_net import PASSWORD, LocalPds
from pds_server_helpers import assert_error, events_since, post, snapshot
from strato.crypto import K256, PrivateKey
from strato.identity.plc import PlcClient
from strato.xrpc.auth import create_service_jwt

CREATE = "com.atproto.server.createAccount"


class OldHome:
    """An identity hosted elsewhere: its did:plc, signing key and rotation key."""

    def __init__(self, pds: LocalPds) -> None:
        self.signing = PrivateKey.generate(K256)
        self.rotation = PrivateKey.generate(K256)
        self.did = asyncio.run(self._create(pds.plc_url))

    async def _create(self, plc_url: str) -> str:
        async with PlcClient(plc_url) as plc:
            return await plc.create_did(
                self.signing.public_key.did_key(), [self.rotation.public_key.did_key()],
                "alice.old.example", "https://old.example", signer=self.rotation,
            )  # fmt: skip

    def token(self, pds: LocalPds, **changes: Any) -> str:
        options: dict[str, Any] = {
            "key": self.signing, "iss": self.did, "aud": pds.settings.service_did,
            "lxm": CREATE, **changes,
        }  # fmt: skip
        return create_service_jwt(
            options["key"], options["iss"], options["aud"], options["lxm"], exp=options.get("exp")
        )

    def point_here(self, pds: LocalPds, signing_key: str) -> None:
        async def update() -> None:
            async with PlcClient(pds.plc_url) as plc:
                await plc.update(
                    self.did, self.rotation, pds_endpoint=pds.settings.public_url,
                    signing_key=signing_key,
                    rotation_keys=[self.rotation.public_key.did_key(),
                                   pds.ctx.keys.rotation_key().public_key.did_key()],
                )  # fmt: skip

        asyncio.run(update())


@pytest.fixture
def old_home(pds: LocalPds) -> OldHome:
    return OldHome(pds)


def _create(pds: LocalPds, home: OldHome, token: str | None) -> Any:
    body = {"handle": "alice.test", "did": home.did, "password": PASSWORD}
    return pds.xrpc(CREATE, token=token, json=body)


def test_move_in_then_activate(pds: LocalPds, old_home: OldHome) -> None:
    reserved = pds.xrpc("com.atproto.server.reserveSigningKey", json={"did": old_home.did})
    signing_key = reserved.json()["signingKey"]
    head = pds.ctx.sequencer.head()
    created = _create(pds, old_home, old_home.token(pds))
    assert created.status_code == 200, created.text
    session = created.json()
    assert (session["did"], session["handle"]) == (old_home.did, "alice.test")
    assert events_since(pds, head) == []
    assert pds.ctx.keys.signing_key(old_home.did).public_key.did_key() == signing_key
    assert pds.ctx.keys.reserved_signing_key(old_home.did) is None
    token = session["accessJwt"]
    me = pds.xrpc("com.atproto.server.getSession", token=token).json()
    assert (me["active"], me["status"]) == (False, "deactivated")
    status = pds.xrpc("com.atproto.server.checkAccountStatus", token=token).json()
    assert (status["activated"], status["validDid"], status["indexedRecords"]) == (False, False, 0)

    # the DID document still points at the old home: no activation yet
    assert_error(post(pds, "com.atproto.server.activateAccount", token), 400, "InvalidRequest")
    assert events_since(pds, head) == []
    old_home.point_here(pds, signing_key)
    assert pds.xrpc("com.atproto.server.checkAccountStatus", token=token).json()["validDid"]
    activated = post(pds, "com.atproto.server.activateAccount", token)
    assert activated.status_code == 200, activated.text
    assert [kind for kind, _ in events_since(pds, head)] == ["#account", "#identity", "#sync"]
    assert pds.xrpc("com.atproto.server.getSession", token=token).json()["active"] is True


def test_moving_in_without_a_key_reservation_makes_a_key(pds: LocalPds, old_home: OldHome) -> None:
    created = _create(pds, old_home, old_home.token(pds))
    assert created.status_code == 200, created.text
    key = pds.ctx.keys.signing_key(old_home.did).public_key.did_key()
    assert key != old_home.signing.public_key.did_key()
    # moving in twice is refused and changes nothing
    before = snapshot(pds, old_home.did)
    body = {"handle": "alice2.test", "did": old_home.did, "password": PASSWORD}
    again = pds.xrpc(CREATE, token=old_home.token(pds), json=body)
    assert_error(again, 400, "InvalidRequest")
    assert snapshot(pds, old_home.did) == before


def test_moving_in_needs_the_identity_s_own_token(pds: LocalPds, old_home: OldHome) -> None:
    someone = OldHome(pds)
    alice = pds.create_account("bob.test")
    now = int(time.time())
    before = snapshot(pds, old_home.did)
    cases = [
        (None, 401, "AuthenticationRequired"),
        (someone.token(pds), 401, "AuthenticationRequired"),  # another DID's token
        (old_home.token(pds, lxm="com.atproto.repo.createRecord"), 401, "BadJwtLexiconMethod"),
        (old_home.token(pds, lxm=None), 401, "BadJwtLexiconMethod"),
        (old_home.token(pds, aud="did:web:other.example"), 401, "BadJwtAudience"),
        (old_home.token(pds, key=someone.signing), 401, "BadJwtSignature"),
        (old_home.token(pds, exp=now - 5), 401, "JwtExpired"),
        (alice["accessJwt"], 401, "BadJwt"),  # a session token is no service token
    ]
    for token, status, error in cases:
        assert_error(_create(pds, old_home, token), status, error)
    assert snapshot(pds, old_home.did) == before
    # the handle must still be free and under our domains
    body = {"handle": "bob.test", "did": old_home.did, "password": PASSWORD}
    taken = pds.xrpc(CREATE, token=old_home.token(pds), json=body)
    assert_error(taken, 400, "HandleNotAvailable")
    plc_op = pds.xrpc(CREATE, token=old_home.token(pds),
                      json={"handle": "alice.test", "did": old_home.did, "password": PASSWORD,
                            "plcOp": {"type": "plc_operation"}})  # fmt: skip
    assert_error(plc_op, 400, "InvalidRequest")
    assert snapshot(pds, old_home.did) == before
