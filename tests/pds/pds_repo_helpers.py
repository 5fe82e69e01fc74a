"""Helpers for the PDS repository and sync tests: records, writes over HTTP, and the checks
that a refused request wrote nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from pds_net import LocalPds
from strato.firehose import decode_frame
from strato.syntax import TID

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
CREATED_AT = "2026-11-24T00:00:00Z"
#: A CID no repository holds.
OTHER_CID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
#: The first bytes of a PNG file: enough for the blob store's sniffing.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


def tid(n: int) -> str:
    """The ``n``-th record key of a test (the key of a post or a like is a TID; ordered by n)."""
    return str(TID.from_parts(1_700_000_000_000_000 + n, 0))


def post(text: Any = "hello", **extra: Any) -> dict[str, Any]:
    """An ``app.bsky.feed.post`` record (``text`` of any type, for invalid ones)."""
    return {"$type": POST, "text": text, "createdAt": CREATED_AT, **extra}


@dataclass
class User:
    """An account on the test PDS and its access token."""

    pds: LocalPds
    did: str
    handle: str
    token: str

    def call(self, nsid: str, **kwargs: Any) -> httpx.Response:
        """An XRPC call with this user's token."""
        return self.pds.xrpc(nsid, token=self.token, **kwargs)

    def ok(self, nsid: str, **kwargs: Any) -> Any:
        """An XRPC call that must succeed; its JSON body."""
        response = self.call(nsid, **kwargs)
        assert response.status_code == 200, response.text
        return response.json() if response.content else None

    def create(self, record: dict[str, Any], collection: str = POST, **body: Any) -> Any:
        """createRecord; its output."""
        return self.ok(
            "com.atproto.repo.createRecord",
            json={"repo": self.did, "collection": collection, "record": record, **body},
        )

    def records(self, collection: str = POST) -> dict[str, Any]:
        """Every record of ``collection`` in the store, by record key."""
        with self.pds.ctx.store.read() as txn:
            page = self.pds.ctx.repos.list_records(txn, self.did, collection, limit=1000)
        return {record.rkey: record.cid.encode() for record in page.records}

    def head(self) -> str:
        """The repository's current commit CID."""
        with self.pds.ctx.store.read() as txn:
            return self.pds.ctx.repos.latest(txn, self.did).commit.encode()


def user(pds: LocalPds, name: str) -> User:
    """A new account ``<name>.test``."""
    session = pds.create_account(f"{name}.test")
    return User(pds, session["did"], session["handle"], session["accessJwt"])


def error_of(response: httpx.Response) -> tuple[int, str]:
    """The status and XRPC error name of an answer."""
    return response.status_code, response.json()["error"]


@contextlib.contextmanager
def nothing_written(pds: LocalPds, *users: User) -> Iterator[None]:
    """Asserts the block wrote nothing: no event, and each user's repository head is the
    same."""
    seq = pds.ctx.sequencer.head()
    heads = [u.head() for u in users]
    yield
    assert pds.ctx.sequencer.head() == seq
    assert [u.head() for u in users] == heads


def event_kinds(pds: LocalPds, after: int) -> list[str | None]:
    """The kinds of the firehose events after ``after``."""
    return [decode_frame(event.frame).t for event in pds.ctx.sequencer.events_after(after)]
