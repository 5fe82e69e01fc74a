"""Lexicon resolution against real servers on 127.0.0.1: a DNS server with ``_lexicon`` TXT
records, a PLC directory and a PDS answering ``com.atproto.sync.getRecord`` with signed record
CARs (built here from a real MST and commit)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from localnet import LocalDns, LocalHttp, did_doc
from strato import CID, car, dagcbor
from strato.cli.main import main
from strato.crypto import PrivateKey
from strato.errors import (
    IdentifierError,
    IdentityUnavailableError,
    LexiconNotFoundError,
    LexiconResolutionError,
    LexiconValidationError,
    UnsafeAddressError,
)
from strato.identity import IdentityCache, IdentityResolver
from strato.identity.lexicons import SCHEMA_COLLECTION, LexiconResolver, ResolvedLexicon
from strato.lexicon import Catalog
from strato.netpolicy import NetworkPolicy
from strato.repo import mst
from strato.repo.commit import next_rev, sign_commit

T = TypeVar("T")
AUTHORITY = "did:plc:" + "lex" * 8
NSID = "app.toy.record"
GET_RECORD = "/xrpc/com.atproto.sync.getRecord"


def toy_lexicon(nsid: str = NSID, **extra: Any) -> dict[str, Any]:
    """A schema record: a record type with one required string."""
    return {
        "$type": SCHEMA_COLLECTION,
        "lexicon": 1,
        "id": nsid,
        "defs": {
            "main": {
                "type": "record",
                "key": "tid",
                "record": {
                    "type": "object",
                    "required": ["text"],
                    "properties": {"text": {"type": "string", "maxLength": 10}},
                },
            }
        },
        **extra,
    }


def record_car(
    signer: PrivateKey,
    records: dict[str, dict[str, Any]],
    rkey: str = NSID,
    did: str = AUTHORITY,
) -> bytes:
    """What a PDS answers to getRecord(rkey) for a repository holding ``records`` (schema
    records by rkey, plus unrelated ones): the signed commit, the MST path, the record."""
    blocks: dict[CID, bytes] = {}
    pairs = []
    for key, value in {**records, **{f"other{i}": {"$type": "x"} for i in range(50)}}.items():
        data = dagcbor.encode(value)
        cid = CID.compute(data)
        blocks[cid] = data
        pairs.append((f"{SCHEMA_COLLECTION}/{key}", cid))
    root, nodes = mst.build(pairs)
    blocks.update(nodes)
    commit_cid, commit = sign_commit(did, next_rev(), root, signer)
    value_cid, proof = mst.record_proof(blocks, root, f"{SCHEMA_COLLECTION}/{rkey}")
    sent = [(commit_cid, commit), *((cid, blocks[cid]) for cid in proof)]
    if value_cid is not None:
        sent.append((value_cid, blocks[value_cid]))
    return car.write_car([commit_cid], sent)


@pytest.fixture
def key() -> PrivateKey:
    return PrivateKey.generate("k256")


@pytest.fixture
def network(local_dns: LocalDns, local_http: LocalHttp, key: PrivateKey) -> LocalHttp:
    """DNS names the authority, the PLC directory serves its document (PDS: the test server)."""
    local_dns.txt("_lexicon.toy.app", f"did={AUTHORITY}")
    multikey = key.public_key.did_key().removeprefix("did:key:")
    local_http.serve(f"/{AUTHORITY}", did_doc(AUTHORITY, key=multikey, pds=local_http.url))
    return local_http


def run(
    dns: LocalDns,
    http: LocalHttp,
    call: Callable[[LexiconResolver], Awaitable[T]],
    *,
    cache: IdentityCache | None = None,
    local_network: bool = True,
) -> T:
    async def go() -> T:
        async with IdentityResolver(
            plc_url=http.url,
            nameservers=[dns.address],
            policy=NetworkPolicy(local_network=local_network),
            local_http_port=http.port,
            timeout=3.0,
            cache=cache,
        ) as identity:
            return await call(LexiconResolver(identity))

    return asyncio.run(go())


def resolve(dns: LocalDns, http: LocalHttp, nsid: str = NSID, **options: Any) -> ResolvedLexicon:
    return run(dns, http, lambda resolver: resolver.resolve(nsid), **options)


def test_resolves_a_published_lexicon(
    local_dns: LocalDns, network: LocalHttp, key: PrivateKey
) -> None:
    network.serve(GET_RECORD, record_car(key, {NSID: toy_lexicon()}))
    resolved = resolve(local_dns, network)
    assert resolved.did == AUTHORITY
    assert resolved.uri == f"at://{AUTHORITY}/{SCHEMA_COLLECTION}/{NSID}"
    assert resolved.cid == CID.compute(dagcbor.encode(toy_lexicon()))
    assert resolved.doc.id == NSID
    assert "$type" not in resolved.to_json()

    async def into_catalog(resolver: LexiconResolver) -> Catalog:
        catalog = Catalog()
        resolution = await resolver.resolve_into(catalog, NSID)
        assert resolution.failed == {}
        return catalog

    catalog = run(local_dns, network, into_catalog)
    record = {"$type": NSID, "text": "hi"}
    assert catalog.validate_record(NSID, "3jzfcijpj2z2a", record) == "valid"


def test_answers_are_cached_and_persist(
    local_dns: LocalDns, network: LocalHttp, key: PrivateKey, tmp_path: Path
) -> None:
    network.serve(GET_RECORD, record_car(key, {NSID: toy_lexicon()}))
    cache = IdentityCache.open(tmp_path / "cache")
    try:

        async def twice(resolver: LexiconResolver) -> list[ResolvedLexicon]:
            return [await resolver.resolve(NSID), await resolver.resolve(NSID)]

        first, second = run(local_dns, network, twice, cache=cache)
        assert first == second
        assert network.hits[("127.0.0.1", GET_RECORD)] == 1
    finally:
        cache.close()
    network.routes.clear()  # the PDS and the directory are gone; LMDB still knows
    reopened = IdentityCache.open(tmp_path / "cache")
    try:
        assert resolve(local_dns, network, cache=reopened) == first
    finally:
        reopened.close()
    assert local_dns.queries[("_lexicon.toy.app", "TXT")] == 1


def test_no_authority_record(local_dns: LocalDns, network: LocalHttp) -> None:
    with pytest.raises(LexiconNotFoundError, match="no did= TXT record"):
        resolve(local_dns, network, "app.nobody.record")


def test_proven_absence(local_dns: LocalDns, network: LocalHttp, key: PrivateKey) -> None:
    network.serve(GET_RECORD, record_car(key, {"app.toy.other": toy_lexicon("app.toy.other")}))
    with pytest.raises(LexiconNotFoundError, match="holds no schema record"):
        resolve(local_dns, network)


def test_pds_record_not_found(local_dns: LocalDns, network: LocalHttp) -> None:
    network.serve(GET_RECORD, b'{"error":"RecordNotFound"}', status=400)
    with pytest.raises(LexiconNotFoundError, match=r"holds no schema record \(HTTP 400\)"):
        resolve(local_dns, network)


def test_forged_record(local_dns: LocalDns, network: LocalHttp) -> None:
    forger = PrivateKey.generate("k256")
    network.serve(GET_RECORD, record_car(forger, {NSID: toy_lexicon()}))
    with pytest.raises(LexiconResolutionError, match="fails verification: bad_signature"):
        resolve(local_dns, network)


def test_tampered_car(local_dns: LocalDns, network: LocalHttp, key: PrivateKey) -> None:
    data = bytearray(record_car(key, {NSID: toy_lexicon()}))
    data[-2] ^= 0x01
    network.serve(GET_RECORD, bytes(data))
    with pytest.raises(LexiconResolutionError, match="fails verification: hash_mismatch"):
        resolve(local_dns, network)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (toy_lexicon("app.toy.other"), "the schema record is the lexicon of app.toy.other"),
        ({**toy_lexicon(), "defs": {}}, "the schema record is not a valid lexicon"),
        ({**toy_lexicon(), "$type": "app.toy.record"}, "is not a com.atproto.lexicon.schema"),
        ({**toy_lexicon(), "lexicon": 2}, "the schema record is not a valid lexicon"),
    ],
)
def test_published_record_that_is_no_lexicon_for_the_nsid(
    local_dns: LocalDns, network: LocalHttp, key: PrivateKey, record: dict[str, Any], reason: str
) -> None:
    network.serve(GET_RECORD, record_car(key, {NSID: record}))
    with pytest.raises(LexiconResolutionError, match=reason):
        resolve(local_dns, network)


def test_failures_are_cached_but_not_transient_ones(
    local_dns: LocalDns, network: LocalHttp, key: PrivateKey
) -> None:
    network.serve(GET_RECORD, b"busy", status=503)

    async def twice(resolver: LexiconResolver) -> list[str]:
        reasons = []
        for _ in range(2):
            with pytest.raises(IdentityUnavailableError) as info:
                await resolver.resolve(NSID)
            reasons.append(info.value.reason)
        return reasons

    assert all("HTTP 503" in reason for reason in run(local_dns, network, twice))
    assert network.hits[("127.0.0.1", GET_RECORD)] == 2
    network.serve(GET_RECORD, record_car(PrivateKey.generate("k256"), {NSID: toy_lexicon()}))

    async def forged_twice(resolver: LexiconResolver) -> None:
        for _ in range(2):
            with pytest.raises(LexiconResolutionError):
                await resolver.resolve(NSID)

    run(local_dns, network, forged_twice)
    assert network.hits[("127.0.0.1", GET_RECORD)] == 3


def test_pds_on_a_private_address_is_refused(
    local_dns: LocalDns, network: LocalHttp, key: PrivateKey
) -> None:
    network.serve(GET_RECORD, record_car(key, {NSID: toy_lexicon()}))
    with pytest.raises(UnsafeAddressError):
        resolve(local_dns, network, local_network=False)
    assert network.hits[("127.0.0.1", GET_RECORD)] == 0


@pytest.mark.parametrize(("address", "kind"), [("0.0.0.0", "unspecified"), ("10.0.0.9", "private")])
def test_pds_on_a_non_public_address_is_refused_on_a_local_network(
    local_dns: LocalDns, network: LocalHttp, key: PrivateKey, address: str, kind: str
) -> None:
    multikey = key.public_key.did_key().removeprefix("did:key:")
    pds = f"http://{address}:{network.port}"
    network.serve(f"/{AUTHORITY}", did_doc(AUTHORITY, key=multikey, pds=pds))
    network.serve(GET_RECORD, record_car(key, {NSID: toy_lexicon()}))
    with pytest.raises(UnsafeAddressError, match=f"{kind} address"):
        resolve(local_dns, network)
    assert network.hits[("127.0.0.1", GET_RECORD)] == 0
    assert network.hits[(address, GET_RECORD)] == 0


def test_malformed_nsid(local_dns: LocalDns, network: LocalHttp) -> None:
    with pytest.raises(IdentifierError):
        resolve(local_dns, network, "not an nsid")
    assert local_dns.queries.total() == 0


def test_resolve_into_follows_references(
    local_dns: LocalDns, network: LocalHttp, key: PrivateKey
) -> None:
    # app.toy.record refers to app.lib.defs (another authority, on another PDS) and, in a
    # union, to app.gone.thing, which nobody publishes.
    library = "did:plc:" + "lib" * 8
    library_key = PrivateKey.generate("p256")
    toy = toy_lexicon()
    toy["defs"]["main"]["record"]["properties"].update(
        {
            "lib": {"type": "ref", "ref": "app.lib.defs#thing"},
            "any": {"type": "union", "refs": ["app.gone.thing"]},
        }
    )
    lib = {
        "$type": SCHEMA_COLLECTION,
        "lexicon": 1,
        "id": "app.lib.defs",
        "defs": {"thing": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    }
    local_dns.txt("_lexicon.lib.app", f"did={library}")
    local_dns.a("pds2.test", "127.0.0.1")
    multikey = library_key.public_key.did_key().removeprefix("did:key:")
    network.serve(
        f"/{library}", did_doc(library, key=multikey, pds=f"http://pds2.test:{network.port}")
    )
    network.serve(GET_RECORD, record_car(key, {NSID: toy}))
    network.serve(
        GET_RECORD,
        record_car(library_key, {"app.lib.defs": lib}, rkey="app.lib.defs", did=library),
        host="pds2.test",
    )
    catalog = Catalog()
    resolution = run(local_dns, network, lambda resolver: resolver.resolve_into(catalog, NSID))
    assert [resolved.nsid for resolved in resolution.added] == [NSID, "app.lib.defs"]
    assert list(resolution.failed) == ["app.gone.thing"]
    assert "no did= TXT record" in resolution.failed["app.gone.thing"]
    record = {"$type": NSID, "text": "hi", "lib": {"n": 1}}
    assert catalog.validate_record(NSID, "3jzfcijpj2z2a", record) == "valid"
    with pytest.raises(LexiconValidationError, match="integer"):
        catalog.validate_record(NSID, "3jzfcijpj2z2a", {**record, "lib": {"n": "one"}})


def cli_args(dns: LocalDns, http: LocalHttp) -> list[str]:
    return [
        "--plc",
        http.url,
        "--nameserver",
        dns.address,
        "--local-network",
        "--local-http-port",
        str(http.port),
        "--timeout",
        "3",
    ]


def test_cli_resolve(
    local_dns: LocalDns,
    network: LocalHttp,
    key: PrivateKey,
    capsys: pytest.CaptureFixture[str],
) -> None:
    network.serve(GET_RECORD, record_car(key, {NSID: toy_lexicon()}))
    assert main(["lexicon", "resolve", NSID, *cli_args(local_dns, network)]) == 0
    out = capsys.readouterr().out
    assert f"authority: {AUTHORITY}" in out
    assert f"uri: at://{AUTHORITY}/{SCHEMA_COLLECTION}/{NSID}" in out
    assert "defs: main" in out
    assert main(["lexicon", "resolve", NSID, "--json", *cli_args(local_dns, network)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["schema"]["id"] == NSID
    assert answer["cid"] == str(CID.compute(dagcbor.encode(toy_lexicon())))
    assert set(answer) == {"uri", "cid", "did", "schema"}


def test_cli_resolve_failure(
    local_dns: LocalDns, network: LocalHttp, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lexicon", "resolve", "app.nobody.thing", *cli_args(local_dns, network)]) == 1
    assert "app.nobody.thing: no did= TXT record" in capsys.readouterr().err


def test_cli_fetch_then_validate(
    local_dns: LocalDns,
    network: LocalHttp,
    key: PrivateKey,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    network.serve(GET_RECORD, record_car(key, {NSID: toy_lexicon()}))
    out = tmp_path / "lexicons"
    argv = ["lexicon", "fetch", NSID, "app.nobody.thing", "--out", str(out)]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache"), *cli_args(local_dns, network)]) == 1
    streams = capsys.readouterr()
    assert f"app/toy/record.json: {NSID} from {AUTHORITY}" in streams.out
    assert "app.nobody.thing: no did= TXT record" in streams.err
    written = json.loads((out / "app" / "toy" / "record.json").read_text())
    assert written == {name: value for name, value in toy_lexicon().items() if name != "$type"}
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"$type": NSID, "text": "far too long here"}))
    argv = ["lexicon", "validate", NSID, str(record), "--lexicon-dir", str(out), "--no-resolve"]
    assert main(argv) == 1
    assert "$.text" in capsys.readouterr().err


def test_cli_validate_resolves_what_the_dirs_lack(
    local_dns: LocalDns,
    network: LocalHttp,
    key: PrivateKey,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    network.serve(GET_RECORD, record_car(key, {NSID: toy_lexicon()}))
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"$type": NSID, "text": "hello"}))
    argv = ["lexicon", "validate", NSID, str(record), *cli_args(local_dns, network)]
    assert main(argv) == 0
    assert capsys.readouterr().out == f"valid: {record} is a valid record of {NSID}\n"
    record.write_text(json.dumps({"$type": NSID}))
    assert main(argv) == 1
    assert capsys.readouterr().err.endswith("$: required field 'text' is missing\n")
    assert main([*argv, "--no-resolve"]) == 1
    assert "no lexicon for app.toy.record in the lexicon dirs" in capsys.readouterr().err
