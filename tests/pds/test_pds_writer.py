"""The group-commit writer: one transaction for the work queued together, each piece in its
own nested transaction, answers only after the commit, the firehose told after it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from strato.pds.metrics import WriterMetrics
from strato.pds.writer import Writer, WriterClosedError
from strato.service.metrics import ServerMetrics
from strato.storage import Store, WriteTxn


def _store(path: Path) -> Store:
    return Store.open(path, name="t", schema_version=1, tables=("t",), sync=False)


def test_queued_work_shares_one_transaction_and_a_failure_spoils_nothing(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    notified: list[int] = []
    server = ServerMetrics("pds")
    writer = Writer(store, after_commit=lambda: notified.append(1), metrics=WriterMetrics(server))
    gate = threading.Event()

    def put(key: bytes) -> object:
        def work(txn: WriteTxn) -> bytes:
            txn.put("t", key, b"v")
            return key

        return work

    def blocking(txn: WriteTxn) -> None:
        gate.wait(10)

    def failing(txn: WriteTxn) -> None:
        txn.put("t", b"bad", b"v")
        raise ValueError("refused")

    async def main() -> list[object]:
        writer.start()
        first = asyncio.ensure_future(writer.submit(blocking))
        await asyncio.sleep(0.05)  # the writer thread is now inside the first transaction
        rest = [
            asyncio.ensure_future(writer.submit(put(b"a"))),  # type: ignore[arg-type]
            asyncio.ensure_future(writer.submit(failing)),
            asyncio.ensure_future(writer.submit(put(b"b"))),  # type: ignore[arg-type]
        ]
        await asyncio.sleep(0.05)
        gate.set()
        await first
        return await asyncio.gather(*rest, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        writer.stop()
    assert results[0] == b"a"
    assert results[2] == b"b"
    assert isinstance(results[1], ValueError)
    assert len(notified) == 2
    sample = server.registry.get_sample_value
    assert sample("strato_pds_group_commit_requests_count") == 2
    assert sample("strato_pds_group_commit_requests_sum") == 4
    assert sample("strato_pds_group_commit_refused_total", {"error": "ValueError"}) == 1
    with store.read() as txn:
        assert sorted(key for key, _ in txn.items("t")) == [b"a", b"b"]
    store.close()


def test_work_is_refused_once_stopped(tmp_path: Path) -> None:
    store = _store(tmp_path)
    writer = Writer(store)

    async def main() -> None:
        await writer.submit(lambda txn: None)

    with pytest.raises(WriterClosedError):
        asyncio.run(main())
    writer.start()
    writer.stop()
    with pytest.raises(WriterClosedError):
        asyncio.run(main())
    store.close()
