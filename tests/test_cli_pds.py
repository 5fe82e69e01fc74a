"""``strato pds`` (options, environment variables, errors), ``strato up`` in a child process on
free ports, and ``strato account`` against it: create over HTTP; list, takedown (with its
firehose event), reset-password and token on the data directory while the PDS runs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import pty
import re
import secrets
import signal
import stat
import string
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote

import httpx
import pytest
from strato import __version__
from strato.cli.main import build_parser, main
from strato.cli.pds import ensure_admin_token, pds_settings
from strato.firehose.frames import Frame, decode_frame
from strato.pds.accounts import EmailTokenPurpose
from strato.pds.context import PdsContext
from strato.pds.keys import MASTER_KEY_ENV
from strato.pds.settings import PdsSettings
from strato_proc import free_port, free_ports, start, stop
from websockets.sync.client import ClientConnection, connect

PASSWORD = "correct horse battery"
ERROR_LINE = re.compile(r"strato: error: [^\n]+\n")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    assert exited.value.code == 2
    return capsys.readouterr().err


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())


# ---------------------------------------------------------------------------------------------
# help


def test_pds_help_names_every_option_and_variable(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, "pds")
    options = (
        "host", "port", "data-dir", "public-url", "plc-url", "handle-domains", "appview-url",
        "appview-did", "smtp-url", "blob-limit", "admin-token-file", "invite-code-required",
        "trust-proxy", "master-key-file", "local-network", "allow-network",
    )  # fmt: skip
    for option in options:
        assert f"--{option}" in text
        assert f"STRATO_PDS_{option.upper().replace('-', '_')}" in text
    for option, variable in (("relay", "RELAYS"), ("lexicon-dir", "LEXICON_DIRS")):
        assert f"--{option}" in text
        assert f"STRATO_PDS_{variable}" in text
    for default in ("default 127.0.0.1", "default 2583", "default ./strato-data/pds"):
        assert default in text
    assert "default http://localhost:2582" in text
    assert "default 100MB" in text
    assert MASTER_KEY_ENV in text


def test_up_and_account_help(capsys: pytest.CaptureFixture[str]) -> None:
    up = help_text(capsys, "up")
    for phrase in (
        "http://localhost:2582",
        "http://localhost:2583",
        "did:web:localhost%3A2583",
        "--plc-port",
        "--pds-port",
        "--relay-port",
        "http://localhost:2584",
        "--lexicon-dir",
        "default ./strato-data",
        "DATA_DIR/pds/admin-token",
        "DATA_DIR/relay/admin-token",
    ):
        assert phrase in up
    account = help_text(capsys, "account")
    assert "{create,list,takedown,reset-password,token}" in account
    assert "--invite-code" in help_text(capsys, "account", "create")
    assert "--reverse" in help_text(capsys, "account", "takedown")
    token = help_text(capsys, "account", "token")
    for purpose in EmailTokenPurpose:
        assert str(purpose) in token
    for phrase in ("default reset_password", "--master-key-file", "STRATO_PDS_MASTER_KEY_FILE"):
        assert phrase in token
    assert "default 2582" in help_text(capsys, "plc")


# ---------------------------------------------------------------------------------------------
# settings from options and the environment


def settings(argv: list[str], environ: dict[str, str]) -> PdsSettings:
    return pds_settings(build_parser().parse_args(["pds", *argv]), environ)


def test_defaults() -> None:
    made = settings([], {})
    assert (made.host, made.port, made.data_dir) == ("127.0.0.1", 2583, Path("strato-data/pds"))
    assert made.public_url == "http://localhost:2583"
    assert made.service_did == "did:web:localhost%3A2583"
    assert made.plc_url == "http://localhost:2582"
    assert made.handle_domains == (".test",)
    assert made.blob_limit == 100 * 1024 * 1024
    assert (made.relays, made.lexicon_dirs, made.admin_token_file) == ((), (), None)
    assert (made.invite_code_required, made.trust_proxy, made.smtp_url) == (False, 0, None)


def test_environment_variables_are_honoured() -> None:
    environ = {
        "STRATO_PDS_HOST": "0.0.0.0",
        "STRATO_PDS_PORT": "3000",
        "STRATO_PDS_DATA_DIR": "/srv/pds",
        "STRATO_PDS_PUBLIC_URL": "https://pds.example.com/",
        "STRATO_PDS_PLC_URL": "https://plc.example.com",
        "STRATO_PDS_HANDLE_DOMAINS": "example.com, .example.org",
        "STRATO_PDS_RELAYS": "https://relay.one,https://relay.two",
        "STRATO_PDS_APPVIEW_URL": "https://api.example.com",
        "STRATO_PDS_APPVIEW_DID": "did:web:api.example.com",
        "STRATO_PDS_LEXICON_DIRS": "/lex/a,/lex/b",
        "STRATO_PDS_SMTP_URL": "smtps://user:pass@mail.example.com",
        "STRATO_PDS_BLOB_LIMIT": "5MB",
        "STRATO_PDS_ADMIN_TOKEN_FILE": "/etc/pds/admin",
        "STRATO_PDS_INVITE_CODE_REQUIRED": "true",
        "STRATO_PDS_TRUST_PROXY": "2",
        "STRATO_PDS_MASTER_KEY_FILE": "/etc/pds/master.key",
    }
    made = settings([], environ)
    assert (made.host, made.port, made.data_dir) == ("0.0.0.0", 3000, Path("/srv/pds"))
    assert made.public_url == "https://pds.example.com"
    assert made.service_did == "did:web:pds.example.com"
    assert made.plc_url == "https://plc.example.com"
    assert made.handle_domains == (".example.com", ".example.org")
    assert made.relays == ("https://relay.one", "https://relay.two")
    assert (made.appview_url, made.appview_did) == (
        "https://api.example.com",
        "did:web:api.example.com",
    )
    assert made.lexicon_dirs == (Path("/lex/a"), Path("/lex/b"))
    assert made.smtp_url == "smtps://user:pass@mail.example.com"
    assert made.blob_limit == 5 * 1024 * 1024
    assert made.admin_token_file == Path("/etc/pds/admin")
    assert (made.invite_code_required, made.trust_proxy) == (True, 2)
    assert made.key_file == Path("/etc/pds/master.key")
    # options win over the variables
    argv = [
        "--port", "4000", "--public-url", "https://other.example.com",
        "--relay", "https://relay.three", "--relay", "https://relay.four",
        "--lexicon-dir", "/lex/c", "--blob-limit", "512kB", "--handle-domains", ".a.test,b.test",
        "--trust-proxy", "0", "--invite-code-required",
    ]  # fmt: skip
    made = settings(argv, environ)
    assert made.port == 4000
    assert made.public_url == "https://other.example.com"
    assert made.relays == ("https://relay.three", "https://relay.four")
    assert made.lexicon_dirs == (Path("/lex/c"),)
    assert made.blob_limit == 512 * 1024
    assert made.handle_domains == (".a.test", ".b.test")
    assert made.trust_proxy == 0
    assert made.host == "0.0.0.0"  # not given: still the variable's


def test_the_network_policy_options() -> None:
    made = settings([], {})
    assert not made.network_policy.local_network
    assert made.network_policy.allowed == ()
    environ = {"STRATO_PDS_LOCAL_NETWORK": "true", "STRATO_PDS_ALLOW_NETWORK": "10.0.0.0/8"}
    made = settings([], environ)
    assert (made.local_network, made.allow_network) == (True, ("10.0.0.0/8",))
    made = settings(["--allow-network", "192.168.0.0/16", "--allow-network", "fd00::/8"], {})
    assert made.allow_network == ("192.168.0.0/16", "fd00::/8")
    assert settings(["--local-network"], {}).network_policy.local_network
    with pytest.raises(ValueError, match="'lan' is not a network in CIDR form"):
        settings(["--allow-network", "lan"], {})


@pytest.mark.parametrize(
    ("text", "size"),
    [("100", 100), ("2k", 2048), ("3 KiB", 3072), ("100MB", 104857600), ("1gb", 1 << 30)],
)
def test_blob_limit_sizes(text: str, size: int) -> None:
    assert settings(["--blob-limit", text], {}).blob_limit == size


def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "pds", "--blob-limit", "10XB")
    assert "argument --blob-limit: '10XB' is not a size" in err
    err = usage_error(capsys, "pds", "--port", "http")
    assert "argument --port: invalid int value: 'http'" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--plc-url", "ftp://plc.example.com"],
         "PLC directory URL 'ftp://plc.example.com' is not an http(s) URL"),
        (["--public-url", "https://pds.example.com/path"],
         "public URL 'https://pds.example.com/path' must have no path"),
        (["--relay", "relay.example.com"], "relay URL 'relay.example.com' is not an http(s) URL"),
        (["--appview-url", "https://api.example.com"],
         "give both the appview URL and the appview DID, or neither"),
        (["--appview-url", "https://a.example", "--appview-did", "api"],
         "appview DID 'api' is not a DID"),
        (["--smtp-url", "https://mail.example.com"],
         "SMTP URL 'https://mail.example.com' is not an smtp:// or smtps:// URL"),
        (["--trust-proxy", "-1"], "the number of trusted proxies cannot be negative"),
        (["--port", "70000"], "port 70000 is not between 0 and 65535"),
    ],
)  # fmt: skip
def test_bad_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "pds", "--data-dir", str(tmp_path / "pds"), *argv)
    assert (code, out, err) == (1, "", f"strato: error: {message}\n")
    assert not (tmp_path / "pds").exists()  # refused before anything was created


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORT", "http", "STRATO_PDS_PORT must be an integer"),
        (
            "BLOB_LIMIT",
            "lots",
            "STRATO_PDS_BLOB_LIMIT: 'lots' is not a size (such as 5000000, 512kB, 100MB or 1GB)",
        ),
        ("INVITE_CODE_REQUIRED", "maybe", "STRATO_PDS_INVITE_CODE_REQUIRED must be true or false"),
        ("PLC_URL", "plc.example.com", "PLC directory URL 'plc.example.com' is not an http(s) URL"),
    ],
)
def test_bad_variables(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(f"STRATO_PDS_{variable}", value)
    code, out, err = run(capsys, "pds")
    assert (code, out, err) == (1, "", f"strato: error: {message}\n")


def test_unreadable_admin_token_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    code, out, err = run(
        capsys, "pds", "--data-dir", str(tmp_path / "a"), "--admin-token-file", str(missing)
    )
    assert (code, out) == (1, "")
    assert err.startswith(f"strato: error: cannot read the admin token file {missing}: ")
    assert ERROR_LINE.fullmatch(err)
    short = tmp_path / "short-token"
    short.write_text("tooshort\n")
    code, out, err = run(
        capsys, "pds", "--data-dir", str(tmp_path / "b"), "--admin-token-file", str(short)
    )
    assert (code, out, err) == (
        1,
        "",
        f"strato: error: the admin token in {short} is shorter than 16 characters\n",
    )


def test_wrong_master_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data_dir = tmp_path / "pds"
    ctx = PdsContext.open(PdsSettings(data_dir=data_dir, sync=False))  # seals with master.key
    asyncio.run(ctx.aclose())
    monkeypatch.setenv(MASTER_KEY_ENV, secrets.token_hex(32))
    code, out, err = run(capsys, "pds", "--data-dir", str(data_dir))
    assert (code, out) == (1, "")
    assert err == (
        "strato: error: key store: wrong master key: it is not the key this data directory's "
        "keys were sealed with\n"
    )
    monkeypatch.delenv(MASTER_KEY_ENV)
    missing = tmp_path / "typo.key"
    code, out, err = run(
        capsys, "pds", "--data-dir", str(data_dir), "--master-key-file", str(missing)
    )
    assert (code, out, err) == (
        1,
        "",
        f"strato: error: no master key file at {missing}, but {data_dir / 'db'} holds keys "
        "sealed with one\n",
    )
    assert not missing.exists()
    monkeypatch.setenv(MASTER_KEY_ENV, "not hex")
    code, out, err = run(capsys, "pds", "--data-dir", str(tmp_path / "other"))
    assert (code, out, err) == (1, "", "strato: error: key store: a master key is 64 hex digits\n")


def test_a_data_dir_that_cannot_be_made_private(capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = f"/proc/{os.getpid()}"  # the kernel refuses any chmod there
    code, out, err = run(capsys, "pds", "--data-dir", data_dir)
    assert (code, out, err) == (
        1,
        "",
        f"strato: error: cannot make {data_dir} private: Operation not permitted\n",
    )


def test_admin_token_file_is_made_once(tmp_path: Path) -> None:
    path = ensure_admin_token(tmp_path / "new" / "admin-token")
    token = path.read_text()
    assert len(token.strip()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_admin_token(path).read_text() == token  # kept on later starts


# ---------------------------------------------------------------------------------------------
# account commands without a PDS


def test_account_commands_need_a_data_dir(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "nothing"
    for argv in (
        ["list"],
        ["takedown", "alice.test"],
        ["reset-password", "alice.test", "--password", "x"],
        ["token", "alice.test"],
    ):
        code, out, err = run(capsys, "account", *argv, "--data-dir", str(empty))
        assert (code, out) == (1, "")
        assert err == (
            f"strato: error: no PDS data in {empty} (start 'strato up' or 'strato pds' once, "
            "or give --data-dir)\n"
        )
    assert not empty.exists()
    monkeypatch.setenv("STRATO_PDS_DATA_DIR", str(empty))
    code, out, err = run(capsys, "account", "list")
    assert (code, out) == (1, "")
    assert err.startswith(f"strato: error: no PDS data in {empty} ")


def test_account_create_without_a_pds(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(
        capsys, "account", "create", "--pds", url, "--handle", "a.test", "--password", "x"
    )
    assert (code, out) == (1, "")
    assert err.startswith(f"strato: error: cannot reach the PDS at {url}: ")


# ---------------------------------------------------------------------------------------------
# strato up, and the account commands against it


@dataclass
class Up:
    process: subprocess.Popen[str]
    data_dir: Path
    plc_url: str
    pds_url: str
    pds_port: int
    relay_url: str
    banner: str
    log: Path


#: An operator's own relay admin token (``openssl rand -base64 24``): "+", "/" and "=" are not
#: literal in a URL's fragment as the admin page reads it.
OPERATOR_TOKEN = "q+Zp/3rXk9Lw+Tn1/Hb8Ue0Y=="


@contextlib.contextmanager
def running_up(tmp_path: Path, *, terminal: bool) -> Iterator[Up]:
    """``strato up`` on free ports, its welcome read from stdout: a pipe, or a pseudo-terminal
    (``terminal``, where the relay's admin token is the operator's :data:`OPERATOR_TOKEN`)."""
    data_dir = tmp_path / "net"
    plc_port, pds_port, relay_port = free_ports(3)
    log = tmp_path / "up.log"
    argv = ["up", "--data-dir", str(data_dir), "--plc-port", str(plc_port)]
    argv += ["--relay-port", str(relay_port)]
    argv += ["--pds-port", str(pds_port), "--log-format", "json"]
    stdout: IO[str]
    if terminal:
        ensure_admin_token(data_dir / "relay" / "admin-token").write_text(OPERATOR_TOKEN + "\n")
        reader, child_stdout = pty.openpty()
        process = start(log, *argv, stdout=child_stdout)
        os.close(child_stdout)
        stdout = open(reader, encoding="utf-8", newline="")  # noqa: SIM115
    else:
        process = start(log, *argv, stdout=subprocess.PIPE)
        assert process.stdout is not None
        stdout = process.stdout
    try:
        lines = []
        for line in stdout:
            lines.append(line.replace("\r\n", "\n"))  # a terminal's line ends
            if "Ctrl-C stops everything" in line:
                break
        banner = "".join(lines)
        assert "Ctrl-C" in banner, log.read_text()
        yield Up(
            process,
            data_dir,
            f"http://localhost:{plc_port}",
            f"http://localhost:{pds_port}",
            pds_port,
            f"http://localhost:{relay_port}",
            banner,
            log,
        )
    finally:
        stop(process)
        if terminal:
            stdout.close()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    with running_up(tmp_path, terminal=False) as up:
        yield up


def test_up_serves_a_local_network(up: Up) -> None:
    port = up.pds_port
    assert f"PLC directory  {up.plc_url}" in up.banner
    assert f"PDS            {up.pds_url}  (did:web:localhost%3A{port})" in up.banner
    token_file = up.data_dir / "pds" / "admin-token"
    assert f"admin token    {token_file}" in up.banner
    assert f"strato account create --pds {up.pds_url} --handle alice.test" in up.banner
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    relay_token = up.data_dir / "relay" / "admin-token"
    assert f"relay          {up.relay_url}  (crawling localhost:{port})" in up.banner
    assert f"admin token    {relay_token} (relay)" in up.banner
    # stdout is no terminal (a pipe, as to a log collector): the plain URL, and no token
    token = relay_token.read_text().strip()
    assert f"relay admin    {up.relay_url}/admin/  (sign in with the token in {relay_token})\n" in (
        up.banner
    )
    assert "#token=" not in up.banner
    assert token not in up.banner
    assert f"strato firehose tail {up.relay_url}" in up.banner
    assert stat.S_IMODE(relay_token.stat().st_mode) == 0o600
    assert httpx.get(f"{up.plc_url}/_health").status_code == 200
    assert httpx.get(f"{up.pds_url}/xrpc/_health").status_code == 200
    # the relay trusts its own PDS: a busy PDS is never throttled to a crawl
    listed = httpx.get(f"{up.relay_url}/admin/pds/list", auth=("admin", token)).json()
    assert [(host["Host"], host["Trusted"]) for host in listed] == [(f"localhost:{port}", True)]
    relay = httpx.get(f"{up.relay_url}/xrpc/_health")
    assert relay.status_code == 200
    assert relay.headers["server"] == f"strato-relay/{__version__} (atproto-relay)"
    described = httpx.get(f"{up.pds_url}/xrpc/com.atproto.server.describeServer").json()
    assert described["did"] == f"did:web:localhost%3A{port}"
    assert described["availableUserDomains"] == [".test"]
    document = httpx.get(f"{up.pds_url}/.well-known/did.json").json()
    assert document["service"][0]["serviceEndpoint"] == up.pds_url
    assert (up.data_dir / "plc" / "data.mdb").exists()
    assert (up.data_dir / "pds" / "db" / "data.mdb").exists()
    assert (up.data_dir / "relay" / "db" / "data.mdb").exists()
    assert stop(up.process) == 0  # SIGTERM: a clean stop
    log_lines = up.log.read_text().splitlines()
    assert any(json.loads(line)["msg"] == "stopped" for line in log_lines), log_lines
    assert not [line for line in log_lines if token in line]


def test_up_refuses_a_port_in_use(up: Up, tmp_path: Path) -> None:
    plc_port, relay_port = free_ports(2)
    argv = ["up", "--data-dir", str(tmp_path / "second"), "--plc-port", str(plc_port)]
    argv += ["--pds-port", str(up.pds_port), "--relay-port", str(relay_port)]
    argv += ["--log-level", "error"]
    command = [sys.executable, "-m", "strato", *argv]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"strato: error: pds cannot listen on 127.0.0.1:{up.pds_port}: ")
    assert ERROR_LINE.fullmatch(done.stderr)


def test_accounts_end_to_end(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, up: Up
) -> None:
    data = ["--data-dir", str(up.data_dir / "pds")]
    create = ["account", "create", "--pds", up.pds_url, "--password", PASSWORD]
    code, out, err = run(capsys, *create, "--handle", "alice.test", "--email", "a@example.com")
    assert code == 0, err
    found = re.fullmatch(r"did: (did:plc:[a-z2-7]{24})\nhandle: alice\.test\n", out)
    assert found is not None
    did = found.group(1)
    code, out, err = run(capsys, *create, "--handle", "bob.test")
    assert code == 0, err
    code, out, err = run(capsys, *create, "--handle", "alice.test")
    assert (code, out) == (1, "")
    assert err == (
        "strato: error: createAccount failed: HandleNotAvailable: Handle already taken: "
        "alice.test\n"
    )
    code, out, err = run(capsys, *create, "--handle", "carol.example.com")
    assert (code, out) == (1, "")
    assert err.startswith("strato: error: createAccount failed: UnsupportedDomain")

    check_list(capsys, data, did)
    check_takedown(capsys, up, data, did)
    check_reset_password(capsys, up, data, did)
    check_token(capsys, monkeypatch, up, data, did)


def check_list(capsys: pytest.CaptureFixture[str], data: list[str], did: str) -> None:
    code, out, err = run(capsys, "account", "list", *data)
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["DID", "HANDLE", "EMAIL", "STATUS", "CREATED"]
    by_handle = {row[1]: row for row in rows[1:]}
    assert set(by_handle) == {"alice.test", "bob.test"}
    assert by_handle["alice.test"][:4] == [did, "alice.test", "a@example.com", "active"]
    assert by_handle["bob.test"][2:4] == ["-", "active"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", by_handle["bob.test"][4])


def check_takedown(capsys: pytest.CaptureFixture[str], up: Up, data: list[str], did: str) -> None:
    # takedown by handle: the status changes and the running PDS sends #account
    firehose = f"ws://127.0.0.1:{up.pds_port}/xrpc/com.atproto.sync.subscribeRepos"
    with connect(firehose, open_timeout=10) as ws:
        code, out, err = run(capsys, "account", "takedown", "alice.test", *data)
        assert code == 0, err
        assert re.fullmatch(rf"{did} \(alice\.test\): takendown \(event \d+\)\n", out)
        frame = next_frame(ws)
        assert (frame.t, frame.body["did"]) == ("#account", did)
        assert (frame.body["active"], frame.body["status"]) == (False, "takendown")
        code, out, err = run(capsys, "account", "takedown", did, "--reverse", *data)
        assert code == 0, err
        assert re.fullmatch(rf"{did} \(alice\.test\): active \(event \d+\)\n", out)
        frame = next_frame(ws)
        assert (frame.t, frame.body["did"], frame.body["active"]) == ("#account", did, True)
        assert "status" not in frame.body
    code, out, err = run(capsys, "account", "list", *data)
    assert "takendown" not in out


def check_reset_password(
    capsys: pytest.CaptureFixture[str], up: Up, data: list[str], did: str
) -> None:
    """Given, then generated; the old password stops working."""
    assert login(up, "alice.test", PASSWORD) == 200
    reset = ["account", "reset-password"]
    code, out, err = run(capsys, *reset, "alice.test", "--password", "new one", *data)
    assert (code, out) == (0, "")
    assert err == f"password of alice.test ({did}) changed; sessions ended\n"
    assert login(up, "alice.test", PASSWORD) == 401
    assert login(up, "alice.test", "new one") == 200
    code, out, err = run(capsys, *reset, did, *data)
    assert code == 0, err
    generated = out.strip()
    assert len(generated) == 20
    assert login(up, "alice.test", "new one") == 401
    assert login(up, did, generated) == 200


def check_token(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    up: Up,
    data: list[str],
    did: str,
) -> None:
    """A code issued on the data directory works at the running PDS, once, and only the
    latest; only the PDS's master key issues one."""
    issued = []
    for argv in (["alice.test"], [did, "--purpose", "reset_password"]):
        code, out, err = run(capsys, "account", "token", *argv, *data)
        assert code == 0, err
        assert re.fullmatch(r"[A-Z2-7]{5}-[A-Z2-7]{5}\n", out)
        assert err == (
            f"new reset_password code for alice.test ({did}), valid 15 minutes; it replaces "
            "any earlier one\n"
        )
        issued.append(out.strip())
    assert reset_with(up, issued[0], "third one") == (400, "InvalidToken")
    assert reset_with(up, issued[1], "third one") == (200, None)
    assert reset_with(up, issued[1], "fourth one") == (400, "InvalidToken")  # used up
    assert login(up, "alice.test", "third one") == 200
    code, out, err = run(capsys, "account", "token", did, "--purpose", "plc_operation", *data)
    assert code == 0, err
    assert err.startswith(f"new plc_operation code for alice.test ({did}), ")

    missing = up.data_dir / "elsewhere.key"
    code, out, err = run(capsys, "account", "token", did, "--master-key-file", str(missing), *data)
    assert (code, out, err) == (
        1,
        "",
        f"strato: error: key store: no master key file at {missing}\n",
    )
    monkeypatch.setenv(MASTER_KEY_ENV, secrets.token_hex(32))
    code, out, err = run(capsys, "account", "token", did, *data)
    assert (code, out, err) == (
        1,
        "",
        "strato: error: key store: wrong master key: it is not the key this data directory's "
        "keys were sealed with\n",
    )
    monkeypatch.delenv(MASTER_KEY_ENV)
    monkeypatch.setenv("STRATO_PDS_MASTER_KEY_FILE", str(up.data_dir / "pds" / "master.key"))
    code, out, err = run(capsys, "account", "token", "nobody.test", *data)
    assert (code, out, err) == (1, "", "strato: error: nobody.test: no such account\n")


def reset_with(up: Up, token: str, password: str) -> tuple[int, str | None]:
    response = httpx.post(
        f"{up.pds_url}/xrpc/com.atproto.server.resetPassword",
        json={"token": token, "password": password},
    )
    return response.status_code, response.json().get("error") if response.content else None


def next_frame(ws: ClientConnection) -> Frame:
    data = ws.recv(timeout=15)
    assert isinstance(data, bytes)
    return decode_frame(data)


def login(up: Up, identifier: str, password: str) -> int:
    response = httpx.post(
        f"{up.pds_url}/xrpc/com.atproto.server.createSession",
        json={"identifier": identifier, "password": password},
    )
    return response.status_code


def test_on_a_terminal_up_prints_a_url_that_signs_in_and_sigint_stops_it(tmp_path: Path) -> None:
    with running_up(tmp_path, terminal=True) as up:
        [line] = [line for line in up.banner.splitlines() if "relay admin" in line]
        url = line.split()[-1]
        assert url.startswith(f"{up.relay_url}/admin/#token=")
        given = url.partition("#token=")[2]
        # Encoded: nothing in it that a URL's fragment parameters read otherwise.
        assert set(given) <= set(string.ascii_letters + string.digits + "-._~%")
        assert unquote(given) == OPERATOR_TOKEN
        assert stop(up.process, signal.SIGINT) == 0
        log = up.log.read_text()
        assert "stopped" in log
        assert OPERATOR_TOKEN not in log
        assert given not in log


def test_event_retention_from_variables_and_options(tmp_path: Path) -> None:
    made = settings([], {})
    assert (made.event_retention_hours, made.event_retention_bytes) == (72.0, 8 << 30)
    environ = {"STRATO_PDS_EVENT_RETENTION_HOURS": "1.5", "STRATO_PDS_EVENT_RETENTION_BYTES": "2GB"}
    made = settings([], environ)
    assert (made.event_retention_hours, made.event_retention_bytes) == (1.5, 2 << 30)
    made = settings(["--event-retention-hours", "24", "--event-retention-bytes", "64MB"], environ)
    assert (made.event_retention_hours, made.event_retention_bytes) == (24.0, 64 << 20)
    with pytest.raises(ValueError, match="event retention window must be positive"):
        settings(["--event-retention-hours", "0"], {})
    with pytest.raises(ValueError, match="must be a number of hours"):
        settings([], {"STRATO_PDS_EVENT_RETENTION_HOURS": "a day"})
    # the PDS's log prunes by these settings
    ctx = PdsContext.open(dataclasses.replace(made, data_dir=tmp_path, sync=False))
    try:
        assert ctx.sequencer.retention.max_age_seconds == 24 * 3600
        assert ctx.sequencer.retention.max_bytes == 64 << 20
    finally:
        asyncio.run(ctx.aclose())
