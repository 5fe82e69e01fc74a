"""Making simulated accounts real did:plc identities: each account's genesis operation (made
with the dataset, naming a placeholder PDS) and an update naming the URL of the simulated host
that serves it, signed by the dataset's rotation key, submitted to a PLC directory.

Two ways: over HTTP to a running directory (:func:`register_accounts`, through
:class:`strato.identity.plc.PlcClient`), or straight into a directory's store before it is served
(:func:`register_accounts_in_store`, much faster for 10,000 accounts). A DID's document then
carries the account's k256 signing key and ``http://127.0.0.1:PORT`` as its PDS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from strato._core import PrivateKey
from strato.identity.plc import PlcClient
from strato.identity.plc.operations import Operation, create_update
from strato.plc.store import PlcStore

from loadgen.dataset import SimAccount


def operations(account: SimAccount, endpoint: str, rotation: PrivateKey) -> list[Operation]:
    """The operations that make ``account`` a DID whose PDS is ``endpoint``."""
    return [account.genesis, create_update(account.genesis, rotation, pds_endpoint=endpoint)]


async def register_accounts(
    plc: PlcClient,
    accounts: Sequence[SimAccount],
    endpoints: Sequence[str],
    rotation: PrivateKey,
    *,
    concurrency: int = 16,
) -> None:
    """Submit each account's operations (its PDS: the endpoint at the same position) to the
    directory ``plc``, ``concurrency`` accounts at a time."""
    if len(endpoints) != len(accounts):
        raise ValueError("one endpoint per account")
    gate = asyncio.Semaphore(concurrency)

    async def one(account: SimAccount, endpoint: str) -> None:
        async with gate:
            for op in operations(account, endpoint, rotation):
                await plc.submit(account.did, op)

    await asyncio.gather(*(one(a, e) for a, e in zip(accounts, endpoints, strict=True)))


def register_accounts_in_store(
    store: PlcStore,
    accounts: Sequence[SimAccount],
    endpoints: Sequence[str],
    rotation: PrivateKey,
) -> None:
    """The same, written into a directory's store (which no server has open)."""
    if len(endpoints) != len(accounts):
        raise ValueError("one endpoint per account")
    now = time.time_ns() // 1000
    for account, endpoint in zip(accounts, endpoints, strict=True):
        for op in operations(account, endpoint, rotation):
            store.submit(account.did, op, now)


__all__ = ["operations", "register_accounts", "register_accounts_in_store"]
