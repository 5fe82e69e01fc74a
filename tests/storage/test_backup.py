"""Hot backup (``strato backup``) and durability of acknowledged writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from strato.cli.main import main
from strato.errors import StorageError
from strato.storage import Store, backup_data_dir, from_u64, u64

TABLES = ("log",)


def _strato(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strato", *args], capture_output=True, text=True, check=False
    )


def test_backup_while_a_writer_keeps_writing(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "plc").mkdir(parents=True)
    (root / "pds" / "keys").mkdir(parents=True)
    (root / "pds" / "keys" / "rotation.pem").write_text("not really a key")
    with (
        Store.open(root / "plc", name="plc", schema_version=1, tables=TABLES) as plc,
        Store.open(root / "pds", name="pds", schema_version=2, tables=TABLES) as pds,
    ):
        with pds.write() as txn:
            txn.put("log", u64(1), b"pds event")
        stop = threading.Event()

        def keep_writing() -> None:
            seq = 0
            while not stop.is_set():
                seq += 1
                with plc.write() as txn:
                    # Each transaction writes a consecutive pair, so a consistent copy holds
                    # an even number of entries.
                    txn.put("log", u64(2 * seq - 1), b"a")
                    txn.put("log", u64(2 * seq), b"b")

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            result = _strato("backup", str(root), str(tmp_path / "copy"))
        finally:
            stop.set()
            writer.join()
    assert result.returncode == 0, result.stderr
    assert "plc (schema 1)" in result.stdout
    assert "pds (schema 2)" in result.stdout
    assert "ok: 2 environment(s) backed up" in result.stdout
    assert (tmp_path / "copy" / "pds" / "keys" / "rotation.pem").read_text() == "not really a key"
    copy = tmp_path / "copy"
    with (
        Store.open(copy / "plc", name="plc", schema_version=1, tables=TABLES) as plc_copy,
        plc_copy.read() as plc_txn,
    ):
        count = plc_txn.count("log")
        last = plc_txn.last("log")
    assert count % 2 == 0
    assert last is None or from_u64(last[0]) == count
    with (
        Store.open(copy / "pds", name="pds", schema_version=2, tables=TABLES) as pds_copy,
        pds_copy.read() as pds_txn,
    ):
        assert pds_txn.get("log", u64(1)) == b"pds event"


def test_backup_of_one_service_directory(tmp_path: Path) -> None:
    with Store.open(tmp_path / "svc", name="svc", schema_version=1, tables=TABLES) as store:
        with store.write() as txn:
            txn.put("log", u64(7), b"seven")
        copy = store.backup(tmp_path / "in-process")
    done = backup_data_dir(tmp_path / "svc", tmp_path / "out")
    assert [(d.service, d.schema_version) for d in done] == [("svc", 1)]
    for path in (copy, tmp_path / "out"):
        with (
            Store.open(path, name="svc", schema_version=1, tables=TABLES) as copied,
            copied.read() as read_txn,
        ):
            assert read_txn.get("log", u64(7)) == b"seven"


def test_backup_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["backup", str(tmp_path / "empty"), str(tmp_path / "out")]) == 1
    assert "holds no strato data" in capsys.readouterr().err
    assert main(["backup", str(tmp_path / "missing"), str(tmp_path / "out")]) == 1
    assert "is not a directory" in capsys.readouterr().err
    Store.open(tmp_path / "svc", name="svc", schema_version=1, tables=TABLES).close()
    assert main(["backup", str(tmp_path / "svc"), str(tmp_path / "empty")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["backup", str(tmp_path / "svc"), str(tmp_path / "svc" / "copy")]) == 1
    assert "is inside" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    subprocess.run(
        [sys.executable, "-c", "import lmdb, sys; lmdb.open(sys.argv[1]).close()", foreign],
        check=True,
    )
    with pytest.raises(StorageError, match="not a strato data directory"):
        backup_data_dir(foreign, tmp_path / "out2")


def test_backup_help_explains() -> None:
    result = _strato("backup", "--help")
    assert result.returncode == 0
    assert "without stopping the" in " ".join(result.stdout.split())


WRITER = """
import sys
from strato.storage import Store, u64
with Store.open(sys.argv[1], name="svc", schema_version=1, tables=("log",)) as store:
    seq = 0
    while True:
        seq += 1
        with store.write() as txn:
            txn.put("log", u64(seq), b"x" * 100)
        print(seq, flush=True)   # acknowledged only after the commit returned
"""


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    acknowledged = 0
    for line in child.stdout:
        acknowledged = int(line)
        if acknowledged >= 200:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    with (
        Store.open(tmp_path, name="svc", schema_version=1, tables=TABLES) as store,
        store.read() as txn,
    ):
        last = txn.last("log")
        assert last is not None
        assert from_u64(last[0]) >= acknowledged
        assert all(txn.get("log", u64(seq)) == b"x" * 100 for seq in range(1, acknowledged))
