"""The simulated PDS host over real sockets on 127.0.0.1: it streams its frames to
``StreamClient`` honouring the cursor (replay, live, FutureCursor, InvalidRequest), answers the
relay's repair calls as of the frames released, serves crafted bad frames as they are, and its
accounts become did:plc identities naming it in a real PLC directory."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from loadgen import (
    Dataset,
    DatasetSpec,
    HostFleet,
    SimulatedHost,
    bad,
    load_dataset,
    register_accounts,
    register_accounts_in_store,
)
from loadgen.host import CAR_MEDIA_TYPE, SERVER_HEADER
from pds_net import run_plc
from strato.errors import EventStreamError, FrameError
from strato.firehose import Frame, StreamClient, decode_frame
from strato.identity.plc import PlcClient
from strato.plc.store import PlcStore
from strato.repo.commit import next_rev
from strato.repo.verify import verify_repo
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

SPEC = DatasetSpec(hosts=2, accounts_per_host=3, events=60, base_records=20, seed=5)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return load_dataset(SPEC, tmp_path_factory.mktemp("loadgen"))


async def read(url: str, cursor: int | None, count: int) -> list[Frame]:
    """``count`` frames from the stream at ``url``."""
    frames: list[Frame] = []
    client = StreamClient(url, cursor=cursor, reconnect=False)
    async with contextlib.aclosing(client.frames()) as stream:
        async for frame in stream:
            frames.append(frame)
            if len(frames) == count:
                break
    return frames


async def drain(client: StreamClient, seqs: list[int]) -> None:
    """Read until the stream ends, noting each frame's seq."""
    async for frame in client.frames():
        seqs.append(frame.seq or 0)


def test_stream_honours_the_cursor(dataset: Dataset) -> None:
    async def run() -> None:
        async with dataset.hosts()[0] as host:
            total = len(host.frames)
            host.release(10)
            replayed = await read(host.stream_url, 0, 10)
            assert [frame.seq for frame in replayed] == list(range(1, 11))
            assert [frame.body for frame in replayed] == [
                _body(data) for data in dataset.host_frames[0][:10]
            ]
            from_seven = asyncio.create_task(read(host.stream_url, 7, total - 7))
            await host.wait_connections(1)
            host.play()
            later = await from_seven
            assert [frame.seq for frame in later] == list(range(8, total + 1))
            assert host.sent >= 10 + total - 7

    asyncio.run(run())


def test_live_subscriber_gets_only_new_frames(dataset: Dataset) -> None:
    async def run() -> None:
        async with dataset.hosts()[1] as host:
            host.release(5)
            live = asyncio.create_task(read(host.stream_url, None, 3))
            await host.wait_connections(1)
            host.play(rate=1000.0)
            assert [frame.seq for frame in await live] == [6, 7, 8]

    asyncio.run(run())


@pytest.mark.parametrize(
    ("cursor", "error"),
    [("99999", "FutureCursor"), ("-1", "InvalidRequest"), ("x", "InvalidRequest")],
)
def test_bad_cursors_get_an_error_frame(dataset: Dataset, cursor: str, error: str) -> None:
    async def run() -> None:
        async with dataset.hosts()[0] as host:
            host.release(3)
            async with connect(f"{host.stream_url}?cursor={cursor}") as websocket:
                frame = decode_frame(await websocket.recv(decode=False))
                assert frame.is_error
                assert frame.body["error"] == error
                with pytest.raises(ConnectionClosedError) as closed:
                    await websocket.recv()
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1008

    asyncio.run(run())


def test_stream_client_sees_future_cursor(dataset: Dataset) -> None:
    async def run() -> None:
        async with dataset.hosts()[0] as host:
            client = StreamClient(host.stream_url, cursor=99999, reconnect=False)
            with pytest.raises(EventStreamError) as caught:
                await drain(client, [])
            assert caught.value.error == "FutureCursor"

    asyncio.run(run())


def test_repair_calls_follow_the_released_frames(dataset: Dataset) -> None:
    async def run() -> None:
        async with dataset.hosts()[0] as host:
            did = host.accounts[0].did
            key = dataset.accounts[dataset.host_accounts(0)[0]].key.public_key.did_key()
            positions = [i for i, data in enumerate(host.frames) if _body(data)["repo"] == did]
            base = host.accounts[0].base()
            async with httpx.AsyncClient(base_url=host.url) as http:
                status = (await _get(http, "getRepoStatus", did)).json()
                assert status == {"did": did, "active": True, "rev": base.rev}
                report = verify_repo((await _get(http, "getRepo", did)).content, did_key=key)
                assert (report.rev, report.data_cid) == (base.rev, base.root)

                host.release(positions[1] + 1)
                second = _body(host.frames[positions[1]])
                latest = (await _get(http, "getLatestCommit", did)).json()
                assert latest == {"cid": second["commit"].encode(), "rev": second["rev"]}
                answer = await _get(http, "getRepo", did)
                assert answer.headers["content-type"] == CAR_MEDIA_TYPE
                assert answer.headers["server"] == SERVER_HEADER
                report = verify_repo(answer.content, did_key=key, did=did)
                assert (report.rev, report.commit_cid) == (second["rev"], second["commit"])

                host.set_status(did, "deactivated")
                status = (await _get(http, "getRepoStatus", did)).json()
                assert status["active"] is False
                assert status["status"] == "deactivated"

                missing = await _get(http, "getRepoStatus", "did:plc:nobodyhere")
                assert missing.status_code == 400
                assert missing.json()["error"] == "RepoNotFound"
                described = (await http.get("/xrpc/com.atproto.server.describeServer")).json()
                assert described["did"] == f"did:web:127.0.0.1%3A{host.port}"
                unknown = await http.get("/xrpc/com.atproto.sync.listBlobs")
                assert unknown.status_code == 501

    asyncio.run(run())


def test_crafted_frames_are_served_as_they_are(dataset: Dataset) -> None:
    async def run() -> None:
        chain = dataset.base_chain(0)
        async with SimulatedHost() as host:
            good = bad.valid_commit(chain, next_rev(chain.rev), "2026-01-01T00:00:00.000Z")
            host.add_event("#commit", good)
            event = bad.malformed_frame(chain, next_rev(chain.rev), "2026-01-01T00:00:00.000Z")
            host.add_raw(event.frame(2))
            assert len(host.frames) == 2
            host.release()
            client = StreamClient(host.stream_url, cursor=0, reconnect=False)
            seen: list[int] = []
            with pytest.raises(FrameError, match="DAG-CBOR"):
                await drain(client, seen)
            assert seen == [1]

    asyncio.run(run())


def test_fleet_plays_every_host(dataset: Dataset) -> None:
    async def run() -> None:
        hosts = dataset.hosts()
        async with HostFleet(hosts) as fleet:
            readers = [
                asyncio.create_task(read(host.stream_url, None, len(host.frames))) for host in hosts
            ]
            await fleet.wait_connections(1)
            assert fleet.connections == len(hosts)
            await asyncio.gather(*fleet.play(rate=2000.0))
            got = await asyncio.gather(*readers)
            assert [len(frames) for frames in got] == [len(h) for h in dataset.host_frames]

    asyncio.run(run())


def test_register_accounts_over_http(dataset: Dataset, tmp_path: Path) -> None:
    endpoints = [f"http://127.0.0.1:{4000 + a.host}" for a in dataset.accounts]

    async def run(plc_url: str) -> None:
        async with PlcClient(plc_url) as plc:
            await register_accounts(plc, dataset.accounts, endpoints, dataset.rotation_key)
            for account, endpoint in zip(dataset.accounts, endpoints, strict=True):
                await _check_document(plc, account.did, endpoint, account.key.public_key.did_key())

    with run_plc(tmp_path / "plc") as plc_url:
        asyncio.run(run(plc_url))


def test_register_accounts_in_store(dataset: Dataset, tmp_path: Path) -> None:
    account = dataset.accounts[0]
    store = PlcStore.open(tmp_path / "plc", sync=False)
    try:
        register_accounts_in_store(
            store, [account], ["http://127.0.0.1:4100"], dataset.rotation_key
        )
    finally:
        store.close()

    async def run(plc_url: str) -> None:
        async with PlcClient(plc_url) as plc:
            await _check_document(
                plc, account.did, "http://127.0.0.1:4100", account.key.public_key.did_key()
            )

    with run_plc(tmp_path / "plc") as plc_url:
        asyncio.run(run(plc_url))


async def _check_document(plc: PlcClient, did: str, endpoint: str, did_key: str) -> None:
    data = await plc.get_data(did)
    assert data["services"]["atproto_pds"]["endpoint"] == endpoint
    assert data["verificationMethods"]["atproto"] == did_key


def _body(data: bytes) -> dict[str, Any]:
    return decode_frame(data).body


async def _get(http: httpx.AsyncClient, method: str, did: str) -> httpx.Response:
    return await http.get(f"/xrpc/com.atproto.sync.{method}", params={"did": did})


def test_fleet_plays_a_count_shared_by_frames_left(dataset: Dataset) -> None:
    async def run() -> None:
        hosts = dataset.hosts()
        fleet = HostFleet(hosts)
        await asyncio.gather(*fleet.play(None, 25))
        assert sum(host.released for host in hosts) == 25
        left = [len(host.frames) for host in hosts]
        for host, frames in zip(hosts, left, strict=True):
            assert abs(host.released - 25 * frames / sum(left)) < 1
        await asyncio.gather(*fleet.play(5000.0))
        assert [host.released for host in hosts] == left

    asyncio.run(run())


def test_a_host_may_go_by_localhost(dataset: Dataset) -> None:
    async def run() -> None:
        async with dataset.hosts(name="localhost")[0] as host:
            assert host.hostname == f"localhost:{host.port}"
            assert host.stream_url.startswith(f"ws://localhost:{host.port}/")
            host.release(2)
            assert [frame.seq for frame in await read(host.stream_url, 0, 2)] == [1, 2]
            async with httpx.AsyncClient(base_url=host.url) as http:
                described = (await http.get("/xrpc/com.atproto.server.describeServer")).json()
            assert described["did"] == f"did:web:localhost%3A{host.port}"

    asyncio.run(run())
