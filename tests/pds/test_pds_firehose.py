"""The PDS's own firehose, served by the Rust frame writer in its process, read by the
``atproto`` SDK's firehose client, unmodified: a cursor in the future and a bad cursor end the
stream with their error, and a client that stops reading is cut with ``ConsumerTooSlow`` (and
counted), not held in memory. (Replay and live through the SDK: ``test_pds_sdk.py``.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from atproto_firehose import FirehoseSubscribeReposClient
from pds_net import LocalPds
from strato.firehose import encode_message

TIMEOUT = 30.0


class SdkReader:
    """The SDK client in a thread; ``block`` makes its callback wait (reading nothing more)
    until :meth:`release`. What ended its ``start`` is kept in :attr:`error`."""

    def __init__(self, pds: LocalPds, params: dict[str, Any] | None, *, block: bool) -> None:
        base = pds.url.replace("http://", "ws://") + "/xrpc"
        self.client = FirehoseSubscribeReposClient(params, base_uri=base)
        self.block = block
        self.released = threading.Event()
        self.received = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.client.start(self._on_message)
        except Exception as err:  # the error frame the server ended the stream with
            self.error = err

    def _on_message(self, message: Any) -> None:
        self.received += 1
        if self.block:
            self.released.wait(TIMEOUT)

    def release(self) -> None:
        self.released.set()

    def finish(self) -> BaseException | None:
        self.thread.join(TIMEOUT)
        if self.thread.is_alive():
            self.client.stop()
            self.thread.join()
            raise AssertionError("the SDK client did not end")
        return self.error


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


def xrpc_error(error: BaseException | None) -> str:
    """The XRPC error name the SDK raised for an error frame."""
    assert error is not None, "the stream ended without an error"
    content = getattr(error.args[0], "error", None) if error.args else None
    assert isinstance(content, str), repr(error)
    return content


@pytest.mark.parametrize(
    ("cursor", "error"), [(10**9, "FutureCursor"), (-1, "InvalidRequest")], ids=["future", "bad"]
)
def test_the_sdk_gets_the_cursor_errors(pds: LocalPds, cursor: int, error: str) -> None:
    reader = SdkReader(pds, {"cursor": cursor}, block=False)
    assert xrpc_error(reader.finish()) == error
    assert reader.received == 0
    cut = pds.ctx.metrics.registry.get_sample_value(
        "strato_firehose_consumers_cut_total", {"reason": error}
    )
    assert cut == 1


def test_an_sdk_client_that_stops_reading_is_cut(pds: LocalPds) -> None:
    reader = SdkReader(pds, None, block=True)
    wait_until(lambda: pds.subscriber_count == 1)
    registry = pds.ctx.metrics.registry
    sequencer = pds.ctx.sequencer
    frame = encode_message("#info", {"name": "padding", "message": "x" * 20_000})

    def cut() -> float:
        value = registry.get_sample_value(
            "strato_firehose_consumers_cut_total", {"reason": "ConsumerTooSlow"}
        )
        return value or 0.0

    # The first event blocks the SDK's callback; the rest fill the socket buffers, then the
    # writer's live bound (the subscriber is served from the log), then the lag bound.
    written = 0
    while not cut():
        with pds.ctx.store.write() as txn:
            sequencer.append(txn, [lambda seq: frame] * 100)
        sequencer.notify()
        written += 100
        assert written < 20_000, "the subscriber was never cut"
    reader.release()
    assert xrpc_error(reader.finish()) == "ConsumerTooSlow"
    assert reader.received < written
    wait_until(lambda: pds.subscriber_count == 0)
    # The PDS serves on: a plain request on the stream's path is told to upgrade.
    plain = httpx.get(f"{pds.url}/xrpc/com.atproto.sync.subscribeRepos")
    assert (plain.status_code, plain.json()["error"]) == (426, "InvalidRequest")
