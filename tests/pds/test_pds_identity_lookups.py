"""``com.atproto.identity.resolveDid``, ``resolveIdentity`` and ``refreshIdentity`` over HTTP:
documents as the PLC directory serves them, handles verified both ways (``handle.invalid``
otherwise), the cache refreshed on request, and the lookup errors."""

from __future__ import annotations

import asyncio
from typing import Any

from pds_identity_helpers import error_of
from pds_net import LocalPds
from strato.identity.plc import PlcClient


def plc_document(pds: LocalPds, did: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with PlcClient(pds.plc_url) as plc:
            return await plc.get_document(did)

    return asyncio.run(run())


def set_plc_handle(pds: LocalPds, did: str, handle: str) -> None:
    """Change the document's handle behind the PDS's back (with its rotation key)."""

    async def run() -> None:
        async with PlcClient(pds.plc_url) as plc:
            await plc.update(did, pds.ctx.keys.rotation_key(), handle=handle)

    asyncio.run(run())


def test_resolve_did(pds: LocalPds) -> None:
    did = pds.create_account("alice.test")["did"]
    response = pds.xrpc("com.atproto.identity.resolveDid", params={"did": did})
    assert response.json() == {"didDoc": plc_document(pds, did)}
    unknown = {"did": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}
    assert error_of(pds.xrpc("com.atproto.identity.resolveDid", params=unknown)) == (
        400, "DidNotFound",
    )  # fmt: skip
    bad = pds.xrpc("com.atproto.identity.resolveDid", params={"did": "nope"})
    assert error_of(bad) == (400, "InvalidRequest")


def test_resolve_identity_by_handle_or_did(pds: LocalPds) -> None:
    did = pds.create_account("alice.test")["did"]
    expected = {"did": did, "handle": "alice.test", "didDoc": plc_document(pds, did)}
    for identifier in (did, "alice.test", "ALICE.test"):
        response = pds.xrpc(
            "com.atproto.identity.resolveIdentity", params={"identifier": identifier}
        )
        assert response.json() == expected, identifier
    for identifier, error in [
        ("nobody.test", "HandleNotFound"),
        ("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "DidNotFound"),
        ("not an identifier", "InvalidRequest"),
    ]:
        response = pds.xrpc(
            "com.atproto.identity.resolveIdentity", params={"identifier": identifier}
        )
        assert error_of(response) == (400, error), identifier


def test_refresh_identity_sees_a_changed_document(pds: LocalPds) -> None:
    session = pds.create_account("alice.test")
    did, token = session["did"], session["accessJwt"]

    def resolve_identity(identifier: str) -> Any:
        return pds.xrpc("com.atproto.identity.resolveIdentity", params={"identifier": identifier})

    assert resolve_identity(did).json()["handle"] == "alice.test"
    set_plc_handle(pds, did, "someone.else.test")
    # still the cached document
    assert resolve_identity(did).json()["handle"] == "alice.test"
    refresh = "com.atproto.identity.refreshIdentity"
    assert error_of(pds.xrpc(refresh, json={"identifier": did})) == (401, "AuthMissing")
    refreshed = pds.xrpc(refresh, token=token, json={"identifier": did})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["handle"] == "handle.invalid"
    assert refreshed.json()["didDoc"]["alsoKnownAs"] == ["at://someone.else.test"]
    assert error_of(resolve_identity("alice.test")) == (400, "HandleNotFound")
    bad = pds.xrpc(refresh, token=token, json={"identifier": "not an identifier"})
    assert error_of(bad) == (400, "InvalidRequest")
