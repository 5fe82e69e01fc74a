"""Identity resolution against strato's own PLC directory (``strato.plc.app`` in uvicorn on
127.0.0.1, LMDB in a temporary directory): a DID created, renamed and tombstoned through
``PlcClient`` resolves (after a purge) to what the directory holds at each step."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from localnet import LocalDns, serve_app
from strato.crypto import PrivateKey
from strato.errors import DidNotFoundError
from strato.identity import Identity, IdentityResolver
from strato.identity.plc import PlcClient
from strato.plc.app import create_app
from strato.plc.settings import PlcSettings


@pytest.fixture
def plc_url(tmp_path: Path) -> Iterator[str]:
    app = create_app(PlcSettings(data_dir=tmp_path / "plc", sync=False))
    with serve_app(app, log_level="error") as url:
        yield url


def test_create_rename_tombstone(plc_url: str, local_dns: LocalDns) -> None:
    rotation = PrivateKey.generate()
    signing = PrivateKey.generate("p256")

    async def scenario() -> tuple[Identity, Identity, str]:
        async with (
            PlcClient(plc_url) as plc,
            IdentityResolver(plc_url=plc_url, nameservers=[local_dns.address]) as resolver,
        ):
            did = await plc.create_did(
                signing.public_key.did_key(),
                [rotation.public_key.did_key()],
                "alice.test",
                "https://pds.example.com",
                signer=rotation,
            )
            local_dns.txt("_atproto.alice.test", f"did={did}")
            first = await resolver.resolve("alice.test")
            await plc.update(did, rotation, handle="alice2.test")
            local_dns.txt("_atproto.alice2.test", f"did={did}")
            await resolver.purge(did)
            renamed = await resolver.resolve(did)
            await plc.tombstone(did, rotation)
            await resolver.purge(did)
            try:
                await resolver.resolve_did(did)
            except DidNotFoundError as err:
                return first, renamed, err.reason
            raise AssertionError("a tombstoned DID resolved")

    first, renamed, gone = asyncio.run(scenario())
    assert first.handle == "alice.test"
    assert first.signing_key == signing.public_key.did_key()
    assert first.pds == "https://pds.example.com"
    assert (renamed.did, renamed.handle) == (first.did, "alice2.test")
    assert gone == "DID document tombstoned or deactivated (HTTP 410)"
