"""``strato plc`` (a directory in a child process on a loopback port) and ``strato did create``
(against a directory served by uvicorn in a thread)."""

from __future__ import annotations

import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from plc_helpers import serve
from strato.cli.main import main
from strato.crypto import load_private_key
from strato.plc.app import create_app
from strato.plc.settings import PlcSettings

ERROR_LINE = re.compile(r"strato: error: [^\n]+\n")
DID_LINE = re.compile(r"did:plc:[a-z2-7]{24}\n")


@pytest.fixture
def plc_url(tmp_path: Path) -> Iterator[str]:
    with serve(create_app(PlcSettings(tmp_path / "plc", sync=False))) as url:
        yield url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_did_create_generates_and_saves_keys(
    capsys: pytest.CaptureFixture[str], plc_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "new" / "keys"  # created, owner-only
    code, out, err = run(
        capsys,
        "did", "create", "--handle", "alice.test", "--pds", "https://pds.test",
        "--plc", plc_url, "--key-dir", str(keys),
    )  # fmt: skip
    assert code == 0, err
    assert DID_LINE.fullmatch(out)
    did = out.strip()
    rotation_file, signing_file = keys / f"{did}.rotation.pem", keys / f"{did}.signing.pem"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE(rotation_file.stat().st_mode) == 0o600
    rotation, signing = load_private_key(rotation_file), load_private_key(signing_file)
    assert err.splitlines() == [
        f"rotation key {rotation.public_key.did_key()}: new, written to {rotation_file}",
        f"signing key {signing.public_key.did_key()}: new, written to {signing_file}",
    ]
    data = httpx.get(f"{plc_url}/{did}/data").json()
    assert data["rotationKeys"] == [rotation.public_key.did_key()]
    assert data["verificationMethods"] == {"atproto": signing.public_key.did_key()}
    assert data["alsoKnownAs"] == ["at://alice.test"]
    assert data["services"]["atproto_pds"]["endpoint"] == "https://pds.test"


def test_did_create_with_named_key_files(
    capsys: pytest.CaptureFixture[str], plc_url: str, tmp_path: Path
) -> None:
    rotation_file, signing_file = tmp_path / "rotation.pem", tmp_path / "signing.pem"
    base = ["did", "create", "--pds", "https://pds.test", "--plc", plc_url]
    base += ["--rotation-key", str(rotation_file), "--signing-key", str(signing_file)]
    code, first, err = run(capsys, *base, "--handle", "one.test")
    assert code == 0, err
    assert "new, written to" in err
    code, second, err = run(capsys, *base, "--handle", "two.test")
    assert code == 0, err
    rotation = load_private_key(rotation_file)
    assert err.splitlines()[0] == (
        f"rotation key {rotation.public_key.did_key()}: read from {rotation_file}"
    )
    assert first != second
    data = httpx.get(f"{plc_url}/{second.strip()}/data").json()
    assert data["rotationKeys"] == [rotation.public_key.did_key()]
    # the same keys and handle again make the same genesis: the directory refuses it
    code, out, err = run(capsys, *base, "--handle", "two.test")
    assert (code, out) == (1, "")
    assert err.splitlines()[-1].startswith("strato: error: invalid PLC operation: operation bafy")
    assert ERROR_LINE.fullmatch(err.splitlines(keepends=True)[-1])


def test_did_create_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = ["did", "create", "--handle", "a.test", "--pds", "https://p", "--key-dir", str(tmp_path)]
    code, out, err = run(capsys, *base, "--plc", f"http://127.0.0.1:{port}")
    assert (code, out) == (1, "")
    assert err.splitlines()[-1].startswith("strato: error: PLC directory: POST http://127.0.0.1")
    assert len(list(tmp_path.glob("*.pem"))) == 2  # the keys were kept all the same
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    code, out, err = run(capsys, *base, "--rotation-key", str(junk))
    assert (code, out, err) == (1, "", "strato: error: invalid key: malformed PEM\n")
    bad_handle = ["did", "create", "--pds", "https://p", "--key-dir", str(tmp_path)]
    code, out, err = run(capsys, *bad_handle, "--handle", "alice.local")
    assert (code, out) == (1, "")
    assert err == (
        "strato: error: invalid identifier 'alice.local': handle TLD .local is not allowed "
        "for a registered handle\n"
    )
    code, out, err = run(capsys, *bad_handle, "--handle", "not a handle")
    assert (code, out) == (1, "")
    assert err.startswith("strato: error: invalid identifier 'not a handle': ")


def test_plc_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["plc", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--data-dir", "default 127.0.0.1", "default 2582"):
        assert option in out


def test_plc_serves(tmp_path: Path) -> None:
    data_dir = tmp_path / "plc-data"
    command = [sys.executable, "-m", "strato", "plc", "--port", "0", "--data-dir", str(data_dir)]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stderr is not None
            url = None
            for line in process.stderr:
                found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
                if found:
                    url = found.group(1)
                    break
            assert url is not None, "the directory did not start"
            assert httpx.get(f"{url}/_health").status_code == 200
            missing = httpx.get(f"{url}/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
            assert missing.status_code == 404
        finally:
            process.terminate()
            process.communicate(timeout=30)
    assert (data_dir / "data.mdb").exists()
