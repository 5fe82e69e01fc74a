"""Account migration and imports seen by a relay, with real servers on 127.0.0.1: a PLC
directory, two strato PDSes and a relay crawling both.

- The reference's migration flow moves an account from one PDS to the other (service auth,
  createAccount with ``did``, getRepo and importRepo, the missing blobs, the preferences, the
  PLC operation signed by the old PDS and submitted by the new one, activation and
  deactivation); the account then writes on the new PDS and the relay follows it there. Later,
  with the old PDS gone and the DID document naming the new PDS's key, a backup exported from
  the old PDS is restored: its signing key is only in the DID's PLC audit log.
- Re-importing an earlier export is a ``#commit`` the relay verifies and forwards (the records
  the export lacks deleted), and a large difference a ``#sync`` it accepts: either way the
  relay's head is the PDS's afterwards, with nothing dropped.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pds_net import PASSWORD, LocalPds, run_plc
from relay_e2e_net import Collector, wait_for
from relay_net import LocalRelay, run_addressed_pds, run_relay
from strato.repo import Create, Repo

IMPORT = "com.atproto.repo.importRepo"
CAR = {"Content-Type": "application/vnd.ipld.car"}
POST = "app.bsky.feed.post"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
PREFERENCES = [{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": True}]


@dataclass
class Net:
    plc_url: str
    old: LocalPds
    new: LocalPds
    relay: LocalRelay
    stack: contextlib.ExitStack


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    """A relay crawling two PDSes from its start; the old PDS may be stopped by the test."""
    with contextlib.ExitStack() as stack:
        plc_url = stack.enter_context(run_plc(tmp_path / "plc"))
        inner = stack.enter_context(contextlib.ExitStack())
        old = inner.enter_context(run_addressed_pds(tmp_path / "old", plc_url))
        new = stack.enter_context(run_addressed_pds(tmp_path / "new", plc_url))
        hosts = (old.settings.hostname, new.settings.hostname)
        relay = stack.enter_context(run_relay(tmp_path / "relay", plc_url, crawl=hosts))
        for pds in (old, new):
            wait_for(partial(subscribed, pds), "the relay to subscribe")
        yield Net(plc_url, old, new, relay, inner)


def subscribed(pds: LocalPds) -> bool:
    return pds.subscriber_count >= 1


def call(pds: LocalPds, nsid: str, token: str | None = None, **kwargs: Any) -> Any:
    """An XRPC call that must succeed; its JSON body (None when empty)."""
    response = pds.xrpc(nsid, token=token, **kwargs)
    assert response.status_code == 200, f"{nsid}: {response.text}"
    return response.json() if response.content else None


def write(pds: LocalPds, session: dict[str, Any], text: str, **extra: Any) -> str:
    """A post; its record key."""
    record = {"$type": POST, "text": text, "createdAt": "2026-11-24T00:00:00Z", **extra}
    made = call(pds, "com.atproto.repo.createRecord", session["accessJwt"],
                json={"repo": session["did"], "collection": POST, "record": record})  # fmt: skip
    return str(made["uri"].rsplit("/", 1)[1])


def rkeys(pds: LocalPds, did: str) -> set[str]:
    listed = call(pds, "com.atproto.repo.listRecords",
                  params={"repo": did, "collection": POST, "limit": 100})  # fmt: skip
    return {record["uri"].rsplit("/", 1)[1] for record in listed["records"]}


def latest(service: LocalPds | LocalRelay, did: str) -> Any:
    response = service.xrpc("com.atproto.sync.getLatestCommit", params={"did": did})
    return response.json() if response.status_code == 200 else None


def dropped(relay: LocalRelay, reason: str | None = None) -> float:
    """Events the relay dropped for ``reason`` (any reason when None)."""
    total = 0.0
    for metric in relay.ctx.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == "strato_relay_events_dropped_total" and (
                reason is None or sample.labels.get("reason") == reason
            ):
                total += sample.value
    return total


def emailed_code(pds: LocalPds, did: str, caplog: pytest.LogCaptureFixture,
                 request: Callable[[], None]) -> str:  # fmt: skip
    """The code ``request`` has the PDS email (to its log: no mail server here)."""
    with caplog.at_level(logging.INFO, logger="strato.pds.mailer"):
        caplog.clear()
        request()
    (line,) = [r.getMessage() for r in caplog.records if did in r.getMessage()]
    return line.rsplit(" ", 1)[1]


def test_an_account_moves_to_another_pds_and_restores_a_backup_later(
    net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    old, new, relay = net.old, net.new, net.relay
    alice = old.create_account("alice.test", email="alice@example.com")
    did, old_token = alice["did"], alice["accessJwt"]
    blob = call(old, "com.atproto.repo.uploadBlob", old_token, content=PNG,
                headers={"Content-Type": "image/png"})["blob"]  # fmt: skip
    images = {"$type": "app.bsky.embed.images", "images": [{"image": blob, "alt": "a"}]}
    original = {write(old, alice, "first"), write(old, alice, "picture", embed=images)}
    call(old, "app.bsky.actor.putPreferences", old_token, json={"preferences": PREFERENCES})
    wait_for(lambda: latest(relay, did) == latest(old, did), "the relay to follow the old PDS")

    # the move, step by step as the reference's clients make it
    service_auth = call(old, "com.atproto.server.getServiceAuth", old_token,
                        params={"aud": new.settings.service_did,
                                "lxm": "com.atproto.server.createAccount"})  # fmt: skip
    created = call(new, "com.atproto.server.createAccount", service_auth["token"],
                   json={"handle": "alice2.test", "did": did, "password": PASSWORD})  # fmt: skip
    new_token = created["accessJwt"]
    backup = old.xrpc("com.atproto.sync.getRepo", params={"did": did}).content
    call(new, IMPORT, new_token, content=backup, headers=CAR)
    missing = call(new, "com.atproto.repo.listMissingBlobs", new_token)["blobs"]
    assert [item["cid"] for item in missing] == [blob["ref"]["$link"]]
    for item in missing:
        data = old.xrpc("com.atproto.sync.getBlob", params={"did": did, "cid": item["cid"]})
        assert data.status_code == 200, data.text
        call(new, "com.atproto.repo.uploadBlob", new_token, content=data.content,
             headers={"Content-Type": data.headers["Content-Type"]})  # fmt: skip
    assert call(new, "com.atproto.repo.listMissingBlobs", new_token) == {"blobs": []}
    preferences = call(old, "app.bsky.actor.getPreferences", old_token)["preferences"]
    call(new, "app.bsky.actor.putPreferences", new_token, json={"preferences": preferences})
    credentials = call(new, "com.atproto.identity.getRecommendedDidCredentials", new_token)

    def request_signature() -> None:
        call(old, "com.atproto.identity.requestPlcOperationSignature", old_token, content=b"")

    code = emailed_code(old, did, caplog, request_signature)
    signed = call(old, "com.atproto.identity.signPlcOperation", old_token,
                  json={"token": code, **credentials})  # fmt: skip
    call(new, "com.atproto.identity.submitPlcOperation", new_token, json=signed)
    call(new, "com.atproto.server.activateAccount", new_token, content=b"")
    call(old, "com.atproto.server.deactivateAccount", old_token, json={})

    # the account lives on the new PDS: its records, blob and preferences; it writes there
    assert rkeys(new, did) == original
    picture = new.xrpc("com.atproto.sync.getBlob", params={"did": did, "cid": blob["ref"]["$link"]})
    assert picture.content == PNG
    assert call(new, "app.bsky.actor.getPreferences", new_token)["preferences"] == PREFERENCES
    write(new, created, "from my new home")
    wait_for(lambda: latest(relay, did) == latest(new, did), "the relay to follow the new PDS")
    assert dropped(relay, "rev_not_newer") == 0
    host = relay.ctx.accounts.get(None, did)
    assert host is not None
    assert host.host_id == relay.ctx.hosts.get(None, new.settings.hostname).id  # type: ignore[union-attr]

    # later: the old PDS is gone, and the backup it made is restored on the new one
    net.stack.close()
    write(new, created, "lost in the restore")
    before = latest(new, did)
    call(new, IMPORT, new_token, content=backup, headers=CAR)
    assert rkeys(new, did) == original
    assert latest(new, did)["rev"] > before["rev"]
    wait_for(lambda: latest(relay, did) == latest(new, did), "the relay to follow the restore")
    assert dropped(relay, "rev_not_newer") == 0


def test_reimports_reach_a_relay_as_a_commit_or_a_sync(tmp_path: Path, net: Net) -> None:
    pds, relay = net.new, net.relay
    bob = pds.create_account("bob.test")
    did, token = bob["did"], bob["accessJwt"]
    kept = {write(pds, bob, f"kept {n}") for n in range(3)}
    export = pds.xrpc("com.atproto.sync.getRepo", params={"did": did}).content
    lost = {write(pds, bob, f"lost {n}") for n in range(2)}
    wait_for(lambda: latest(relay, did) == latest(pds, did), "the relay to follow the PDS")
    subscriber = Collector(relay.stream_url, cursor=relay.ctx.sequencer.head())
    try:
        before = latest(pds, did)
        call(pds, IMPORT, token, content=export, headers=CAR)
        assert rkeys(pds, did) == kept
        after = latest(pds, did)
        assert after["rev"] > before["rev"]
        (event,) = subscriber.wait(1)
    finally:
        subscriber.stop()
    # the relay verified the import's #commit against its last state and forwarded it
    assert event.t == "#commit"
    assert (event.body["rev"], event.body["since"]) == (after["rev"], before["rev"])
    deleted = {op["path"].split("/")[1] for op in event.body["ops"] if op["action"] == "delete"}
    assert deleted == lost
    assert latest(relay, did) == after
    # a difference too large for one commit: a #sync, accepted because its rev is newer
    key = pds.ctx.keys.signing_key(did)
    writes = [Create(POST, {"$type": POST, "text": str(n), "createdAt": "2026-11-24T00:00:00Z"},
                     f"n{n:03}") for n in range(250)]  # fmt: skip
    with Repo.open(tmp_path / "large", did, key, sync=False) as repo:
        repo.create(writes[:200])
        repo.apply_writes(writes[200:])
        large = repo.export_bytes()
    subscriber = Collector(relay.stream_url, cursor=relay.ctx.sequencer.head())
    try:
        call(pds, IMPORT, token, content=large, headers=CAR)
        (event,) = subscriber.wait(1)
    finally:
        subscriber.stop()
    assert event.t == "#sync"
    wait_for(lambda: latest(relay, did) == latest(pds, did), "the relay to take the #sync")
    assert dropped(relay) == 0
