"""The ``atproto`` Python SDK's firehose client, unmodified, reading strato's ``subscribeRepos``
(live, from a cursor, and an outdated cursor) with its own frame parsing and models."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from atproto_client import models
from atproto_core.car import CAR
from atproto_firehose import FirehoseSubscribeReposClient, parse_subscribe_repos_message
from firehose_helpers import DID, FirehoseService, serve_stream, wait_for
from strato.firehose import Retention


class SdkReader:
    """The SDK client reading the test server in a thread until it has ``count`` messages,
    each parsed into the SDK's models."""

    def __init__(self, address: str, count: int, params: dict[str, Any] | None = None) -> None:
        self.count = count
        self.parsed: list[Any] = []
        self.client = FirehoseSubscribeReposClient(params, base_uri=f"ws://{address}/xrpc")
        self.thread = threading.Thread(target=self.client.start, args=(self.on_message,))
        self.thread.start()

    def on_message(self, message: Any) -> None:
        self.parsed.append(parse_subscribe_repos_message(message))
        if len(self.parsed) == self.count:
            self.client.stop()

    def finish(self) -> list[Any]:
        self.thread.join(timeout=20)
        if self.thread.is_alive():
            self.client.stop()
            self.thread.join()
            raise AssertionError(f"the SDK client got only {len(self.parsed)} messages")
        return self.parsed


def check_commit(commit: Any, seq: int) -> None:
    assert isinstance(commit, models.ComAtprotoSyncSubscribeRepos.Commit)
    assert (commit.seq, commit.repo, commit.too_big, commit.rebase) == (seq, DID, False, False)
    car = CAR.from_bytes(commit.blocks)
    assert str(car.root) == str(commit.commit)
    op = commit.ops[0]
    assert op.action == "create"
    assert op.path.startswith("app.bsky.feed.post/")
    record = car.blocks[op.cid]
    assert record["$type"] == "app.bsky.feed.post"


def test_sdk_reads_from_cursor_zero(tmp_path: Path) -> None:
    service = FirehoseService(tmp_path)
    service.append("#identity")
    service.append("#account")
    service.append(count=3)
    with serve_stream(service) as address:
        parsed = SdkReader(address, 5, {"cursor": 0}).finish()
    identity, account, *commits = parsed
    assert isinstance(identity, models.ComAtprotoSyncSubscribeRepos.Identity)
    assert (identity.seq, identity.did, identity.handle) == (1, DID, "alice.test")
    assert isinstance(account, models.ComAtprotoSyncSubscribeRepos.Account)
    assert (account.seq, account.active, account.status) == (2, True, None)
    for seq, commit in enumerate(commits, start=3):
        check_commit(commit, seq)


def test_sdk_reads_from_a_cursor_and_live(tmp_path: Path) -> None:
    service = FirehoseService(tmp_path)
    service.append(count=4)
    with serve_stream(service) as address:
        reader = SdkReader(address, 4, {"cursor": 2})
        wait_for(lambda: service.subscriber_count == 1)
        service.append(count=2)
        parsed = reader.finish()
    for seq, commit in zip((3, 4, 5, 6), parsed, strict=True):
        check_commit(commit, seq)


def test_sdk_reads_live(tmp_path: Path) -> None:
    service = FirehoseService(tmp_path)
    service.append(count=2)
    with serve_stream(service) as address:
        reader = SdkReader(address, 2)
        wait_for(lambda: service.subscriber_count == 1)
        service.append("#account")
        service.append()
        account, commit = reader.finish()
    assert isinstance(account, models.ComAtprotoSyncSubscribeRepos.Account)
    assert account.seq == 3
    check_commit(commit, 4)


def test_sdk_reads_an_outdated_cursor_info(tmp_path: Path) -> None:
    service = FirehoseService(tmp_path, retention=Retention(max_age_seconds=60, max_bytes=None))
    service.append(count=3)
    service.clock.advance(61)
    service.append()
    service.sequencer.prune()
    with serve_stream(service) as address:
        info, commit = SdkReader(address, 2, {"cursor": 1}).finish()
    assert isinstance(info, models.ComAtprotoSyncSubscribeRepos.Info)
    assert info.name == "OutdatedCursor"
    check_commit(commit, 4)
