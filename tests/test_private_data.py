"""Data at rest is private: every path under a running network's data directory is 0700 or
0600 whatever the umask, after writes, a blob upload and a backup; a tree left open by an older
strato is tightened at start with one warning; no emailed code can be read back from the
files."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from private_files import code_forms, files_holding, loosen, not_private, umask
from relay_net import pds_and_relay
from strato.cli.main import main
from strato_proc import free_ports, start, stop, wait_until_up

PASSWORD = "correct horse battery"
TIGHTENED = "were open to other users; made them owner-only"


@contextmanager
def running_up(data_dir: Path, log: Path, mask: int) -> Iterator[str]:
    """``strato up`` on ``data_dir`` in a child process with umask ``mask``; yields the PDS's
    URL once every service answers."""
    plc_port, pds_port, relay_port = free_ports(3)
    argv = ["up", "--data-dir", str(data_dir), "--plc-port", str(plc_port)]
    argv += ["--pds-port", str(pds_port), "--relay-port", str(relay_port)]
    process = start(log, *argv, umask=mask, stdout=subprocess.DEVNULL)
    try:
        for port, path in ((plc_port, "/_health"), (relay_port, "/xrpc/_health")):
            wait_until_up(process, f"http://127.0.0.1:{port}{path}", log)
        pds = f"http://localhost:{pds_port}"
        wait_until_up(process, f"{pds}/xrpc/_health", log)
        yield pds
    finally:
        assert stop(process) == 0, log.read_text()


def use(pds: str, client: httpx.Client, token: str, text: str) -> None:
    """A record written and a blob uploaded (new bytes each time)."""
    auth = {"Authorization": f"Bearer {token}"}
    did = client.get(f"{pds}/xrpc/com.atproto.server.getSession", headers=auth).json()["did"]
    post = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-01T00:00:00.000Z"}
    body = {"repo": did, "collection": "app.bsky.feed.post", "record": post}
    created = client.post(f"{pds}/xrpc/com.atproto.repo.createRecord", headers=auth, json=body)
    assert created.status_code == 200, created.text
    blob = client.post(
        f"{pds}/xrpc/com.atproto.repo.uploadBlob",
        headers={**auth, "Content-Type": "text/plain"},
        content=text.encode() * 100,
    )
    assert blob.status_code == 200, blob.text


def test_a_local_network_keeps_its_data_private(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "net", tmp_path / "up.log"
    with running_up(data_dir, log, 0o000) as pds, httpx.Client(timeout=30) as client:
        body = {"handle": "alice.test", "password": PASSWORD, "email": "alice@example.com"}
        session = client.post(f"{pds}/xrpc/com.atproto.server.createAccount", json=body).json()
        use(pds, client, session["accessJwt"], "first")
        assert not_private(data_dir) == {}
        metrics = data_dir / "relay" / "fanout-metrics"
        assert list(metrics.glob("*.db")), "the fan-out worker wrote no metrics file"
    assert TIGHTENED not in log.read_text()  # made private, nothing to tighten

    opened = loosen(data_dir)
    earlier = len(log.read_text())
    with running_up(data_dir, log, 0o022) as pds, httpx.Client(timeout=30) as client:
        started = log.read_text()[earlier:]
        assert started.count(TIGHTENED) == 1, started
        assert f"WARNING strato.storage.private: {opened} path(s) under {data_dir} " in started
        assert not_private(data_dir) == {}

        body = {"identifier": "alice.test", "password": PASSWORD}
        session = client.post(f"{pds}/xrpc/com.atproto.server.createSession", json=body).json()
        use(pds, client, session["accessJwt"], "second")
        asked = client.post(
            f"{pds}/xrpc/com.atproto.server.requestPasswordReset",
            json={"email": "alice@example.com"},
        )
        assert asked.status_code == 200, asked.text
        logged = re.findall(r"reset_password: ([A-Z2-7]{5}-[A-Z2-7]{5})", log.read_text())
        assert len(logged) == 1  # the code goes to the log when it is issued, once
        with umask(0o000):
            assert main(["backup", str(data_dir), str(tmp_path / "backup")]) == 0
        assert not_private(data_dir) == {}
        assert not_private(tmp_path / "backup") == {}
        for root in (data_dir, tmp_path / "backup"):
            assert files_holding(root, code_forms(logged[0])) == []

        body = {"token": logged[0].lower(), "password": "a new one"}
        reset = client.post(f"{pds}/xrpc/com.atproto.server.resetPassword", json=body)
        assert reset.status_code == 200, reset.text
        body = {"identifier": "alice.test", "password": "a new one"}
        login = client.post(f"{pds}/xrpc/com.atproto.server.createSession", json=body)
        assert login.status_code == 200, login.text


def test_each_service_tightens_its_own_data_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``strato plc``, ``strato pds`` and ``strato relay`` each, one warning apiece."""
    names = ("plc", "pds", "relay")
    for name in names:
        (tmp_path / name).mkdir(mode=0o755)
        (tmp_path / name / "by-hand").write_text("left here")
        os.chmod(tmp_path / name, 0o755)
        os.chmod(tmp_path / name / "by-hand", 0o644)
    with caplog.at_level(logging.WARNING, logger="strato.storage.private"):
        with pds_and_relay(tmp_path):
            assert not_private(tmp_path) == {}
        warnings = sorted(record.getMessage() for record in caplog.records)
    assert warnings == sorted(
        f"2 path(s) under {tmp_path / name} {TIGHTENED} (directories 0700, files 0600): "
        f"{tmp_path / name}, {tmp_path / name / 'by-hand'}"
        for name in names
    )
