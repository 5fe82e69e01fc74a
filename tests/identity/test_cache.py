"""The identity cache (``strato.identity.cache``) through ``IdentityResolver``: TTL with an
injected clock, stale-while-revalidate, negative entries, transient failures, purge,
persistence in a real LMDB environment across reopen, the LRU bound, and one fetch for many
concurrent lookups."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from localnet import LocalDns, LocalHttp, did_doc
from strato.errors import DidNotFoundError, DidResolutionError, IdentityUnavailableError
from strato.identity import IdentityCache, IdentityResolver
from strato.identity.cache import CacheEntry, Freshness
from strato.netpolicy import NetworkPolicy
from strato.storage import Store

ALICE = "did:plc:alicealicealicealicealic"
BOB = "did:plc:bobbobbobbobbobbobbobbob"
CAROL = "did:plc:carolcarolcarolcarolcaro"
T = TypeVar("T")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_cache(clock: Clock, store: Store | None = None, **options: Any) -> IdentityCache:
    options = {"ttl": 100.0, "stale_ttl": 1000.0, "negative_ttl": 10.0, **options}
    return IdentityCache(store, clock=clock, **options)


def run(
    http: LocalHttp,
    dns: LocalDns,
    cache: IdentityCache,
    call: Callable[[IdentityResolver], Awaitable[T]],
) -> T:
    async def go() -> T:
        async with IdentityResolver(
            plc_url=http.url,
            cache=cache,
            policy=NetworkPolicy(local_network=True),
            nameservers=[dns.address],
            local_http_port=http.port,
            timeout=3.0,
        ) as resolver:
            return await call(resolver)

    return asyncio.run(go())


def handle_of_doc(http: LocalHttp, dns: LocalDns, cache: IdentityCache, did: str) -> str | None:
    return run(http, dns, cache, lambda r: _declared(r, did))


async def _declared(resolver: IdentityResolver, did: str) -> str | None:
    return (await resolver.resolve_did(did)).declared_handle()


def hits(http: LocalHttp, did: str) -> int:
    return http.hits[("127.0.0.1", f"/{did}")]


def test_fresh_entries_are_served_from_the_cache(
    local_http: LocalHttp, local_dns: LocalDns, clock: Clock
) -> None:
    cache = make_cache(clock)
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="one.test"))
    assert handle_of_doc(local_http, local_dns, cache, ALICE) == "one.test"
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="two.test"))
    clock.now += 99
    assert handle_of_doc(local_http, local_dns, cache, ALICE) == "one.test"
    assert hits(local_http, ALICE) == 1


def test_stale_entries_are_served_and_refreshed(
    local_http: LocalHttp, local_dns: LocalDns, clock: Clock
) -> None:
    cache = make_cache(clock)
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="one.test"))
    handle_of_doc(local_http, local_dns, cache, ALICE)
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="two.test"))
    clock.now += 500

    async def stale_then_fresh(resolver: IdentityResolver) -> list[str | None]:
        seen = [(await resolver.resolve_did(ALICE)).declared_handle()]
        for _ in range(200):
            entry = cache.get(ALICE)
            if entry is not None and entry[1] is Freshness.FRESH:
                break
            await asyncio.sleep(0.01)
        seen.append((await resolver.resolve_did(ALICE)).declared_handle())
        return seen

    assert run(local_http, local_dns, cache, stale_then_fresh) == ["one.test", "two.test"]
    assert hits(local_http, ALICE) == 2


def test_a_failed_refresh_keeps_the_stale_entry(
    local_http: LocalHttp, local_dns: LocalDns, clock: Clock
) -> None:
    cache = make_cache(clock)
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="one.test"))
    handle_of_doc(local_http, local_dns, cache, ALICE)
    local_http.serve(f"/{ALICE}", b"", status=503)
    clock.now += 500

    async def twice(resolver: IdentityResolver) -> list[str | None]:
        first = (await resolver.resolve_did(ALICE)).declared_handle()
        for _ in range(200):
            if hits(local_http, ALICE) == 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        return [first, (await resolver.resolve_did(ALICE)).declared_handle()]

    assert run(local_http, local_dns, cache, twice) == ["one.test", "one.test"]
    entry = cache.get(ALICE)
    assert entry is not None
    assert entry[1] is Freshness.STALE


def test_expired_entries_are_fetched_again(
    local_http: LocalHttp, local_dns: LocalDns, clock: Clock
) -> None:
    cache = make_cache(clock)
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="one.test"))
    handle_of_doc(local_http, local_dns, cache, ALICE)
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="two.test"))
    clock.now += 1100
    assert handle_of_doc(local_http, local_dns, cache, ALICE) == "two.test"
    assert hits(local_http, ALICE) == 2


def test_negative_entries(local_http: LocalHttp, local_dns: LocalDns, clock: Clock) -> None:
    cache = make_cache(clock)
    for _ in range(3):
        with pytest.raises(DidNotFoundError) as info:
            handle_of_doc(local_http, local_dns, cache, ALICE)
        assert info.value.reason == "DID document not found (HTTP 404)"
        assert info.value.subject == ALICE
    assert hits(local_http, ALICE) == 1
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="one.test"))
    clock.now += 9
    with pytest.raises(DidNotFoundError):
        handle_of_doc(local_http, local_dns, cache, ALICE)
    clock.now += 1
    assert handle_of_doc(local_http, local_dns, cache, ALICE) == "one.test"
    assert hits(local_http, ALICE) == 2


def test_malformed_documents_are_cached_negatively(
    local_http: LocalHttp, local_dns: LocalDns, clock: Clock
) -> None:
    cache = make_cache(clock)
    local_http.serve(f"/{ALICE}", did_doc(BOB))
    for _ in range(2):
        with pytest.raises(DidResolutionError) as info:
            handle_of_doc(local_http, local_dns, cache, ALICE)
        assert info.value.reason == f"DID document is for {BOB}"
    assert hits(local_http, ALICE) == 1


def test_transient_failures_are_not_cached(
    local_http: LocalHttp, local_dns: LocalDns, clock: Clock
) -> None:
    cache = make_cache(clock)
    local_http.serve(f"/{ALICE}", b"", status=502)
    with pytest.raises(IdentityUnavailableError):
        handle_of_doc(local_http, local_dns, cache, ALICE)
    assert cache.get(ALICE) is None
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="one.test"))
    assert handle_of_doc(local_http, local_dns, cache, ALICE) == "one.test"


def test_purge_did_and_its_handle(local_http: LocalHttp, local_dns: LocalDns, clock: Clock) -> None:
    cache = make_cache(clock)
    local_dns.txt("_atproto.alice.test", f"did={ALICE}")
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="alice.test"))
    run(local_http, local_dns, cache, lambda r: r.resolve("alice.test"))
    assert cache.get("handle:alice.test") is not None
    run(local_http, local_dns, cache, lambda r: r.purge(ALICE))
    assert cache.get(ALICE) is None
    assert cache.get("handle:alice.test") is None


def test_purge_handle_and_its_did(local_http: LocalHttp, local_dns: LocalDns, clock: Clock) -> None:
    cache = make_cache(clock)
    local_dns.txt("_atproto.alice.test", f"did={ALICE}")
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="alice.test"))
    run(local_http, local_dns, cache, lambda r: r.resolve("alice.test"))
    run(local_http, local_dns, cache, lambda r: r.purge("Alice.Test"))
    assert cache.get(ALICE) is None
    assert cache.get("handle:alice.test") is None
    local_dns.txt("_atproto.alice.test", f"did={BOB}")
    assert run(local_http, local_dns, cache, lambda r: r.resolve_handle("alice.test")) == BOB


def test_persistence_across_reopen(
    local_http: LocalHttp, local_dns: LocalDns, clock: Clock, tmp_path: Path
) -> None:
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="one.test"))
    cache = IdentityCache.open(tmp_path / "identity", clock=clock, ttl=100.0)
    handle_of_doc(local_http, local_dns, cache, ALICE)
    with pytest.raises(DidNotFoundError):
        handle_of_doc(local_http, local_dns, cache, BOB)
    cache.close()
    local_http.routes.clear()

    reopened = IdentityCache.open(tmp_path / "identity", clock=clock, ttl=100.0)
    assert len(reopened) == 0
    assert handle_of_doc(local_http, local_dns, reopened, ALICE) == "one.test"
    with pytest.raises(DidNotFoundError):
        handle_of_doc(local_http, local_dns, reopened, BOB)
    assert (hits(local_http, ALICE), hits(local_http, BOB)) == (1, 1)
    reopened.close()


def test_shared_store_table(
    local_http: LocalHttp, local_dns: LocalDns, clock: Clock, tmp_path: Path
) -> None:
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="one.test"))
    store = Store.open(tmp_path / "relay", name="relay", schema_version=1, tables=("repos", "ids"))
    with store:
        cache = make_cache(clock, store, table="ids")
        handle_of_doc(local_http, local_dns, cache, ALICE)
        with store.read() as txn:
            assert txn.count("ids") == 1
            assert txn.get("ids", ALICE.encode()) is not None


def test_lru_bound(local_http: LocalHttp, local_dns: LocalDns, clock: Clock) -> None:
    cache = make_cache(clock, max_entries=2)
    for did in (ALICE, BOB, CAROL):
        local_http.serve(f"/{did}", did_doc(did))
        handle_of_doc(local_http, local_dns, cache, did)
    assert len(cache) == 2
    assert cache.get(ALICE) is None
    handle_of_doc(local_http, local_dns, cache, ALICE)
    assert [hits(local_http, did) for did in (ALICE, BOB, CAROL)] == [2, 1, 1]


def test_lru_over_lmdb_keeps_everything_on_disk(
    local_http: LocalHttp, local_dns: LocalDns, clock: Clock, tmp_path: Path
) -> None:
    cache = IdentityCache.open(tmp_path / "c", clock=clock, max_entries=1)
    for did in (ALICE, BOB, CAROL):
        local_http.serve(f"/{did}", did_doc(did))
        handle_of_doc(local_http, local_dns, cache, did)
        handle_of_doc(local_http, local_dns, cache, ALICE)
    assert len(cache) == 1
    assert [hits(local_http, did) for did in (ALICE, BOB, CAROL)] == [1, 1, 1]
    cache.close()


def test_concurrent_lookups_share_one_fetch(
    local_http: LocalHttp, local_dns: LocalDns, clock: Clock
) -> None:
    cache = make_cache(clock)
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="one.test"))
    local_http.delay = 0.2

    async def many(resolver: IdentityResolver) -> set[str]:
        docs = await asyncio.gather(*(resolver.resolve_did(ALICE) for _ in range(20)))
        return {doc.id for doc in docs}

    assert run(local_http, local_dns, cache, many) == {ALICE}
    assert hits(local_http, ALICE) == 1


def test_concurrent_failures_share_one_fetch(
    local_http: LocalHttp, local_dns: LocalDns, clock: Clock
) -> None:
    cache = make_cache(clock)
    local_http.serve(f"/{ALICE}", b"", status=500)
    local_http.delay = 0.2

    async def many(resolver: IdentityResolver) -> list[BaseException | Any]:
        return await asyncio.gather(
            *(resolver.resolve_did(ALICE) for _ in range(5)), return_exceptions=True
        )

    results = run(local_http, local_dns, cache, many)
    assert all(isinstance(result, IdentityUnavailableError) for result in results)
    assert hits(local_http, ALICE) == 1


def test_prune_deletes_expired_entries(clock: Clock, tmp_path: Path) -> None:
    cache = IdentityCache.open(
        tmp_path / "c", clock=clock, ttl=10.0, stale_ttl=10.0, negative_ttl=5.0
    )
    cache.put(ALICE, CacheEntry(clock.now, value=did_doc(ALICE)))
    cache.put(BOB, CacheEntry(clock.now, error="DidNotFoundError", reason="gone"))
    clock.now += 5
    assert cache.prune() == 1
    assert cache.peek(BOB) is None
    clock.now += 15
    assert cache.prune() == 1
    assert cache.peek(ALICE) is None
    cache.close()


def test_unreadable_record_counts_as_absent(clock: Clock, tmp_path: Path) -> None:
    cache = IdentityCache.open(tmp_path / "c", clock=clock)
    assert cache.store is not None
    with cache.store.write() as txn:
        txn.put("identity", ALICE.encode(), b"\xc1 not msgpack")
    assert cache.get(ALICE) is None
    cache.close()


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries must be at least 1"):
        IdentityCache(max_entries=0)
