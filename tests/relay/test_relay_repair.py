"""Accounts that repair themselves: a broken chain is resynced from the account's PDS with a
``#sync``, its commit judged by the relay's per-check policy as ingest judges one; commits from
an account the relay holds inactive make it re-check the PDS, whose unusable answers are
counted; a full disk stops ingest (health says why) without losing or corrupting anything."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from high_s import malleate
from localnet import serve_app
from pds_net import LocalPds, run_plc
from relay_net import LocalRelay, run_addressed_pds, run_relay
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from strato.car import read_car, write_car
from strato.firehose import decode_frame, encode_message
from strato.relay.accounts import AccountState
from strato.relay.repair import Kind
from strato.repo.commit import decode_commit, next_rev, sign_commit
from strato.syntax import TID
from test_relay_pipeline import add_host, feed, pds_frames, read_relay, wait_head, write_posts


def dropped(relay: LocalRelay, reason: str) -> float:
    value = relay.ctx.metrics.registry.get_sample_value(
        "strato_relay_events_dropped_total", {"reason": reason}
    )
    return value or 0.0


def account_field(relay: LocalRelay, did: str, name: str) -> object:
    state = relay.ctx.accounts.get(None, did)
    return None if state is None else getattr(state, name)


def wait_for(check: Callable[[], object], timeout: float = 30.0) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.02)

    asyncio.run(asyncio.wait_for(wait(), timeout))


def test_a_broken_chain_is_resynced_from_the_pds_with_a_sync_event(
    pds_relay: tuple[LocalPds, LocalRelay],
) -> None:
    pds, relay = pds_relay
    did = write_posts(pds, "dana.test", 4)
    upstream = pds_frames(pds)
    commits = [i for i, data in enumerate(upstream) if decode_frame(data).t == "#commit"]
    missing_index = 2
    missing = commits[missing_index]  # the relay never sees it: the next one breaks the chain
    host = add_host(relay, pds)
    feed(relay, host, upstream[:missing] + upstream[missing + 1 :])

    # Every later commit of the batch breaks the chain too, until the resync.
    broken = len(commits) - missing_index - 1
    wait_for(lambda: dropped(relay, "since_mismatch") == broken)
    latest = pds.xrpc("com.atproto.sync.getLatestCommit", params={"did": did}).json()
    wait_for(lambda: account_field(relay, did, "rev") == latest["rev"])
    state = relay.ctx.accounts.get(None, did)
    assert state is not None
    assert not state.desynchronized
    head = relay.ctx.sequencer.head()
    frames = read_relay(relay, head)
    last = frames[-1]
    assert last.t == "#sync"
    assert last.body["did"] == did
    assert last.body["rev"] == latest["rev"]
    roots, blocks = read_car(last.body["blocks"])
    assert [root.encode() for root in roots] == [latest["cid"]]
    assert list(blocks) == roots  # just the signed commit
    outcome = relay.ctx.metrics.registry.get_sample_value(
        "strato_relay_repairs_total", {"kind": "resync", "outcome": "synced"}
    )
    assert outcome == 1

    # The chain goes on from the resynced head: the PDS's next commit is accepted.
    write_posts_more = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": "dana.test", "password": "correct horse battery"},
    ).json()
    made = pds.xrpc(
        "com.atproto.repo.createRecord", token=write_posts_more["accessJwt"],
        json={"repo": did, "collection": "app.bsky.feed.like", "record": {
            "$type": "app.bsky.feed.like", "createdAt": "2026-11-24T00:00:00Z",
            "subject": {"uri": f"at://{did}/app.bsky.feed.post/3aaaaaaaaaaaa",
                        "cid": latest["cid"]}}},
    )  # fmt: skip
    assert made.status_code == 200, made.text
    newest = pds_frames(pds)[-1]
    feed(relay, host, [newest])
    wait_head(relay, head + 1)
    assert read_relay(relay, 1, cursor=head)[0].t == "#commit"


def test_commits_from_an_account_held_inactive_make_the_relay_recheck_its_pds(
    pds_relay: tuple[LocalPds, LocalRelay],
) -> None:
    pds, relay = pds_relay
    did = write_posts(pds, "erin.test", 1)
    upstream = pds_frames(pds)
    host = add_host(relay, pds)
    # A forged "deactivated" from the host, then a real commit: the PDS says it is active.
    last_seq = decode_frame(upstream[-1]).seq
    assert last_seq is not None
    deactivated = encode_message(
        "#account",
        {"seq": last_seq + 1, "did": did, "time": "2026-11-24T00:00:00Z", "active": False,
         "status": "deactivated"},
    )  # fmt: skip
    feed(relay, host, [*upstream, deactivated])
    wait_head(relay, len(upstream) + 1)
    state = relay.ctx.accounts.get(None, did)
    assert state is not None
    assert state.status == "deactivated"
    assert relay.xrpc("com.atproto.sync.getRepoStatus", params={"did": did}).json() == {
        "did": did, "active": False, "status": "deactivated"
    }  # fmt: skip

    session = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": "erin.test", "password": "correct horse battery"},
    ).json()
    post = {"$type": "app.bsky.feed.post", "text": "back", "createdAt": "2026-11-24T00:00:00Z"}
    made = pds.xrpc(
        "com.atproto.repo.createRecord", token=session["accessJwt"],
        json={"repo": did, "collection": "app.bsky.feed.post", "record": post},
    )  # fmt: skip
    assert made.status_code == 200
    commit = pds_frames(pds)[-1]
    body = decode_frame(commit).body
    body["seq"] = last_seq + 2
    feed(relay, host, [encode_message("#commit", body)])

    wait_for(lambda: dropped(relay, "account_inactive") == 1)
    wait_for(lambda: account_field(relay, did, "active"))
    status = relay.xrpc("com.atproto.sync.getRepoStatus", params={"did": did}).json()
    assert status["active"] is True
    # The relay announced the repair: an #account active after the deactivation.
    wait_head(relay, len(upstream) + 2)
    frames = read_relay(relay, relay.ctx.sequencer.head())
    accounts = [f.body for f in frames if f.t == "#account" and f.body["did"] == did]
    assert accounts[-1]["active"] is True


def test_a_full_disk_stops_ingest_and_health_says_so_then_it_resumes(
    pds_relay: tuple[LocalPds, LocalRelay],
) -> None:
    pds, relay = pds_relay
    write_posts(pds, "finn.test", 2)
    upstream = pds_frames(pds)
    host = add_host(relay, pds)
    ingestor = relay.ctx.ingestor
    ingestor.retry_interval = 0.05
    ingestor.disk_reserve = 1 << 62  # more than any disk: the disk is "full"
    loop = relay.loop
    assert loop is not None

    async def submit() -> None:
        for frame in upstream:
            await ingestor.submit(host, frame)

    asyncio.run_coroutine_threadsafe(submit(), loop).result(30)
    wait_for(lambda: ingestor.stopped_reason is not None)
    health = httpx.get(relay.url + "/xrpc/_health")
    assert health.status_code == 503
    assert health.json()["error"] == "IngestStopped"
    assert "disk full" in health.json()["message"]
    assert relay.ctx.sequencer.head() == 0
    host_row = relay.ctx.hosts.get_by_id(None, host.id)
    assert host_row is not None
    assert host_row.last_seq == -1  # nothing durable, so the upstream cursor did not move

    ingestor.disk_reserve = 0
    wait_head(relay, len(upstream))
    assert httpx.get(relay.url + "/xrpc/_health").status_code == 200
    assert [frame.seq for frame in read_relay(relay, len(upstream))] == list(
        range(1, len(upstream) + 1)
    )


def test_a_failing_batch_stops_ingest_visibly_and_is_tried_again(
    pds_relay: tuple[LocalPds, LocalRelay],
) -> None:
    pds, relay = pds_relay
    write_posts(pds, "gwen.test", 2)
    upstream = pds_frames(pds)
    host = add_host(relay, pds)
    ingestor = relay.ctx.ingestor
    ingestor.retry_interval = 0.05
    real = ingestor._verify_and_commit
    failures = [RuntimeError("a bug in the pipeline")]

    def flaky(*args: object) -> None:
        if failures:
            raise failures.pop()
        real(*args)  # type: ignore[arg-type]

    ingestor._verify_and_commit = flaky  # type: ignore[method-assign, assignment]
    stopped: list[str] = []
    loop = relay.loop
    assert loop is not None
    real_stop = ingestor._stop

    def stop(reason: str) -> None:
        stopped.append(reason)
        real_stop(reason)

    ingestor._stop = stop  # type: ignore[method-assign]

    async def submit() -> None:
        for frame in upstream:
            await ingestor.submit(host, frame)

    asyncio.run_coroutine_threadsafe(submit(), loop).result(30)
    wait_head(relay, len(upstream))
    assert stopped == ["ingest failed: RuntimeError('a bug in the pipeline')"]
    assert ingestor.stopped_reason is None
    assert httpx.get(relay.url + "/xrpc/_health").status_code == 200
    assert [frame.seq for frame in read_relay(relay, len(upstream))] == list(
        range(1, len(upstream) + 1)
    )


#: Answers to ``getRepoStatus`` a recheck cannot use: (status, a body, or None for one that
#: never ends).
UNUSABLE = {
    "endless": (200, None),
    "too-deep": (200, b'{"active":' + b"[" * 2000 + b"]" * 2000 + b"}"),
    "not-json": (200, b"<html>"),
    "deep-error": (400, b'{"error":' + b"[" * 2000 + b"]" * 2000 + b"}"),
}


@pytest.mark.parametrize("answer", sorted(UNUSABLE))
def test_a_recheck_counts_an_answer_it_cannot_use(tmp_path: Path, answer: str) -> None:
    """A host whose getRepoStatus never ends, nests too deep or is not JSON: the recheck ends
    as ``bad_answer`` (read no further than a status answer's size), the account untouched."""
    status, body = UNUSABLE[answer]

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b" " * 65536
            await asyncio.sleep(0)  # lets the response see the relay hang up

    async def repo_status(request: Request) -> Response:
        if body is None:
            return StreamingResponse(endless(), status, media_type="application/json")
        return Response(body, status, media_type="application/json")

    app = Starlette(routes=[Route("/xrpc/com.atproto.sync.getRepoStatus", repo_status)])
    did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    with serve_app(app) as url, run_relay(tmp_path / "relay", "http://127.0.0.1:9") as relay:
        ctx = relay.ctx
        hostname = "localhost:" + url.rsplit(":", 1)[1]
        with ctx.store.write() as txn:
            host = ctx.hosts.add(txn, hostname, no_ssl=True, account_limit=10)
            state = AccountState(did=did, host_id=host.id, upstream_status="deactivated")
            ctx.accounts.put(txn, state)
        loop = relay.loop
        assert loop is not None
        recheck = ctx.repairer.run_now(Kind.RECHECK, did)
        asyncio.run_coroutine_threadsafe(recheck, loop).result(30)
        outcome = ctx.metrics.registry.get_sample_value(
            "strato_relay_repairs_total", {"kind": "recheck", "outcome": "bad_answer"}
        )
        assert outcome == 1
        assert account_field(relay, did, "upstream_status") == "deactivated"


#: The checks of the policy a resync meets, each with how its repository's commit fails only
#: it: (a high-S signature, seconds its rev is ahead of the clock).
BROKEN_COMMITS = {"high_s": (True, 0.0), "rev_in_future": (False, 3600.0)}


def repository_failing(pds: LocalPds, did: str, check: str) -> tuple[bytes, str]:
    """The account's repository from its PDS with its commit signed anew so that it fails only
    ``check``: the CAR and the commit's rev."""
    export = pds.xrpc("com.atproto.sync.getRepo", params={"did": did})
    assert export.status_code == 200
    roots, blocks = read_car(export.content)
    commit = decode_commit(blocks[roots[0]])
    high_s, ahead = BROKEN_COMMITS[check]
    rev = str(TID.from_parts(int((time.time() + ahead) * 1_000_000), 0)) if ahead else next_rev()
    key = pds.ctx.keys.signing_key(did)
    cid, signed = sign_commit(did, rev, commit.data, key)
    if high_s:
        cid, signed = malleate(signed, key.curve)
    rest = [(block_cid, data) for block_cid, data in blocks.items() if block_cid != roots[0]]
    return write_car([cid], [(cid, signed), *rest]), rev


@pytest.mark.parametrize("check", sorted(BROKEN_COMMITS))
def test_a_resync_honours_the_per_check_policy(tmp_path: Path, check: str) -> None:
    """A repository whose commit fails only ``check`` is taken (the warning counted, the
    ``#sync`` emitted) by a relay strict but for that check, and refused by one lenient but for
    it: resync applies the one policy object ingest applies, overrides included."""
    with run_plc(tmp_path / "plc") as plc_url, run_addressed_pds(tmp_path / "pds", plc_url) as pds:
        did = write_posts(pds, "hana.test", 1)
        data, rev = repository_failing(pds, did, check)

        async def get_repo(request: Request) -> Response:
            assert request.query_params["did"] == did
            return Response(data, media_type="application/vnd.ipld.car")

        app = Starlette(routes=[Route("/xrpc/com.atproto.sync.getRepo", get_repo)])
        cases = [(False, False, "synced"), (True, True, f"invalid_{check}")]
        with serve_app(app) as url:
            for lenient, strict, outcome in cases:
                settings = {"lenient": lenient, "policy": {check: strict}}
                with run_relay(tmp_path / f"relay-{lenient}", plc_url, **settings) as relay:
                    ctx = relay.ctx
                    with ctx.store.write() as txn:
                        hostname = "localhost:" + url.rsplit(":", 1)[1]
                        host = ctx.hosts.add(txn, hostname, no_ssl=True, account_limit=10)
                        ctx.accounts.put(txn, AccountState(did=did, host_id=host.id))
                    loop = relay.loop
                    assert loop is not None
                    resync = ctx.repairer.run_now(Kind.RESYNC, did)
                    asyncio.run_coroutine_threadsafe(resync, loop).result(30)
                    registry = ctx.metrics.registry
                    repairs = registry.get_sample_value(
                        "strato_relay_repairs_total", {"kind": "resync", "outcome": outcome}
                    )
                    assert repairs == 1, outcome
                    warnings = registry.get_sample_value(
                        "strato_relay_verify_warnings_total", {"reason": check}
                    )
                    if strict:
                        assert warnings is None
                        assert account_field(relay, did, "rev") is None
                        assert ctx.sequencer.head() == 0
                    else:
                        assert warnings == 1
                        assert account_field(relay, did, "rev") == rev
                        [frame] = read_relay(relay, 1)
                        assert (frame.t, frame.body["rev"]) == ("#sync", rev)
