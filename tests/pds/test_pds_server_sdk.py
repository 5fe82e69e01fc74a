"""The ``com.atproto.server.*`` methods through the ``atproto`` SDK, an unmodified real client
whose models check our answers: app passwords, logging in with one, service auth, the
account's status, deactivation and activation."""

from __future__ import annotations

import pytest
from atproto_client import Client, exceptions, models
from pds_net import PASSWORD, LocalPds


def test_the_sdk_manages_its_account(pds: LocalPds) -> None:
    did = pds.create_account("alice.test", email="alice@example.com")["did"]
    client = Client(base_url=pds.url + "/xrpc")
    try:
        _manage(client, pds, did)
    finally:
        client.request.close()


def _manage(client: Client, pds: LocalPds, did: str) -> None:
    client.login("alice.test", PASSWORD, fetch_bsky_profile=False)
    server = client.com.atproto.server

    created = server.create_app_password(
        models.ComAtprotoServerCreateAppPassword.Data(name="phone", privileged=True)
    )
    assert created.privileged is True
    listed = server.list_app_passwords()
    assert [item.name for item in listed.passwords] == ["phone"]

    status = server.check_account_status()
    assert status.activated is True
    assert status.valid_did is True
    assert status.indexed_records == 0

    token = server.get_service_auth(
        models.ComAtprotoServerGetServiceAuth.Params(
            aud="did:web:api.example.com", lxm="app.bsky.feed.getTimeline"
        )
    ).token
    assert token.count(".") == 2

    server.deactivate_account(models.ComAtprotoServerDeactivateAccount.Data())
    assert server.get_session().active is False
    server.activate_account()
    assert server.get_session().active is True

    server.revoke_app_password(models.ComAtprotoServerRevokeAppPassword.Data(name="phone"))
    assert server.list_app_passwords().passwords == []
    assert pds.ctx.accounts.get(did).deactivated_at is None

    # a session of the app password cannot make more
    phone = Client(base_url=pds.url + "/xrpc")
    try:
        second = server.create_app_password(
            models.ComAtprotoServerCreateAppPassword.Data(name="tablet")
        )
        phone.login("alice.test", second.password, fetch_bsky_profile=False)
        with pytest.raises(exceptions.BadRequestError) as refused:
            phone.com.atproto.server.create_app_password(
                models.ComAtprotoServerCreateAppPassword.Data(name="more")
            )
        assert refused.value.response is not None
        assert refused.value.response.content.error == "InvalidToken"
    finally:
        phone.request.close()
