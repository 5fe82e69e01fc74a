"""The hand-written XRPC types against their lexicons in the shared set: every registered
method's kind, encodings, params, input and output structs (fields, required, types, limits,
defaults), and for valid data and one violation of every lexicon rule, the same verdict, path
and reason from the struct as from the generic lexicon engine."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from conftest import require_shared
from lexicon_drift import (
    DID,
    POST_URI,
    RECORD_CID,
    TID,
    check_struct,
    nested_structs,
    sample_object,
    shared_catalog,
    violations,
)
from starlette.datastructures import QueryParams
from strato.errors import LexiconValidationError
from strato.lexicon.types._base import convert
from strato.relay import admin_types as relay_admin
from strato.xrpc.method import RawInput
from strato.xrpc.params import ParamsDecoder
from strato.xrpc.types import METHODS as SHARED_METHODS
from strato.xrpc.types import admin, invites, repo, server, sync

# every struct strato serves: the shared namespaces and the relay's private admin API
METHODS = {**SHARED_METHODS, **relay_admin.METHODS}

# the named defs the method structs refer to
NAMED: dict[type[Any], str] = {
    server.Links: "com.atproto.server.describeServer#links",
    server.Contact: "com.atproto.server.describeServer#contact",
    server.CreatedAppPassword: "com.atproto.server.createAppPassword#appPassword",
    server.ListedAppPassword: "com.atproto.server.listAppPasswords#appPassword",
    repo.CommitMeta: "com.atproto.repo.defs#commitMeta",
    repo.Create: "com.atproto.repo.applyWrites#create",
    repo.Update: "com.atproto.repo.applyWrites#update",
    repo.Delete: "com.atproto.repo.applyWrites#delete",
    repo.CreateResult: "com.atproto.repo.applyWrites#createResult",
    repo.UpdateResult: "com.atproto.repo.applyWrites#updateResult",
    repo.DeleteResult: "com.atproto.repo.applyWrites#deleteResult",
    repo.ListedRecord: "com.atproto.repo.listRecords#record",
    repo.RecordBlob: "com.atproto.repo.listMissingBlobs#recordBlob",
    sync.ListedRepo: "com.atproto.sync.listRepos#repo",
    sync.CollectionRepo: "com.atproto.sync.listReposByCollection#repo",
    sync.ListedHost: "com.atproto.sync.listHosts#host",
    admin.StatusAttr: "com.atproto.admin.defs#statusAttr",
    admin.RepoRef: "com.atproto.admin.defs#repoRef",
    admin.RecordRef: "com.atproto.repo.strongRef",
    admin.RepoBlobRef: "com.atproto.admin.defs#repoBlobRef",
    admin.ThreatSignature: "com.atproto.admin.defs#threatSignature",
    admin.AccountView: "com.atproto.admin.defs#accountView",
    invites.InviteCode: "com.atproto.server.defs#inviteCode",
    invites.InviteCodeUse: "com.atproto.server.defs#inviteCodeUse",
    invites.AccountCodes: "com.atproto.server.createInviteCodes#accountCodes",
    relay_admin.HostView: "dev.strato.relay.admin.defs#hostView",
    relay_admin.AccountView: "dev.strato.relay.admin.defs#accountView",
    relay_admin.ConsumerView: "dev.strato.relay.admin.defs#consumerView",
    relay_admin.HostStats: "dev.strato.relay.admin.defs#hostStats",
    relay_admin.DropCount: "dev.strato.relay.admin.defs#dropCount",
    relay_admin.HostLag: "dev.strato.relay.admin.defs#hostLag",
    relay_admin.StatsInterval: "dev.strato.relay.admin.defs#statsInterval",
}


def _parts(nsid: str) -> list[tuple[str, type[Any]]]:
    types = METHODS[nsid]
    parts: list[tuple[str, type[Any]]] = []
    if types.params is not None:
        parts.append(("params", types.params))
    if types.input is not None and not isinstance(types.input, RawInput):
        parts.append(("input", types.input))
    if types.output is not None:
        parts.append(("output", types.output))
    return parts


ALL_PARTS = [(nsid, part, cls) for nsid in sorted(METHODS) for part, cls in _parts(nsid)]


@pytest.mark.parametrize("nsid", sorted(METHODS))
def test_method_kind_and_encodings(nsid: str) -> None:
    doc = shared_catalog().get(nsid)
    assert doc is not None, f"{nsid} is not in the shared or package lexicons"
    main = doc.defs["main"]
    types = METHODS[nsid]
    assert main["type"] == types.kind
    assert (main.get("input") or {}).get("encoding") == types.input_encoding
    assert (main.get("output") or {}).get("encoding") == types.output_encoding
    has_params = bool((main.get("parameters") or {}).get("properties"))
    assert has_params == (types.params is not None)
    declared = {part for part in ("input", "output") if (main.get(part) or {}).get("schema")}
    typed = {part for part, _ in _parts(nsid) if part != "params"}
    assert declared == typed


@pytest.mark.parametrize(
    ("nsid", "part", "cls"), ALL_PARTS, ids=[f"{n}@{p}" for n, p, _ in ALL_PARTS]
)
def test_method_struct_matches_its_lexicon(nsid: str, part: str, cls: type[Any]) -> None:
    check_struct(cls, f"{nsid}@{part}", NAMED)


@pytest.mark.parametrize("cls", list(NAMED), ids=lambda c: c.__name__)
def test_named_struct_matches_its_lexicon(cls: type[Any]) -> None:
    check_struct(cls, NAMED[cls], NAMED)


def test_every_nested_struct_is_named() -> None:
    structs = {cls: f"{nsid}@{part}" for nsid, part, cls in ALL_PARTS}
    for cls in nested_structs({**structs, **NAMED}):
        assert cls in NAMED, cls


# ---------------------------------------------------------------------------------------------
# Agreement with the generic engine


def _verdict(check: Callable[[], object]) -> tuple[str, str] | None:
    try:
        check()
    except LexiconValidationError as err:
        return (err.path, err.reason)
    return None


def _generic(nsid: str, part: str) -> Callable[[Any], object]:
    catalog = shared_catalog()
    if part == "input":
        return lambda data: catalog.validate_input(nsid, data)
    if part == "output":
        return lambda data: catalog.validate_output(nsid, data)
    return lambda data: catalog.validate_params(nsid, data)


def _as_struct_verdict(part: str, verdict: tuple[str, str] | None) -> tuple[str, str] | None:
    """The generic engine names params ``params.x`` and says "required parameter"; the
    struct says ``$.x`` and "required field"."""
    if verdict is None:
        return verdict
    path, reason = verdict
    return "$" + path.removeprefix("params"), reason.replace("required parameter", "required field")


def _agreement_cases() -> list[Any]:
    cases: list[Any] = []
    if not require_shared("lexicons").exists():
        return cases
    for nsid, part, cls in ALL_PARTS:
        ref = f"{nsid}@{part}"
        base = sample_object(ref)
        name = f"{nsid}@{part}"
        cases.append(pytest.param(nsid, part, cls, base, id=f"{name}: valid"))
        for label, bad in violations(ref, base):
            if part == "params" and label.endswith(": null"):
                continue  # a query string has no null
            cases.append(pytest.param(nsid, part, cls, bad, id=f"{name} {label}"))
    return cases


def _query_string(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Params as they travel: strings, booleans as true/false, arrays as repeated names."""
    pairs = []
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            pairs.append((name, text))
    return pairs


@pytest.mark.parametrize(("nsid", "part", "cls", "data"), _agreement_cases())
def test_struct_and_generic_engine_agree(nsid: str, part: str, cls: type[Any], data: Any) -> None:
    if part == "params":
        query = QueryParams(_query_string(data))
        typed = _verdict(lambda: ParamsDecoder(cls).decode(query))
        raw = {
            name: query.getlist(name) if isinstance(data[name], list) else query[name]
            for name in query
        }
        generic = _as_struct_verdict(part, _verdict(lambda: _generic(nsid, part)(raw)))
    else:
        typed = _verdict(lambda: convert(copy.deepcopy(data), cls))
        generic = _verdict(lambda: _generic(nsid, part)(data))
    assert typed == generic


def test_params_defaults_are_filled() -> None:
    params = convert(
        {"repo": "alice.test", "collection": "app.bsky.feed.post"}, repo.ListRecordsParams
    )
    assert params.limit == 50
    assert params.reverse is msgspec.UNSET
    assert convert({}, sync.ListReposParams).limit == 500


def test_output_structs_built_in_code_encode_as_the_lexicon_says() -> None:
    out = repo.ApplyWritesOutput(
        commit=repo.CommitMeta(cid=RECORD_CID, rev=TID),
        results=[repo.CreateResult(uri=POST_URI, cid=RECORD_CID), repo.DeleteResult()],
    )
    encoded = msgspec.json.decode(msgspec.json.encode(out))
    shared_catalog().validate_output("com.atproto.repo.applyWrites", encoded)
    assert [r["$type"] for r in encoded["results"]] == [
        "com.atproto.repo.applyWrites#createResult",
        "com.atproto.repo.applyWrites#deleteResult",
    ]
    session = server.CreateSessionOutput(
        access_jwt="a", refresh_jwt="r", handle="alice.test", did=DID
    )
    assert msgspec.json.decode(msgspec.json.encode(session)) == {
        "handle": "alice.test",
        "did": DID,
        "accessJwt": "a",
        "refreshJwt": "r",
    }


def test_a_bad_write_type_is_refused() -> None:
    body = {"repo": "did:plc:abc", "writes": [{"$type": "com.example.nope", "collection": "a.b.c"}]}
    with pytest.raises(LexiconValidationError) as info:
        convert(body, repo.ApplyWritesInput)
    assert info.value.path == "$.writes[0]"
    assert info.value.reason.startswith("$type 'com.example.nope' is not one of")
