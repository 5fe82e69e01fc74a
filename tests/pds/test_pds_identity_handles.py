"""``com.atproto.identity.resolveHandle`` and ``updateHandle`` over HTTP: hosted handles from
the account store, external ones through DNS, the did:plc document and the ``#identity`` event
following a change, and each refusal with its error and nothing written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from localnet import LocalDns, LocalHttp, did_doc
from pds_identity_helpers import error_of, events_since, pds_with_dns, plc_data
from pds_net import LocalPds, local_network
from strato.crypto import K256, PrivateKey
from strato.identity import IdentityResolver
from strato.storage import WriteTxn
from strato.xrpc.auth import create_session_tokens


def resolve(pds: LocalPds, handle: str) -> httpx.Response:
    return pds.xrpc("com.atproto.identity.resolveHandle", params={"handle": handle})


def update(pds: LocalPds, token: str | None, handle: str) -> httpx.Response:
    return pds.xrpc("com.atproto.identity.updateHandle", token=token, json={"handle": handle})


def test_resolve_hosted_handles(pds: LocalPds) -> None:
    did = pds.create_account("alice.test")["did"]
    assert resolve(pds, "alice.test").json() == {"did": did}
    assert resolve(pds, "ALICE.test").json() == {"did": did}
    assert error_of(resolve(pds, "nobody.test")) == (400, "HandleNotFound")
    assert error_of(resolve(pds, "not a handle")) == (400, "InvalidRequest")
    assert error_of(pds.xrpc("com.atproto.identity.resolveHandle")) == (400, "InvalidRequest")


def test_resolve_external_handles_through_dns(tmp_path: Path, local_dns: LocalDns) -> None:
    with pds_with_dns(tmp_path, local_dns) as pds:
        local_dns.txt("_atproto.carol.example.com", "did=did:plc:carolcarolcarolcarolcaro")
        assert resolve(pds, "carol.example.com").json() == {
            "did": "did:plc:carolcarolcarolcarolcaro"
        }
        assert error_of(resolve(pds, "nobody.example.com")) == (400, "HandleNotFound")


def test_update_handle_moves_everything(pds: LocalPds) -> None:
    session = pds.create_account("alice.test")
    did, token = session["did"], session["accessJwt"]
    head = pds.ctx.sequencer.head()
    response = update(pds, token, "Alicia.test")
    assert response.status_code == 200, response.text
    assert pds.ctx.accounts.get(did).handle == "alicia.test"
    assert plc_data(pds, did)["alsoKnownAs"] == ["at://alicia.test"]
    assert [(kind, body["did"], body["handle"]) for kind, body in events_since(pds, head)] == [
        ("#identity", did, "alicia.test")
    ]
    assert resolve(pds, "alicia.test").json() == {"did": did}
    assert error_of(resolve(pds, "alice.test")) == (400, "HandleNotFound")
    well_known = httpx.get(f"{pds.url}/.well-known/atproto-did", headers={"host": "alicia.test"})
    assert well_known.text == did
    session_now = pds.xrpc("com.atproto.server.getSession", token=token).json()
    assert session_now["handle"] == "alicia.test"
    # the old handle is free again
    pds.create_account("alice.test")


def test_the_same_handle_again_is_only_announced(pds: LocalPds) -> None:
    session = pds.create_account("alice.test")
    did = session["did"]
    before = plc_data(pds, did)
    head = pds.ctx.sequencer.head()
    assert update(pds, session["accessJwt"], "alice.test").status_code == 200
    assert plc_data(pds, did) == before
    assert [kind for kind, _ in events_since(pds, head)] == ["#identity"]


def test_refused_handle_changes_write_nothing(pds: LocalPds) -> None:
    alice = pds.create_account("alice.test")
    pds.create_account("bob.test")
    token, did = alice["accessJwt"], alice["did"]
    before = plc_data(pds, did)
    head = pds.ctx.sequencer.head()
    cases = [
        (token, "bob.test", (400, "InvalidRequest")),  # taken
        (token, "BOB.test", (400, "InvalidRequest")),  # taken, in another case
        (token, "al.test", (400, "InvalidHandle")),  # too short a label
        (token, "a.b.test", (400, "InvalidHandle")),  # a dot before the domain
        (token, "alice.example.com", (400, "InvalidRequest")),  # external, resolves nowhere
        (token, "not a handle", (400, "InvalidRequest")),
        (None, "carol.test", (401, "AuthMissing")),
        (token[:-4] + "AAAA", "carol.test", (400, "InvalidToken")),
    ]
    for given, handle, expected in cases:
        assert error_of(update(pds, given, handle)) == expected, handle
    taken = update(pds, token, "bob.test").json()
    assert taken["message"] == "Handle already taken: bob.test"
    assert pds.ctx.accounts.get(did).handle == "alice.test"
    assert plc_data(pds, did) == before
    assert pds.ctx.sequencer.head() == head


def test_a_taken_down_account_cannot_change_its_handle(pds: LocalPds) -> None:
    session = pds.create_account("alice.test")
    pds.ctx.accounts.set_takedown(None, session["did"], "mod-1")
    head = pds.ctx.sequencer.head()
    assert error_of(update(pds, session["accessJwt"], "alicia.test")) == (401, "AccountTakedown")
    assert pds.ctx.accounts.get(session["did"]).handle == "alice.test"
    assert pds.ctx.sequencer.head() == head


def test_an_external_handle_must_resolve_to_the_account(
    tmp_path: Path, local_dns: LocalDns
) -> None:
    with pds_with_dns(tmp_path, local_dns) as pds:
        session = pds.create_account("alice.test")
        did, token = session["did"], session["accessJwt"]
        local_dns.txt("_atproto.alice.example.com", "did=did:plc:carolcarolcarolcarolcaro")
        assert error_of(update(pds, token, "alice.example.com")) == (400, "InvalidRequest")
        assert pds.ctx.accounts.get(did).handle == "alice.test"
        # once the record names the account, the change goes through (the negative answer
        # cached above is not reused)
        local_dns.txt("_atproto.alice.example.com", f"did={did}")
        response = update(pds, token, "alice.example.com")
        assert response.status_code == 200, response.text
        assert pds.ctx.accounts.get(did).handle == "alice.example.com"
        assert plc_data(pds, did)["alsoKnownAs"] == ["at://alice.example.com"]


def test_local_network_resolves_hosted_handles_without_dns(tmp_path: Path) -> None:
    with local_network(tmp_path, local_network=True) as pds:
        did = pds.create_account("alice.test")["did"]

        local_handles = pds.ctx.identity.local_handles
        assert local_handles is not None
        assert local_handles("alice.test") == did
        assert local_handles("nobody.test") is None
        assert local_handles("alice.example.com") is None

        async def run() -> tuple[str, str | None]:
            # a resolver of this thread's loop with the PDS's hook: the handle needs no DNS
            async with IdentityResolver(
                plc_url=pds.plc_url,
                policy=pds.settings.network_policy,
                local_handles=local_handles,
            ) as resolver:
                resolved = await resolver.resolve_handle("alice.test")
                identity = await resolver.resolve(did)
            return resolved, identity.handle

        assert asyncio.run(run()) == (did, "alice.test")


def test_without_a_local_network_hosted_handles_are_not_special(pds: LocalPds) -> None:
    assert pds.ctx.identity.local_handles is None


def test_a_did_web_account_changes_its_handle_in_its_own_document(
    tmp_path: Path, local_http: LocalHttp
) -> None:
    with local_network(tmp_path, local_network=True) as pds:
        did = f"did:web:localhost%3A{local_http.port}"
        key = PrivateKey.generate(K256)
        multikey = key.public_key.multikey()

        def create(txn: WriteTxn) -> None:
            pds.ctx.accounts.create_account(txn, did=did, handle="webby.test")
            pds.ctx.keys.store_signing_key(txn, did, key)

        pds.ctx.store.transact(create)
        token = create_session_tokens(pds.ctx.auth.jwt_secret, pds.settings.service_did, did)
        local_http.serve("/.well-known/did.json", did_doc(did, handle="webby.test", key=multikey))
        head = pds.ctx.sequencer.head()
        refused = update(pds, token.access_jwt, "webster.test")
        assert error_of(refused) == (400, "InvalidRequest")
        assert refused.json()["message"] == "DID is not properly configured for handle"
        assert pds.ctx.accounts.get(did).handle == "webby.test"
        assert pds.ctx.sequencer.head() == head
        local_http.serve("/.well-known/did.json", did_doc(did, handle="webster.test", key=multikey))
        response = update(pds, token.access_jwt, "webster.test")
        assert response.status_code == 200, response.text
        assert pds.ctx.accounts.get(did).handle == "webster.test"
        assert [body["handle"] for _, body in events_since(pds, head)] == ["webster.test"]
