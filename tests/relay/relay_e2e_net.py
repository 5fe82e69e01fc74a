"""Helpers of the relay's end-to-end tests: waiting, writing posts on a PDS, reading a stream
to a count, and the events of a log as comparable tuples."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from pds_net import LocalPds
from strato.firehose import Frame, StreamClient, decode_frame

POST = {"$type": "app.bsky.feed.post", "text": "hello relay", "createdAt": "2026-11-24T00:00:00Z"}


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def post(pds: LocalPds, session: dict[str, Any], text: str = "hello relay") -> str:
    """Create a post; its rev."""
    made = pds.xrpc(
        "com.atproto.repo.createRecord",
        token=session["accessJwt"],
        json={
            "repo": session["did"],
            "collection": "app.bsky.feed.post",
            "record": {**POST, "text": text},
        },
    )
    assert made.status_code == 200, made.text
    return str(made.json()["commit"]["rev"])


def read_stream(url: str, count: int, cursor: int | None = 0, timeout: float = 30.0) -> list[Frame]:
    """The first ``count`` message frames of the stream at ``url`` (``ws://...``) from
    ``cursor``."""

    async def collect() -> list[Frame]:
        client = StreamClient(url, cursor=cursor, reconnect=False)
        frames: list[Frame] = []
        if count == 0:
            return frames
        async with contextlib.aclosing(client.frames()) as stream:
            async for frame in stream:
                frames.append(frame)
                if len(frames) == count:
                    break
        return frames

    return asyncio.run(asyncio.wait_for(collect(), timeout))


def did_of(frame: Frame) -> str:
    """The account an event is about."""
    return str(frame.body.get("repo") or frame.body.get("did"))


def pds_events(pds: LocalPds) -> list[Frame]:
    """Every event in the PDS's log, decoded."""
    return [decode_frame(event.frame) for event in pds.ctx.sequencer.events_after(0, limit=100_000)]


def event_key(frame: Frame) -> tuple[str | None, str, str | None]:
    """What identifies an event across the PDS's log and the relay's: type, DID, rev."""
    rev = frame.body.get("rev")
    return frame.t, did_of(frame), rev if isinstance(rev, str) else None


class Collector:
    """A subscriber in a thread of its own, collecting message frames from ``cursor`` until
    :meth:`stop`."""

    def __init__(self, url: str, cursor: int | None = None) -> None:
        self.client = StreamClient(url, cursor=cursor, reconnect=False)
        self.frames: list[Frame] = []
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        wait_for(lambda: self.client.connections == 1 or self.error, "the subscriber to connect")
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        async def read() -> None:
            async with contextlib.aclosing(self.client.frames()) as stream:
                async for frame in stream:
                    self.frames.append(frame)

        self._task = self._loop.create_task(read())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception as err:  # reported by stop()
            self.error = err
        finally:
            self._loop.close()

    def wait(self, count: int) -> list[Frame]:
        """The first ``count`` frames, once they are in."""
        wait_for(lambda: len(self.frames) >= count or self.error, f"{count} frames")
        if self.error is not None:
            raise self.error
        return self.frames[:count]

    def stop(self) -> None:
        if self._thread.is_alive() and self._task is not None:
            # the stream may end (and its loop close) at this very moment
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=30)
