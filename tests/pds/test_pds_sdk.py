"""The ``atproto`` Python SDK, unmodified, as a real client of the PDS: create an account, log
in, post, like, read and list records, delete, upload an image and post it, export the
repository (the CAR verifies and holds the records), and the SDK's firehose client reading our
``subscribeRepos`` live and from a cursor."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from atproto_client import Client, models
from atproto_core.car import CAR
from atproto_firehose import FirehoseSubscribeReposClient, parse_subscribe_repos_message
from pds_net import PASSWORD, LocalPds
from pds_repo_helpers import LIKE, PNG, POST
from strato.repo.verify import verify_repo


@contextlib.contextmanager
def sdk_client(pds: LocalPds, handle: str) -> Iterator[tuple[Client, str]]:
    """A new account created and logged in through the SDK; the client and the DID."""
    client = Client(base_url=f"{pds.url}/xrpc")
    try:
        created = client.com.atproto.server.create_account(
            models.ComAtprotoServerCreateAccount.Data(handle=handle, password=PASSWORD)
        )
        client.login(handle, PASSWORD, fetch_bsky_profile=False)  # no appview to ask
        yield client, created.did
    finally:
        client.request.close()


# the SDK itself uploads with httpx's deprecated ``data=<bytes>``
@pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")
def test_sdk_posts_likes_reads_deletes_and_exports(pds: LocalPds) -> None:
    with sdk_client(pds, "alice.test") as (client, did):
        check_posts_likes_reads_deletes_and_exports(pds, client, did)


def check_posts_likes_reads_deletes_and_exports(pds: LocalPds, client: Client, did: str) -> None:
    first = client.send_post("hello from the SDK", profile_identify=did)
    second = client.send_post("second", profile_identify=did)
    like = client.app.bsky.feed.like.create(
        did,
        models.AppBskyFeedLike.Record(
            created_at=client.get_current_time_iso(),
            subject=models.ComAtprotoRepoStrongRef.Main(uri=first.uri, cid=first.cid),
        ),
    )
    rkey = first.uri.rsplit("/", 1)[1]
    got = client.get_post(rkey, profile_identify=did)
    assert got.value.text == "hello from the SDK"
    assert got.cid == first.cid
    listed = client.app.bsky.feed.post.list(did)
    assert sorted(listed.records) == sorted([first.uri, second.uri])
    assert client.delete_post(second.uri)
    assert list(client.app.bsky.feed.post.list(did).records) == [first.uri]

    image = client.send_image("a picture", PNG, "alt text", profile_identify=did)
    posted = client.get_post(image.uri.rsplit("/", 1)[1], profile_identify=did)
    blob = posted.value.embed.images[0].image
    assert blob.mime_type == "image/png"
    assert blob.size == len(PNG)
    served = client.com.atproto.sync.get_blob({"did": did, "cid": blob.ref.link})
    assert served == PNG

    car = client.com.atproto.sync.get_repo({"did": did})
    key = pds.ctx.keys.signing_key(did).public_key.did_key()
    report = verify_repo(car, did_key=key, did=did)
    paths = {path for path, _ in report.records}
    assert paths == {
        f"{POST}/{rkey}",
        f"{POST}/{image.uri.rsplit('/', 1)[1]}",
        f"{LIKE}/{like.uri.rsplit('/', 1)[1]}",
    }
    latest = client.com.atproto.sync.get_latest_commit({"did": did})
    assert latest.cid == str(report.commit_cid)
    # the SDK's own CAR reader agrees
    parsed = CAR.from_bytes(car)
    assert str(parsed.root) == latest.cid


class SdkFirehose:
    """The SDK's firehose client reading our subscribeRepos in a thread until it has ``count``
    commits of ``did``."""

    def __init__(self, pds: LocalPds, did: str, count: int, cursor: int | None = None) -> None:
        self.did = did
        self.count = count
        self.commits: list[Any] = []
        self.seqs: list[int] = []
        params = None if cursor is None else {"cursor": cursor}
        base = pds.url.replace("http://", "ws://") + "/xrpc"
        self.client = FirehoseSubscribeReposClient(params, base_uri=base)
        self.thread = threading.Thread(target=self.client.start, args=(self.on_message,))
        self.thread.start()

    def on_message(self, message: Any) -> None:
        parsed = parse_subscribe_repos_message(message)
        self.seqs.append(parsed.seq)
        commit = isinstance(parsed, models.ComAtprotoSyncSubscribeRepos.Commit)
        if commit and parsed.repo == self.did:
            self.commits.append(parsed)
            if len(self.commits) == self.count:
                self.client.stop()

    def finish(self) -> list[Any]:
        self.thread.join(timeout=20)
        if self.thread.is_alive():
            self.client.stop()
            self.thread.join()
            raise AssertionError(f"the SDK firehose client got {len(self.commits)} commits")
        return self.commits


def _texts(commits: list[Any]) -> list[str]:
    texts = []
    for commit in commits:
        car = CAR.from_bytes(commit.blocks)
        for op in commit.ops:
            if op.action == "create" and op.path.startswith(POST):
                texts.append(car.blocks[op.cid]["text"])
    return texts


def test_sdk_firehose_live_and_from_a_cursor(pds: LocalPds) -> None:
    with sdk_client(pds, "bob.test") as (client, did):
        check_firehose_live_and_from_a_cursor(pds, client, did)


def check_firehose_live_and_from_a_cursor(pds: LocalPds, client: Client, did: str) -> None:
    client.send_post("before", profile_identify=did)
    seq_before = pds.ctx.sequencer.head()
    # live: start reading, then write
    live = SdkFirehose(pds, did, 2)
    deadline = time.monotonic() + 20
    while not pds.subscriber_count:
        assert time.monotonic() < deadline, "the SDK client did not connect"
        time.sleep(0.05)
    client.send_post("live one", profile_identify=did)
    client.send_post("live two", profile_identify=did)
    commits = live.finish()
    assert _texts(commits) == ["live one", "live two"]
    assert [c.seq for c in commits] == [seq_before + 1, seq_before + 2]
    # from cursor 0: the whole log, including the account's first (empty) commit
    replay = SdkFirehose(pds, did, 4, cursor=0).finish()
    assert _texts(replay) == ["before", "live one", "live two"]
    assert replay[0].since is None
    assert [c.since for c in replay[1:]] == [c.rev for c in replay[:-1]]
    # from a cursor: only what follows it, never the event at the cursor itself
    after = SdkFirehose(pds, did, 2, cursor=seq_before).finish()
    assert [c.seq for c in after] == [seq_before + 1, seq_before + 2]
    head = CAR.from_bytes(after[-1].blocks)
    assert str(head.root) == str(after[-1].commit)
