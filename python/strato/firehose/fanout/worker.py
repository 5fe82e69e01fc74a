"""A fan-out worker process: ``python -m strato.firehose.fanout.worker SPEC`` (started by
:func:`~strato.firehose.fanout.workers.run_workers`, which writes the JSON ``SPEC``).

It opens the service's log read-only and the consumer table, binds the service's address with
``SO_REUSEPORT``, connects to the main process's hand-off socket when there is one (requests
for other paths go there), serves ``subscribeRepos``
(:class:`~strato.firehose.fanout.server.FanoutServer`) and prints ``ready``. SIGTERM or SIGINT,
or the end of its wake pipe (the writing process has gone), stops it: every consumer gets close
1001 after what is queued, its consumer rows are dropped, and it exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import uvloop
from prometheus_client import CollectorRegistry

from strato.firehose import TABLES, LmdbEventLog, Retention
from strato.firehose.fanout.consumers import ConsumerRegistry
from strato.firehose.fanout.handoff import HandoffSender
from strato.firehose.fanout.metrics import FanoutMetrics, WorkerConnectionMetrics
from strato.firehose.fanout.server import FanoutOptions, FanoutServer
from strato.firehose.fanout.workers import READY_LINE, bind_reuseport
from strato.storage import Store

log = logging.getLogger("strato.firehose.fanout.worker")


async def serve(spec: dict[str, Any]) -> None:
    log_spec = spec["log"]
    store = Store.open(
        log_spec["path"],
        name=log_spec["name"],
        schema_version=log_spec["schema_version"],
        tables=TABLES,
        readonly=True,
    )
    # Retention is the writing process's business: a worker only reads.
    sequencer = LmdbEventLog(store, retention=Retention(None, None))
    registry = ConsumerRegistry.open(Path(spec["data_dir"]), log_spec["name"])
    registry.purge_dead()
    listener = bind_reuseport(spec["host"], spec["port"])
    handoff = HandoffSender(spec["handoff_path"]) if spec["handoff_path"] else None
    metrics = CollectorRegistry()
    server = FanoutServer(
        sequencer,
        registry,
        FanoutMetrics(metrics),
        FanoutOptions(**spec["options"]),
        handoff=handoff,
        connections=WorkerConnectionMetrics(metrics),
        publish_sent=True,  # the main process lists this worker's consumers
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start(listener, wake_fd=spec["wake_fd"])
        sys.stdout.buffer.write(READY_LINE)
        sys.stdout.flush()
        orphaned = asyncio.create_task(server.orphaned.wait())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({orphaned, stopping}, return_when=asyncio.FIRST_COMPLETED)
        orphaned.cancel()
        stopping.cancel()
    finally:
        await server.stop()
        listener.close()
        if handoff is not None:
            handoff.close()
        registry.close()
        store.close()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    uvloop.run(serve(json.loads(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
