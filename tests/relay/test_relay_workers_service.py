"""The relay's service (:func:`strato.relay.service.relay_service`) in this process: with
workers, the port is bound but not accepted on, and while it runs the workers' wake-up is the
context's notify listener and their consumer table one of the admin API's sources (both gone
once it stops, the workers ended); with none, the fan-out runs in this process, wired in the
same way, and takes the firehose's upgrades over from the HTTP server."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from localnet import fanout_of
from strato.firehose import SUBSCRIBE_REPOS_PATH
from strato.relay.app import create_app
from strato.relay.service import relay_service
from strato.relay.settings import RelaySettings
from strato.service.serving import Running, serve


def settings(tmp_path: Path, workers: int) -> RelaySettings:
    return RelaySettings(
        data_dir=tmp_path / "relay", port=0, plc_url="http://127.0.0.1:9", sync=False,
        workers=workers,
    )  # fmt: skip


def workers() -> set[int]:
    """This process's live fan-out worker children."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if (
            int(ppid) == os.getpid()
            and state != "Z"
            and b"strato.firehose.fanout.worker" in command
        ):
            found.add(int(entry.name))
    return found


def test_the_workers_are_wired_into_the_relay_while_it_runs(tmp_path: Path) -> None:
    config = settings(tmp_path, workers=1)
    app = create_app(config)
    ctx, admin = app.state.ctx, app.state.admin
    service = relay_service(config, app)
    assert (service.accept, service.companion is not None) == (False, True)
    seen: dict[str, object] = {}

    async def scenario() -> None:
        stop = asyncio.Event()

        def ready(running: list[Running]) -> None:
            seen["listeners"] = len(ctx.notify.listeners)
            seen["sources"] = len(admin.consumers.sources)
            seen["socket"] = (tmp_path / "relay" / "fanout.sock").exists()
            seen["workers"] = len(workers())
            stop.set()

        await serve([service], ready, stop_when=stop)

    asyncio.run(scenario())
    assert seen == {"listeners": 1, "sources": 1, "socket": True, "workers": 1}
    assert workers() == set()
    assert ctx.notify.listeners == ()
    assert admin.consumers.sources == ()
    assert not (tmp_path / "relay" / "fanout.sock").exists()
    # An upgrade that reaches the main process all the same is sent to a new connection.
    assert list(service.takeovers) == [SUBSCRIBE_REPOS_PATH]


def test_with_no_workers_the_fan_out_runs_in_this_process(tmp_path: Path) -> None:
    config = settings(tmp_path, workers=0)
    app = create_app(config)
    ctx, admin = app.state.ctx, app.state.admin
    service = relay_service(config, app)
    assert (service.accept, service.companion is not None) == (True, True)
    assert list(service.takeovers) == [SUBSCRIBE_REPOS_PATH]
    seen: dict[str, object] = {}

    async def scenario() -> None:
        stop = asyncio.Event()

        def ready(running: list[Running]) -> None:
            seen["listeners"] = ctx.notify.listeners == (fanout_of(service).notify,)
            seen["sources"] = len(admin.consumers.sources)
            seen["workers"] = len(workers())
            stop.set()

        await serve([service], ready, stop_when=stop)

    asyncio.run(scenario())
    assert seen == {"listeners": True, "sources": 1, "workers": 0}
    assert ctx.notify.listeners == ()
    assert admin.consumers.sources == ()
    assert (service.name, service.host, service.port) == ("relay", "127.0.0.1", 0)
