"""Tests for ``strato repo verify|ls`` and ``strato key generate`` (``strato.cli.repo``): the real
repository exports in ``../shared/testdata/indigo/testing/testdata``, repos we build ourselves,
and each failure printed as one ``strato: error: ...`` line carrying its reason code."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from conftest import require_shared
from pds_net import run_pds, run_plc
from strato import CID
from strato._core import PrivateKey
from strato.car import write_car
from strato.cli.main import main
from strato.crypto import load_private_key
from strato.dagcbor import encode
from strato.repo import mst
from strato.repo.commit import next_rev, sign_commit
from strato.repo.verify import load_did_doc

ERROR_LINE = re.compile(r"strato: error: [^\n]+\n")
EXPORTS = ("testdata", "indigo", "testing", "testdata")
DID = "did:plc:cliaccount00000000000000"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert out == ""
    assert ERROR_LINE.fullmatch(err), err
    return err


def export(name: str) -> str:
    return str(require_shared(*EXPORTS) / name)


def make_repo(
    tmp_path: Path, key: PrivateKey, did: str = DID
) -> tuple[Path, list[tuple[str, CID]]]:
    """A small repository of ``did`` signed by ``key``: its CAR file and its records."""
    blocks: dict[CID, bytes] = {}
    pairs = []
    for n, collection in enumerate(["app.bsky.feed.post", "app.bsky.feed.like"] * 3):
        data = encode({"$type": collection, "n": n})
        cid = CID.compute(data)
        blocks[cid] = data
        pairs.append((f"{collection}/3k{n:011d}", cid))
    root, nodes = mst.build(pairs)
    blocks.update(nodes)
    commit_cid, commit = sign_commit(did, next_rev(), root, key)
    path = tmp_path / "repo.car"
    path.write_bytes(write_car([commit_cid], [(commit_cid, commit), *blocks.items()]))
    return path, sorted(pairs)


def test_verify_our_repo_with_its_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key = PrivateKey.generate("p256")
    path, pairs = make_repo(tmp_path, key)
    code, out, _ = run(capsys, "repo", "verify", str(path), "--did-key", key.public_key.did_key())
    assert code == 0
    assert out.startswith(f"ok: {len(pairs)} records, root ")
    assert "signature ok" in out
    other = PrivateKey.generate("p256").public_key.did_key()
    assert "bad_signature" in fails(capsys, "repo", "verify", str(path), "--did-key", other)


def test_without_a_key_it_says_how_to_check_the_signature(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, _ = make_repo(tmp_path, PrivateKey.generate("k256"))
    code, out, _ = run(capsys, "repo", "verify", str(path))
    assert code == 0
    assert out.endswith(
        ", signature not checked (check it with --plc URL, --did-doc FILE or --did-key KEY)\n"
    )


def test_verify_with_the_did_resolved_on_a_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with (
        run_plc(tmp_path / "plc") as plc_url,
        run_pds(tmp_path / "pds", plc_url, handle_domains=(".test",), local_network=True) as pds,
    ):
        did = pds.create_account("dora.test")["did"]
        car = pds.xrpc("com.atproto.sync.getRepo", params={"did": did})
        assert car.status_code == 200
        path = tmp_path / "dora.car"
        path.write_bytes(car.content)
        plc = ("--plc", plc_url)
        code, out, _ = run(capsys, "repo", "verify", str(path), *plc)
        assert code == 0
        assert out.endswith(f"{did} rev {out.split(' rev ')[1].split(',')[0]}, signature ok\n")
        # the same DID's repo signed by a key its document does not name
        forged, _ = make_repo(tmp_path, PrivateKey.generate("k256"), did)
        err = fails(capsys, "repo", "verify", str(forged), *plc)
        assert "bad_signature" in err
        assert f"(not signed by {did}'s current key did:key:z" in err
        # a DID the directory does not know
        (tmp_path / "unknown").mkdir()
        nobody = "did:plc:" + "nobody" * 4
        unknown, _ = make_repo(tmp_path / "unknown", PrivateKey.generate("k256"), nobody)
        err = fails(capsys, "repo", "verify", str(unknown), *plc)
        assert err == (
            f"strato: error: cannot resolve {nobody} on {plc_url}: {nobody}: DID document not "
            "found (HTTP 404)\n"
        )
        # a directory nobody answers at (the discard port)
        err = fails(capsys, "repo", "verify", str(path), "--plc", "http://127.0.0.1:9")
        assert err.startswith(f"strato: error: cannot resolve {did} on http://127.0.0.1:9: ")


@pytest.mark.parametrize("url", ["plc.directory", "ftp://plc.directory", "https://"])
def test_verify_refuses_a_plc_option_that_is_not_a_url(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["repo", "verify", "any.car", "--plc", url])
    assert exited.value.code == 2
    assert f"argument --plc: {url!r} is not an http(s) URL" in capsys.readouterr().err


def test_verify_real_exports(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "repo",
        "verify",
        export("paul_staging.repo.car"),
        "--did-doc",
        export("paul_staging.didDoc.json"),
    )
    assert code == 0
    assert "ok: 185 records" in out
    assert "signature ok" in out
    code, out, _ = run(capsys, "repo", "verify", export("divy.repo"))
    assert code == 0
    assert "signature not checked" in out


def test_verify_greenground_document_names_another_did(
    capsys: pytest.CaptureFixture[str],
) -> None:
    car, doc = export("greenground.repo.car"), export("greenground.didDoc.json")
    assert "field_mismatch" in fails(capsys, "repo", "verify", car, "--did-doc", doc)
    did, did_key = load_did_doc(doc)
    assert did == json.loads(Path(doc).read_text())["id"]
    code, out, _ = run(capsys, "repo", "verify", car, "--did-key", did_key)
    assert code == 0
    assert "signature ok" in out


def test_verify_high_s_strict_and_lenient(capsys: pytest.CaptureFixture[str]) -> None:
    car, doc = export("fakermaker.repo.car"), export("fakermaker.didDoc.json")
    assert "high_s" in fails(capsys, "repo", "verify", car, "--did-doc", doc)
    code, out, _ = run(capsys, "repo", "verify", car, "--did-doc", doc, "--lenient")
    assert code == 0
    assert "signature ok" in out


def test_verify_failures(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    wrong_doc = export("did_plc_z5vnbioquyhivxirw3bbljmu.didDoc.json")
    car = export("bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car")
    _, did_key = load_did_doc(wrong_doc)
    assert "bad_signature" in fails(capsys, "repo", "verify", car, "--did-key", did_key)
    assert "missing_block" in fails(capsys, "repo", "verify", export("repo_slice.car"))
    broken = bytearray(Path(export("divy.repo")).read_bytes())
    broken[-1] ^= 1
    path = tmp_path / "broken.car"
    path.write_bytes(bytes(broken))
    assert "hash_mismatch" in fails(capsys, "repo", "verify", str(path))
    path.write_bytes(b"\x05junk")
    assert "bad_car" in fails(capsys, "repo", "verify", str(path))
    assert "No such file" in fails(capsys, "repo", "verify", str(tmp_path / "missing.car"))
    assert "invalid key" in fails(capsys, "repo", "verify", car, "--did-key", "did:key:zBad")


def test_ls(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path, pairs = make_repo(tmp_path, PrivateKey.generate("k256"))
    code, out, _ = run(capsys, "repo", "ls", str(path))
    assert code == 0
    assert out.splitlines() == [f"{p}\t{c}" for p, c in pairs]
    code, out, _ = run(capsys, "repo", "ls", str(path), "app.bsky.feed.like")
    likes = [f"{p}\t{c}" for p, c in pairs if p.startswith("app.bsky.feed.like/")]
    assert out.splitlines() == likes
    code, out, _ = run(capsys, "repo", "ls", str(path), "app.bsky.graph.block")
    assert (code, out) == (0, "")


def test_key_generate_to_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "signing.pem"
    monkeypatch.setenv("STRATO_TEST_PASSWORD", "correct horse")
    code, out, _ = run(
        capsys,
        "key",
        "generate",
        "--curve",
        "p256",
        "--out",
        str(path),
        "--password-env",
        "STRATO_TEST_PASSWORD",
    )
    assert code == 0
    did_key = out.strip()
    assert did_key.startswith("did:key:zDn")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_private_key(path, b"correct horse")
    assert key.public_key.did_key() == did_key


def test_key_generate_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "key", "generate")
    assert code == 0
    did_key, pem = out.split("\n", 1)
    assert did_key.startswith("did:key:zQ3s")
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")


def test_key_generate_empty_password_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRATO_NO_SUCH_VARIABLE", raising=False)
    err = fails(capsys, "key", "generate", "--password-env", "STRATO_NO_SUCH_VARIABLE")
    assert "STRATO_NO_SUCH_VARIABLE" in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["repo", "--help"], ["verify", "ls"]),
        (["repo", "verify", "--help"], ["--did-doc", "--did-key", "--lenient", "high_s"]),
        (["repo", "ls", "--help"], ["COLLECTION"]),
        (["key", "generate", "--help"], ["--curve", "--out", "0600", "--password-env"]),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else None,
)
def test_help_texts(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    words: list[str],
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in words:
        assert word in out
