"""``strato did resolve`` (``strato.cli.did``) against the local PLC directory and DNS
server: text and JSON output, verified and unverified handles, a local network's ``.test``
handle resolved by a real PDS (``--pds``), and one ``strato: error:`` line for each failure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from localnet import LocalDns, LocalHttp, did_doc
from pds_net import run_pds, run_plc
from strato.cli.main import main

ALICE = "did:plc:alicealicealicealicealic"
BOB = "did:plc:bobbobbobbobbobbobbobbob"
KEY = "did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"
ERROR_LINE = re.compile(r"strato: error: [^\n]+\n")


def run(
    capsys: pytest.CaptureFixture[str], dns: LocalDns, http: LocalHttp, *argv: str
) -> tuple[int, str, str]:
    options = ["--plc", http.url, "--nameserver", dns.address, "--timeout", "3"]
    code = main(["did", "resolve", *argv, *options])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys: pytest.CaptureFixture[str], dns: LocalDns, http: LocalHttp, *argv: str) -> str:
    code, out, err = run(capsys, dns, http, *argv)
    assert (code, out) == (1, "")
    assert ERROR_LINE.fullmatch(err), err
    return err


def test_resolve_handle_text(
    capsys: pytest.CaptureFixture[str], local_dns: LocalDns, local_http: LocalHttp
) -> None:
    local_dns.txt("_atproto.alice.test", f"did={ALICE}")
    local_http.serve(f"/{ALICE}", did_doc(ALICE, handle="alice.test", pds="http://pds.test"))
    code, out, err = run(capsys, local_dns, local_http, "alice.test", "--local-network")
    assert (code, err) == (0, "")
    assert out == (
        f"did: {ALICE}\nhandle: alice.test (verified)\nsigning key: {KEY}\npds: http://pds.test\n"
    )


def test_resolve_did_json(
    capsys: pytest.CaptureFixture[str], local_dns: LocalDns, local_http: LocalHttp
) -> None:
    local_dns.txt("_atproto.alice.test", f"did={ALICE}")
    doc = did_doc(ALICE, handle="alice.test")
    local_http.serve(f"/{ALICE}", doc)
    code, out, _ = run(capsys, local_dns, local_http, ALICE, "--json", "--local-network")
    assert code == 0
    assert json.loads(out) == {
        "did": ALICE,
        "handle": "alice.test",
        "handleVerified": True,
        "handleError": None,
        "signingKey": KEY,
        "pds": "https://pds.example.com",
        "didDoc": json.loads(doc),
    }


def test_unverified_handle_and_missing_key(
    capsys: pytest.CaptureFixture[str], local_dns: LocalDns, local_http: LocalHttp
) -> None:
    local_dns.txt("_atproto.alice.test", f"did={ALICE}")
    local_http.serve(f"/{BOB}", did_doc(BOB, handle="alice.test", key=None, pds=None))
    code, out, _ = run(capsys, local_dns, local_http, BOB, "--local-network")
    assert code == 0
    assert out.splitlines() == [
        f"did: {BOB}",
        f"handle: alice.test (not verified: alice.test resolves to {ALICE})",
        "signing key: none",
        "pds: none",
    ]


def test_no_handle(
    capsys: pytest.CaptureFixture[str], local_dns: LocalDns, local_http: LocalHttp
) -> None:
    local_http.serve(f"/{BOB}", did_doc(BOB))
    _, out, _ = run(capsys, local_dns, local_http, BOB)
    assert out.splitlines()[1] == "handle: none"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([ALICE], f"{ALICE}: DID document not found (HTTP 404)"),
        (["bob.local"], "invalid identifier 'bob.local': reserved top-level domain .local"),
        # no PDS answering at --pds (the discard port): the error of DNS and HTTP
        (
            ["nobody.test", "--local-network", "--pds", "http://127.0.0.1:9"],
            "nobody.test: host nobody.test does not resolve",
        ),
        (["carol.test", "--pds", "http://127.0.0.1:9"], "give --local-network"),
        (
            ["not a handle"],
            "invalid identifier 'not a handle': handle must have at least two labels",
        ),
        (["did:key:z6Mk"], "did:key:z6Mk: unsupported DID method 'key'"),
        (["mallory.test", "--local-network"], "handle mismatch"),
    ],
)
def test_errors(
    capsys: pytest.CaptureFixture[str],
    local_dns: LocalDns,
    local_http: LocalHttp,
    argv: list[str],
    message: str,
) -> None:
    local_dns.txt("_atproto.mallory.test", f"did={BOB}")
    local_http.serve(f"/{BOB}", did_doc(BOB, handle="bob.test"))
    assert message in fails(capsys, local_dns, local_http, *argv)


def test_a_local_networks_handle_is_resolved_by_its_pds(
    capsys: pytest.CaptureFixture[str], local_dns: LocalDns, tmp_path: Path
) -> None:
    with (
        run_plc(tmp_path / "plc") as plc_url,
        run_pds(tmp_path / "pds", plc_url, handle_domains=(".test",), local_network=True) as pds,
    ):
        did = pds.create_account("carol.test")["did"]
        options = ["--local-network", "--plc", plc_url, "--pds", pds.url]
        options += ["--nameserver", local_dns.address, "--timeout", "3"]
        code = main(["did", "resolve", "carol.test", *options])
        out, err = capsys.readouterr()
        assert (code, err) == (0, "")
        assert out.splitlines()[:2] == [f"did: {did}", "handle: carol.test (verified)"]
        code = main(["did", "resolve", "nobody.test", *options])
        out, err = capsys.readouterr()
        assert (code, out) == (1, "")
        assert err == f"strato: error: nobody.test: the PDS at {pds.url} hosts no such handle\n"


def test_bad_nameserver(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["did", "resolve", ALICE, "--nameserver", "dns.example.com"])
    _, err = capsys.readouterr()
    assert code == 1
    assert err == (
        "strato: error: bad nameserver 'dns.example.com': not an IP address (IP[:PORT])\n"
    )


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["did", "resolve", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--plc", "--json", "--local-network", "--nameserver", "--local-http-port", "--pds",
    ):  # fmt: skip
        assert option in out
