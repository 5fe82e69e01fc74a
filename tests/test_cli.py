"""Tests for the ``strato`` command line (``strato.cli.main``): every command in-process, the help
texts, ``python -m strato`` in a subprocess, and bad input giving exit status 1 with exactly
one ``strato: error: ...`` line on stderr and no traceback."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from strato import CID
from strato.car import write_car
from strato.cli.main import main
from strato.dagcbor import encode, from_json, to_json

ERROR_LINE = re.compile(r"strato: error: [^\n]+\n")

BLOCKS = [
    (CID.compute(data, "dag-cbor"), data)
    for data in (encode({"n": i, "pad": "x" * i}) for i in range(4))
]
RAW_DATA = b"raw block"
RAW_BLOCK = (CID.compute(RAW_DATA, "raw"), RAW_DATA)
ROOT = BLOCKS[0][0]
RECORD = {
    "$type": "app.bsky.feed.post",
    "text": "héllo 👋",
    "createdAt": "2024-01-01T00:00:00Z",
    "langs": ["en"],
    "n": -7,
    "raw": b"\x00\xfb\xff",
    "link": ROOT,
    "flag": True,
    "none": None,
}


@dataclass
class Result:
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode("utf-8")


class Cli:
    """Runs ``main`` in-process with a given stdin, capturing stdout (bytes) and stderr."""

    def __init__(self, capsys: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch):
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *argv: str, stdin: bytes = b"") -> Result:
        self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return Result(code, out, err.decode("utf-8"))

    def fails(self, *argv: str, stdin: bytes = b"") -> str:
        """Run a command that must fail on bad input; returns its one error line."""
        result = self(*argv, stdin=stdin)
        assert result.code == 1
        assert ERROR_LINE.fullmatch(result.err), result.err
        assert "Traceback" not in result.err
        return result.err


@pytest.fixture
def cli(capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(capsysbinary, monkeypatch)


@pytest.fixture
def car_file(tmp_path: Path) -> Path:
    path = tmp_path / "repo.car"
    path.write_bytes(write_car([ROOT], [*BLOCKS, RAW_BLOCK, BLOCKS[1]]))
    return path


@pytest.fixture
def corrupt_car(car_file: Path) -> Path:
    data = bytearray(car_file.read_bytes())
    data[-1] ^= 1
    car_file.write_bytes(bytes(data))
    return car_file


# --- help and usage ----------------------------------------------------------------------------


def test_module_help_in_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "strato", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "car" in proc.stdout
    assert "cbor" in proc.stdout
    assert proc.stderr == ""


def test_module_error_in_subprocess(tmp_path: Path) -> None:
    missing = tmp_path / "missing.car"
    proc = subprocess.run(
        [sys.executable, "-m", "strato", "car", "verify", str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert ERROR_LINE.fullmatch(proc.stderr), proc.stderr
    assert str(missing) in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--help"], ["car", "cbor"]),
        (["car", "--help"], ["inspect", "verify"]),
        (["car", "inspect", "--help"], ["roots", "block", "codec", "--json"]),
        (["car", "verify", "--help"], ["ok: N blocks", "hash"]),
        (["cbor", "--help"], ["decode", "encode", "$bytes", "$link"]),
        (["cbor", "decode", "--help"], ["stdin", "JSON", "--multi"]),
        (["cbor", "encode", "--help"], ["stdin", "DAG-CBOR", "--cid"]),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else None,
)
def test_help_texts(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, argv: list[str], words: list[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # no line wrapping inside the words looked for
    with pytest.raises(SystemExit) as info:
        cli(*argv)
    assert info.value.code == 0
    out = cli.capsys.readouterr().out.decode()
    for word in words:
        assert word in out


@pytest.mark.parametrize(
    "argv",
    [[], ["car"], ["car", "inspect"], ["cbor"], ["car", "frobnicate", "x"], ["nope"]],
    ids=["none", "car", "car-inspect", "cbor", "bad-command", "bad-group"],
)
def test_usage_errors_exit_2(cli: Cli, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli(*argv)
    assert info.value.code == 2


# --- car inspect -------------------------------------------------------------------------------


def test_car_inspect_text(cli: Cli, car_file: Path) -> None:
    result = cli("car", "inspect", str(car_file))
    assert result.code == 0
    assert result.err == ""
    sizes = [len(data) for _, data in [*BLOCKS, RAW_BLOCK, BLOCKS[1]]]
    lines = result.text.splitlines()
    assert f"file: {car_file}" in lines
    assert f"size: {car_file.stat().st_size} bytes" in lines
    assert "roots: 1" in lines
    assert f"  {ROOT}" in lines
    assert "blocks: 6" in lines
    assert f"block bytes: total {sum(sizes)}, min {min(sizes)}, max {max(sizes)}" in lines
    assert "codecs: dag-cbor 5, raw 1" in lines
    assert "verification: ok (all 6 block hashes match)" in lines


def test_car_inspect_json(cli: Cli, car_file: Path) -> None:
    result = cli("car", "inspect", "--json", str(car_file))
    assert result.code == 0
    report = json.loads(result.text)
    sizes = [len(data) for _, data in [*BLOCKS, RAW_BLOCK, BLOCKS[1]]]
    assert report == {
        "file": str(car_file),
        "size": car_file.stat().st_size,
        "roots": [str(ROOT)],
        "blocks": 6,
        "total_block_bytes": sum(sizes),
        "min_block_size": min(sizes),
        "max_block_size": max(sizes),
        "codecs": {"dag-cbor": 5, "raw": 1},
        "verified": True,
    }


def test_car_inspect_empty_car(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "empty.car"
    path.write_bytes(write_car([], []))
    report = json.loads(cli("car", "inspect", "--json", str(path)).text)
    assert report["roots"] == []
    assert report["blocks"] == 0
    assert report["min_block_size"] is None
    assert report["verified"] is True
    assert "codecs: -" in cli("car", "inspect", str(path)).text.splitlines()


@pytest.mark.parametrize("as_json", [[], ["--json"]])
def test_car_inspect_reports_hash_mismatch(cli: Cli, corrupt_car: Path, as_json: list[str]) -> None:
    result = cli("car", "inspect", *as_json, str(corrupt_car))
    assert result.code == 1
    assert result.text == ""
    assert ERROR_LINE.fullmatch(result.err)
    assert "block hash mismatch at offset" in result.err
    assert str(corrupt_car) in result.err


# --- car verify --------------------------------------------------------------------------------


def test_car_verify(cli: Cli, car_file: Path) -> None:
    result = cli("car", "verify", str(car_file))
    assert (result.code, result.text, result.err) == (0, f"ok: 6 blocks, root {ROOT}\n", "")


def test_car_verify_roots_phrases(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "x.car"
    path.write_bytes(write_car([], [RAW_BLOCK]))
    assert cli("car", "verify", str(path)).text == "ok: 1 blocks, no root\n"
    path.write_bytes(write_car([ROOT, RAW_BLOCK[0]], []))
    assert cli("car", "verify", str(path)).text == f"ok: 0 blocks, roots {ROOT}, {RAW_BLOCK[0]}\n"


def test_car_verify_hash_mismatch(cli: Cli, corrupt_car: Path) -> None:
    err = cli.fails("car", "verify", str(corrupt_car))
    assert "block hash mismatch" in err
    assert str(corrupt_car) in err


@pytest.mark.parametrize("command", ["inspect", "verify"])
def test_car_missing_file(cli: Cli, tmp_path: Path, command: str) -> None:
    missing = tmp_path / "missing.car"
    err = cli.fails("car", command, str(missing))
    assert str(missing) in err


@pytest.mark.parametrize("command", ["inspect", "verify"])
def test_car_directory(cli: Cli, tmp_path: Path, command: str) -> None:
    cli.fails("car", command, str(tmp_path))


@pytest.mark.parametrize("command", ["inspect", "verify"])
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "truncated"),
        (b"\x00", "header length is zero"),
        (b"\x05hello", "invalid header"),
        (b"not a CAR file at all", "truncated"),
        (write_car([ROOT], BLOCKS)[:-3], "truncated"),
    ],
    ids=["empty", "zero-header", "garbage-header", "text-file", "truncated-block"],
)
def test_car_corrupt(cli: Cli, tmp_path: Path, command: str, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.car"
    path.write_bytes(content)
    err = cli.fails("car", command, str(path))
    assert reason in err
    assert "offset" in err


# --- cbor decode / encode ----------------------------------------------------------------------


def test_cbor_decode(cli: Cli) -> None:
    result = cli("cbor", "decode", stdin=encode(RECORD))
    assert result.code == 0
    assert result.err == ""
    assert json.loads(result.text) == to_json(RECORD)
    assert "héllo 👋" in result.text  # UTF-8, not \\u escapes


def test_cbor_decode_multi(cli: Cli) -> None:
    frame = encode({"op": 1, "t": "#commit"}) + encode(RECORD)
    result = cli("cbor", "decode", "--multi", stdin=frame)
    assert result.code == 0
    assert json.loads(result.text) == [{"op": 1, "t": "#commit"}, to_json(RECORD)]
    assert "trailing bytes" in cli.fails("cbor", "decode", stdin=frame)


def test_cbor_encode(cli: Cli) -> None:
    text = json.dumps(to_json(RECORD), ensure_ascii=False).encode("utf-8")
    result = cli("cbor", "encode", stdin=text)
    assert result.code == 0
    assert result.err == ""
    assert result.out == encode(RECORD)


def test_cbor_encode_cid(cli: Cli) -> None:
    text = json.dumps(to_json(RECORD)).encode()
    result = cli("cbor", "encode", "--cid", stdin=text)
    assert (result.code, result.text) == (0, f"{CID.compute(encode(RECORD))}\n")


def test_cbor_encode_then_decode(cli: Cli) -> None:
    obj = {"a": [1, {"$bytes": "AAE"}], "b": {"$link": str(ROOT)}, "c": 123.0}
    data = cli("cbor", "encode", stdin=json.dumps(obj).encode()).out
    assert data == encode(from_json(obj))
    assert json.loads(cli("cbor", "decode", stdin=data).text) == {**obj, "c": 123}


@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        (b"", ["unexpected end of input", "offset 0"]),
        (b"\xa1\x61a\xfb\x3f\xf8\x00\x00\x00\x00\x00\x00", ["float not allowed", "offset 3"]),
        (b"\xa2\x61b\x01\x61a\x02", ["map keys not in canonical order", "offset 4"]),
        (b"\x9f\xff", ["indefinite length not allowed"]),
        (b"\x01\x02", ["trailing bytes after value", "offset 1"]),
        (b"\xd8\x2a\x42\x00\x01", ["invalid CID link"]),
    ],
    ids=["empty", "float", "key-order", "indefinite", "trailing", "bad-link"],
)
def test_cbor_decode_bad_input(cli: Cli, stdin: bytes, words: list[str]) -> None:
    err = cli.fails("cbor", "decode", stdin=stdin)
    for word in words:
        assert word in err


def test_cbor_decode_multi_bad_input(cli: Cli) -> None:
    err = cli.fails("cbor", "decode", "--multi", stdin=encode({"a": 1}) + b"\xf7")
    assert "unsupported simple value" in err


@pytest.mark.parametrize("flag", [[], ["--cid"]], ids=["bytes", "cid"])
@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        (b"", ["invalid JSON"]),
        (b"{not json", ["invalid JSON"]),
        (b'{"a": 1}\n{"b": 2}', ["invalid JSON"]),
        (b'{"a": 1, "a": 2}', ["duplicate key"]),
        (b'{"a": "\xff"}', ["UTF-8"]),
        (b"[1, 2]", ["top-level value must be an object"]),
        (b'{"a": 1.5}', ["float not allowed"]),
        (b'{"a": {"$link": "nope"}}', []),
        (b'{"a": {"$bytes": 1}}', []),
        (b'{"$type": ""}', []),
        (b'{"a": 9223372036854775808}', ["64-bit"]),
        (b'{"a": NaN}', []),
    ],
    ids=[
        "empty",
        "syntax",
        "two-values",
        "duplicate-key",
        "bad-utf8",
        "top-level-list",
        "float",
        "bad-link",
        "bad-bytes",
        "empty-type",
        "int-too-big",
        "nan",
    ],
)
def test_cbor_encode_bad_input(cli: Cli, flag: list[str], stdin: bytes, words: list[str]) -> None:
    err = cli.fails("cbor", "encode", *flag, stdin=stdin)
    for word in words:
        assert word in err
