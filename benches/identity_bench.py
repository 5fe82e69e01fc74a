"""How fast cached identity resolution is (``strato.identity``), with no network.

A relay or appview resolves the DID of every event's author; nearly all lookups hit the cache.
This script fills an :class:`~strato.identity.IdentityCache` with ``--count`` generated DID
documents and handles, then times:

1. ``parse``: DID document JSON -> DidDocument, signing key and PDS extracted (a cache miss's
   CPU cost, network aside);
2. ``resolve_did (memory)``: lookups served by the in-memory LRU;
3. ``resolve_did (LMDB)``: lookups with an LRU of one entry, so each reads LMDB and parses;
4. ``resolve (memory)``: full identities, the handle verified in both directions from cache.

Run inside the project venv: ``python benches/identity_bench.py [--count N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from benchlib import Row, add_run_flags, build_profile, environment, measure, refuse_debug, table
from strato.crypto import PrivateKey
from strato.identity import IdentityCache, IdentityResolver, parse_did_document
from strato.identity.cache import CacheEntry

ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def make_did(index: int) -> str:
    digits = ""
    for _ in range(24):
        index, digit = divmod(index, 32)
        digits += ALPHABET[digit]
    return "did:plc:" + digits


def make_doc(did: str, handle: str, multikey: str) -> bytes:
    return json.dumps(
        {
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
            "id": did,
            "alsoKnownAs": [f"at://{handle}"],
            "verificationMethod": [
                {
                    "id": "#atproto",
                    "type": "Multikey",
                    "controller": did,
                    "publicKeyMultibase": multikey,
                }
            ],
            "service": [
                {
                    "id": "#atproto_pds",
                    "type": "AtprotoPersonalDataServer",
                    "serviceEndpoint": "https://pds.example.com",
                }
            ],
        }
    ).encode()


def fill(cache: IdentityCache, count: int) -> list[tuple[str, bytes]]:
    multikey = PrivateKey.generate().public_key.multikey()
    docs = []
    now = cache.now()
    for index in range(count):
        did, handle = make_did(index), f"user{index}.example.com"
        doc = make_doc(did, handle, multikey)
        cache.put(did, CacheEntry(now, value=doc))
        cache.put(f"handle:{handle}", CacheEntry(now, value=did.encode()))
        docs.append((did, doc))
    return docs


def timed_async(
    cache: IdentityCache, work: Callable[[IdentityResolver], Coroutine[Any, Any, object]]
) -> Callable[[], object]:
    def run() -> object:
        async def go() -> object:
            async with IdentityResolver(cache=cache) as resolver:
                return await work(resolver)

        return asyncio.run(go())

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="identities (default 20000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (default 5)")
    add_run_flags(parser, "small sizes, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.count = 500
    profile = build_profile()
    if refuse_debug("identity_bench.py", profile, args.allow_debug):
        return 2
    count, repeat = args.count, args.repeat
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = IdentityCache.open(Path(tmp) / "identity", max_entries=count * 2)
        docs = fill(cache, count)
        dids = [did for did, _ in docs]

        def parse_all() -> object:
            out = []
            for did, doc in docs:
                parsed = parse_did_document(doc, did)
                out.append((parsed.signing_key(), parsed.pds_endpoint()))
            return out

        async def resolve_dids(resolver: IdentityResolver) -> object:
            return [await resolver.resolve_did(did) for did in dids]

        async def resolve_identities(resolver: IdentityResolver) -> object:
            return [await resolver.resolve(did) for did in dids]

        rows.append(Row("parse", "strato", measure(parse_all, count, repeat), None))
        timed_async(cache, resolve_dids)()  # parse once into the LRU
        run = timed_async(cache, resolve_dids)
        rows.append(Row("resolve_did (memory)", "strato", measure(run, count, repeat), None))
        run = timed_async(cache, resolve_identities)
        rows.append(Row("resolve (memory)", "strato", measure(run, count, repeat), None))
        cache.close()
        lmdb_cache = IdentityCache.open(Path(tmp) / "identity", max_entries=1)
        run = timed_async(lmdb_cache, resolve_dids)
        rows.append(Row("resolve_did (LMDB)", "strato", measure(run, count, repeat), None))
        lmdb_cache.close()
    for line in environment(profile, ["msgspec", "lmdb", "httpx"], [f"identities: {count}"]):
        print(line)
    print(table(rows, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
