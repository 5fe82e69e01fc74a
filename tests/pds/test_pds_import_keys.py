"""Which keys may have signed an imported repository (``strato.pds.import_keys``), against a
PLC directory and a did:web host served on 127.0.0.1: a did:plc's signing keys from its whole
audit log, but only from a log that replays (a forged one is not believed); a did:web's current
document key; refusals naming what was tried."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from localnet import LocalHttp, did_doc
from strato.crypto import K256, PrivateKey
from strato.errors import CommitVerificationError
from strato.identity import IdentityResolver
from strato.identity.plc import PlcClient, create_genesis, did_for_genesis, operation_cid
from strato.identity.plc.log import format_datetime
from strato.identity.plc.operations import create_update
from strato.netpolicy import NetworkPolicy
from strato.pds.import_keys import accepted_signer
from strato.pds.keys import KEY_TABLES, KeyStore, MasterKey
from strato.repo import mst
from strato.repo.commit import next_rev, sign_commit
from strato.storage import Store

HERE = PrivateKey.generate(K256)  # the key this PDS holds for the account


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[KeyStore]:
    with Store.open(tmp_path / "keys", name="pds", schema_version=1, tables=KEY_TABLES) as store:
        yield KeyStore(store, MasterKey.generate())


def commit_by(did: str, key: PrivateKey) -> bytes:
    return sign_commit(did, next_rev(), mst.EMPTY_ROOT, key)[1]


def signer(did: str, commit: bytes, keys: KeyStore, http: LocalHttp) -> str:
    keys.store_signing_key(None, did, HERE)

    async def run() -> str:
        async with (
            IdentityResolver(
                plc_url=http.url,
                policy=NetworkPolicy(local_network=True),
                local_http_port=http.port,
            ) as ids,
            PlcClient(http.url) as plc,
        ):
            return await accepted_signer(did, commit, keys=keys, identity=ids, plc=plc)

    return asyncio.run(run())


def serve_plc(http: LocalHttp, operations: list[dict[str, Any]], current: PrivateKey) -> str:
    """A DID whose audit log is ``operations`` (in order) and whose document names
    ``current``; returns the DID."""
    did = did_for_genesis(operations[0])
    entries = [
        {"did": did, "operation": op, "cid": operation_cid(op), "nullified": False,
         "createdAt": format_datetime(1_700_000_000_000_000 + n * 1_000_000)}
        for n, op in enumerate(operations)
    ]  # fmt: skip
    http.serve(f"/{did}/log/audit", json.dumps(entries))
    multibase = current.public_key.did_key().removeprefix("did:key:")
    http.serve(f"/{did}", did_doc(did, key=multibase, pds="https://new.example"))
    return did


def genesis(signing: PrivateKey, rotation: PrivateKey) -> dict[str, Any]:
    op, _ = create_genesis(
        signing_key=signing.public_key.did_key(), rotation_keys=[rotation.public_key.did_key()],
        handle="alice.example", pds_endpoint="https://old.example", signer=rotation,
    )  # fmt: skip
    return op


def test_a_key_the_did_had_before_is_accepted(keys: KeyStore, local_http: LocalHttp) -> None:
    old, new, rotation = (PrivateKey.generate(K256) for _ in range(3))
    first = genesis(old, rotation)
    moved = create_update(first, rotation, signing_key=new.public_key.did_key())
    did = serve_plc(local_http, [first, moved], current=new)
    assert signer(did, commit_by(did, old), keys, local_http) == old.public_key.did_key()
    assert signer(did, commit_by(did, new), keys, local_http) == new.public_key.did_key()
    assert signer(did, commit_by(did, HERE), keys, local_http) == HERE.public_key.did_key()


def test_a_forged_audit_log_is_not_believed(keys: KeyStore, local_http: LocalHttp) -> None:
    old, rotation, forger = (PrivateKey.generate(K256) for _ in range(3))
    first = genesis(old, rotation)
    # an operation naming the forger's key, signed by the forger: no rotation key of the DID
    forged = create_update(first, forger, signing_key=forger.public_key.did_key())
    did = serve_plc(local_http, [first, forged], current=old)
    with pytest.raises(CommitVerificationError) as info:
        signer(did, commit_by(did, forger), keys, local_http)
    assert info.value.code == "bad_signature"
    assert info.value.reason.startswith(
        "the commit's signature verifies against no key of the account (tried this PDS's key for "
        "the account, its DID document's key), and its PLC audit log does not validate: entry 1:"
    )


def test_a_did_web_has_its_current_key(keys: KeyStore, local_http: LocalHttp) -> None:
    current, stranger = PrivateKey.generate(K256), PrivateKey.generate(K256)
    did = f"did:web:localhost%3A{local_http.port}"
    multibase = current.public_key.did_key().removeprefix("did:key:")
    local_http.serve("/.well-known/did.json", did_doc(did, key=multibase), host="localhost")
    assert signer(did, commit_by(did, current), keys, local_http) == current.public_key.did_key()
    with pytest.raises(CommitVerificationError) as info:
        signer(did, commit_by(did, stranger), keys, local_http)
    assert info.value.reason == (
        "the commit's signature verifies against no key of the account (tried this PDS's key "
        "for the account, its DID document's key)"
    )
