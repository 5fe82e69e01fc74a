"""``strato lexicon validate``: records, XRPC bodies and params, named defs, and the error line
(path and reason) with exit status 1 for invalid data, bad lexicons and unknown NSIDs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import require_shared
from strato.cli.main import main

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
POST = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-01-01T00:00:00Z"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _file(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    return str(path)


def _dir() -> str:
    return str(require_shared("lexicons"))


def test_valid_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = _file(tmp_path, POST)
    code, out, err = _run(
        capsys, "lexicon", "validate", "app.bsky.feed.post", file, "--lexicon-dir", _dir()
    )
    assert (code, err) == (0, "")
    assert out == f"valid: {file} is a valid record of app.bsky.feed.post\n"
    code, out, _ = _run(
        capsys,
        "lexicon",
        "validate",
        "app.bsky.feed.post",
        file,
        "--lexicon-dir",
        _dir(),
        "--rkey",
        "3jzfcijpj2z2a",
    )
    assert code == 0
    assert "valid record (key 3jzfcijpj2z2a)" in out


@pytest.mark.parametrize(
    ("data", "extra", "message"),
    [
        ({**POST, "text": "x" * 3001}, (), "$.text: must be at most 3000 bytes long"),
        ({**POST, "createdAt": "now"}, (), "$.createdAt: must be a valid datetime"),
        (
            {"text": "hi"},
            (),
            "$.$type: a record of app.bsky.feed.post needs $type 'app.bsky.feed.post'",
        ),
        (POST, ("--rkey", "self"), "rkey: record key 'self' is not a valid tid"),
    ],
)
def test_invalid_record(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    data: Any,
    extra: tuple[str, ...],
    message: str,
) -> None:
    file = _file(tmp_path, data)
    code, out, err = _run(
        capsys, "lexicon", "validate", "app.bsky.feed.post", file, "--lexicon-dir", _dir(), *extra
    )
    assert (code, out) == (1, "")
    assert err == f"strato: error: {file}: {message}\n"


def test_xrpc_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nsid = "com.atproto.repo.createRecord"
    body = _file(tmp_path, {"repo": DID, "collection": "app.bsky.feed.post", "record": POST})
    code, out, _ = _run(capsys, "lexicon", "validate", nsid, body, "--lexicon-dir", _dir())
    assert code == 0
    assert "valid procedure input" in out
    code, _, err = _run(
        capsys, "lexicon", "validate", nsid, body, "--lexicon-dir", _dir(), "--part", "output"
    )
    assert code == 1
    assert err.endswith("$: required field 'uri' is missing\n")
    params = _file(tmp_path, {"repo": DID, "collection": "a.b.c", "limit": "500"})
    code, _, err = _run(
        capsys,
        "lexicon",
        "validate",
        "com.atproto.repo.listRecords",
        params,
        "--lexicon-dir",
        _dir(),
        "--part",
        "params",
    )
    assert code == 1
    assert err.endswith("params.limit: must be at most 100\n")


def test_named_def(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = _file(tmp_path, {"width": 0, "height": 1})
    code, _, err = _run(
        capsys,
        "lexicon",
        "validate",
        "app.bsky.embed.defs#aspectRatio",
        file,
        "--lexicon-dir",
        _dir(),
    )
    assert code == 1
    assert err.endswith("$.width: must be at least 1\n")


def test_unknown_nsid_and_bad_lexicon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = _file(tmp_path, POST)
    argv = ["lexicon", "validate", "com.example.nothing", file, "--lexicon-dir", _dir()]
    code, _, err = _run(capsys, *argv, "--no-resolve")
    assert code == 1
    assert (
        err == f"strato: error: {file}: $: no lexicon for com.example.nothing in the lexicon dirs\n"
    )
    lexicons = tmp_path / "lexicons"
    lexicons.mkdir()
    (lexicons / "bad.json").write_text(json.dumps({"lexicon": 2, "id": "a.b.c", "defs": {}}))
    code, _, err = _run(
        capsys, "lexicon", "validate", "a.b.c", file, "--lexicon-dir", str(lexicons)
    )
    assert code == 1
    assert err == (
        f"strato: error: bad lexicon: {lexicons / 'bad.json'}: lexicon version must be the "
        "integer 1 at $.lexicon\n"
    )


def test_missing_file_and_help(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        capsys,
        "lexicon",
        "validate",
        "app.bsky.feed.post",
        str(tmp_path / "none.json"),
        "--lexicon-dir",
        _dir(),
    )
    assert code == 1
    assert err.startswith("strato: error: ")
    assert "No such file" in err
    with pytest.raises(SystemExit) as info:
        main(["lexicon", "validate", "--help"])
    assert info.value.code == 0
    assert "--lexicon-dir" in capsys.readouterr().out
