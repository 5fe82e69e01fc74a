"""``strato relay`` (help, settings from options and ``STRATO_RELAY_*`` variables, bad options)
and ``strato firehose tail`` without servers or against an empty relay (URL forms, the JSON
form of an event, errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pds_net import run_plc
from relay_net import LocalRelay, run_relay
from strato.cli.firehose import event_json, stream_url
from strato.cli.main import build_parser, main
from strato.cli.relay import relay_settings
from strato.dagcbor import from_json
from strato.firehose import Frame
from strato.relay.settings import DEFAULT_WORKERS, RelaySettings
from strato.sync import RELAXABLE, VerifyPolicy
from strato_proc import free_port

OPTIONS = {
    # option: the variable named in its help
    "host": "HOST", "port": "PORT", "data-dir": "DATA_DIR", "plc-url": "PLC_URL",
    "public-url": "PUBLIC_URL", "local-network": "LOCAL_NETWORK", "lenient": "LENIENT",
    "policy-file": "POLICY_FILE", "crawl": "CRAWL", "admin-token-file": "ADMIN_TOKEN_FILE",
    "retention-hours": "EVENT_RETENTION_HOURS", "retention-size": "EVENT_RETENTION_BYTES",
    "account-limit": "DEFAULT_ACCOUNT_LIMIT", "new-hosts-per-day": "NEW_HOSTS_PER_DAY",
    "no-crawl-requests": "CRAWL_ENABLED", "workers": "WORKERS", "trust-proxy": "TRUST_PROXY",
    "allow-network": "ALLOW_NETWORK", "trusted-domain": "TRUSTED_DOMAINS",
}  # fmt: skip


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


def settings(argv: list[str], environ: dict[str, str]) -> RelaySettings:
    return relay_settings(build_parser().parse_args(["relay", *argv]), environ)


# ---------------------------------------------------------------------------------------------
# help


def test_relay_help_explains_the_relay_and_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, "relay")
    for option, variable in OPTIONS.items():
        assert f"--{option}" in text
        assert f"STRATO_RELAY_{variable}" in text
    for phrase in (
        "subscribes to the firehose",
        "requestCrawl",
        "verified",
        "own sequence numbers",
        "/xrpc/com.atproto.sync.subscribeRepos",
        "default 127.0.0.1",
        "default 2584",
        "default ./strato-data/relay",
        "default https://plc.directory",
        "default 20GB",
        "default 72",
        "default 100",
        "default 50",
    ):
        assert phrase in text
    for check in RELAXABLE:
        assert check in text
    for name in ("relay", "firehose", "up"):
        assert name in help_text(capsys)
    tail = help_text(capsys, "firehose", "tail")
    for phrase in ("--cursor", "--blocks", "--reconnect", "blocksSize", "$bytes", "$link"):
        assert phrase in tail


# ---------------------------------------------------------------------------------------------
# settings


def test_defaults() -> None:
    made = settings([], {})
    assert (made.host, made.port, made.data_dir) == ("127.0.0.1", 2584, Path("strato-data/relay"))
    assert (made.public_url, made.plc_url) == ("http://localhost:2584", "https://plc.directory")
    assert (made.local_network, made.lenient, made.policy, made.crawl) == (False, False, {}, ())
    assert (made.event_retention_hours, made.event_retention_bytes) == (72.0, 20_000_000_000)
    assert (made.default_account_limit, made.new_hosts_per_day) == (100, 50)
    assert (made.crawl_enabled, made.workers, made.trust_proxy) == (True, DEFAULT_WORKERS, 0)
    assert made.admin_token_file is None


def test_environment_variables_and_options(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"rev_in_future": False, "too_big": True}))
    environ = {
        "STRATO_RELAY_HOST": "0.0.0.0",
        "STRATO_RELAY_PORT": "3000",
        "STRATO_RELAY_DATA_DIR": "/srv/relay",
        "STRATO_RELAY_PLC_URL": "https://plc.example.com",
        "STRATO_RELAY_PUBLIC_URL": "https://relay.example.com/",
        "STRATO_RELAY_LOCAL_NETWORK": "true",
        "STRATO_RELAY_LENIENT": "yes",
        "STRATO_RELAY_POLICY_FILE": str(policy),
        "STRATO_RELAY_CRAWL": "pds.one.example, pds.two.example",
        "STRATO_RELAY_ADMIN_TOKEN_FILE": "/etc/relay/admin",
        "STRATO_RELAY_EVENT_RETENTION_HOURS": "24",
        "STRATO_RELAY_EVENT_RETENTION_BYTES": "5GB",
        "STRATO_RELAY_DEFAULT_ACCOUNT_LIMIT": "1000",
        "STRATO_RELAY_NEW_HOSTS_PER_DAY": "7",
        "STRATO_RELAY_CRAWL_ENABLED": "false",
        "STRATO_RELAY_WORKERS": "3",
        "STRATO_RELAY_TRUST_PROXY": "1",
    }
    made = settings([], environ)
    assert (made.host, made.port, made.data_dir) == ("0.0.0.0", 3000, Path("/srv/relay"))
    assert (made.plc_url, made.public_url) == (
        "https://plc.example.com",
        "https://relay.example.com",
    )
    assert (made.local_network, made.lenient) == (True, True)
    assert made.policy == {"rev_in_future": False, "too_big": True}
    # the file wins over --lenient
    assert made.verify_policy == VerifyPolicy(strict=False, checks={"too_big": True})
    assert made.crawl == ("pds.one.example", "pds.two.example")
    assert made.admin_token_file == Path("/etc/relay/admin")
    assert (made.event_retention_hours, made.event_retention_bytes) == (24.0, 5 * 1024**3)
    assert (made.default_account_limit, made.new_hosts_per_day) == (1000, 7)
    assert (made.crawl_enabled, made.workers, made.trust_proxy) == (False, 3, 1)

    # options win over the variables
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"high_s": False}))
    argv = [
        "--port", "4000", "--crawl", "a.example", "--crawl", "b.example",
        "--retention-hours", "1.5", "--retention-size", "500MB", "--account-limit", "5",
        "--new-hosts-per-day", "0", "--workers", "2", "--policy-file", str(other),
    ]  # fmt: skip
    made = settings(argv, environ)
    assert made.port == 4000
    assert made.crawl == ("a.example", "b.example")
    assert (made.event_retention_hours, made.event_retention_bytes) == (1.5, 500 * 1024**2)
    assert (made.default_account_limit, made.new_hosts_per_day, made.workers) == (5, 0, 2)
    assert made.policy == {"high_s": False}
    assert made.host == "0.0.0.0"  # not given: still the variable's

    flags = settings(["--local-network", "--lenient", "--no-crawl-requests"], {})
    assert (flags.local_network, flags.lenient, flags.crawl_enabled) == (True, True, False)
    argv = ["--allow-network", "10.0.0.0/8", "--trusted-domain", "localhost:2583"]
    argv += ["--trusted-domain", "*.pds.example"]
    made = settings(argv, {"STRATO_RELAY_ALLOW_NETWORK": "192.168.0.0/16"})
    assert made.allow_network == ("10.0.0.0/8",)
    assert made.trusted_domains == ("localhost:2583", "*.pds.example")
    assert flags.verify_policy == VerifyPolicy(strict=False)


def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "relay", "--retention-size", "10XB")
    assert "argument --retention-size: '10XB' is not a size" in err
    err = usage_error(capsys, "relay", "--port", "http")
    assert "argument --port: invalid int value: 'http'" in err
    err = usage_error(capsys, "relay", "--workers", "many")
    assert "argument --workers: invalid int value: 'many'" in err
    err = usage_error(capsys, "relay", "--retention-hours", "forever")
    assert "argument --retention-hours: invalid float value: 'forever'" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--plc-url", "ftp://plc.example.com"],
         "PLC directory URL 'ftp://plc.example.com' is not an http(s) URL"),
        (["--public-url", "https://relay.example.com/path"],
         "public URL 'https://relay.example.com/path' must have no path"),
        (["--port", "70000"], "port 70000 is not between 0 and 65535"),
        (["--retention-hours", "0"], "the event retention window must be positive"),
        (["--account-limit", "-1"], "host limits cannot be negative"),
        (["--new-hosts-per-day", "-5"], "host limits cannot be negative"),
        (["--workers", "-1"], "workers and trusted proxies cannot be negative"),
        (["--trust-proxy", "-1"], "workers and trusted proxies cannot be negative"),
    ],
)  # fmt: skip
def test_bad_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "relay", "--data-dir", str(tmp_path / "relay"), *argv)
    assert (code, out, err) == (1, "", f"strato: error: {message}\n")
    assert not (tmp_path / "relay").exists()  # refused before anything was created


def test_bad_policy_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = ["relay", "--data-dir", str(tmp_path / "relay"), "--policy-file"]
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"signature": false}')
    code, out, err = run(capsys, *data, str(unknown))
    assert (code, out) == (1, "")
    assert err.startswith("strato: error: policy check 'signature' is not one of: deprecated_flag,")
    not_bool = tmp_path / "not-bool.json"
    not_bool.write_text('{"too_big": "lenient"}')
    code, out, err = run(capsys, *data, str(not_bool))
    assert err == "strato: error: policy check 'too_big' must be true (strict) or false\n"
    array = tmp_path / "array.json"
    array.write_text("[]")
    code, out, err = run(capsys, *data, str(array))
    assert err == f"strato: error: the policy file {array} must hold a JSON object\n"
    missing = tmp_path / "missing.json"
    code, out, err = run(capsys, *data, str(missing))
    assert code == 1
    assert err.startswith(f"strato: error: cannot read the policy file {missing}: ")
    assert not (tmp_path / "relay").exists()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORT", "http", "STRATO_RELAY_PORT must be an integer"),
        ("LOCAL_NETWORK", "maybe", "STRATO_RELAY_LOCAL_NETWORK must be true or false"),
        ("EVENT_RETENTION_HOURS", "soon", "STRATO_RELAY_EVENT_RETENTION_HOURS must be a number "
         "of hours"),
        ("EVENT_RETENTION_BYTES", "lots",
         "STRATO_RELAY_EVENT_RETENTION_BYTES: 'lots' is not a size (such as 5000000, 512kB, "
         "100MB or 1GB)"),
        ("PLC_URL", "plc.example.com", "PLC directory URL 'plc.example.com' is not an http(s) URL"),
    ],
)  # fmt: skip
def test_bad_variables(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(f"STRATO_RELAY_{variable}", value)
    code, out, err = run(capsys, "relay")
    assert (code, out, err) == (1, "", f"strato: error: {message}\n")


def test_up_needs_three_ports(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = ["up", "--data-dir", str(tmp_path / "net"), "--plc-port", "7001", "--pds-port", "7002"]
    code, out, err = run(capsys, *data, "--relay-port", "7002")
    assert (code, out) == (1, "")
    assert err == (
        "strato: error: the PLC directory, the PDS and the relay need three different ports\n"
    )
    code, out, err = run(capsys, *data, "--relay-port", "0")
    assert err == "strato: error: port 0 is not between 1 and 65535\n"
    assert not (tmp_path / "net").exists()


def test_unreadable_admin_token_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data_dir = tmp_path / "relay"
    missing = tmp_path / "no-such-token"
    code, out, err = run(
        capsys, "relay", "--data-dir", str(data_dir), "--admin-token-file", str(missing)
    )
    assert (code, out) == (1, "")
    assert err.startswith(f"strato: error: cannot read the admin token file {missing}: ")
    short = tmp_path / "short"
    short.write_text("tooshort\n")
    code, out, err = run(
        capsys, "relay", "--data-dir", str(data_dir), "--admin-token-file", str(short)
    )
    assert (code, out, err) == (
        1,
        "",
        f"strato: error: the admin token in {short} is shorter than 16 characters\n",
    )
    assert not data_dir.exists()


# ---------------------------------------------------------------------------------------------
# firehose tail: URLs, the JSON form, errors


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("http://localhost:2584", "ws://localhost:2584/xrpc/com.atproto.sync.subscribeRepos"),
        ("https://relay.example.com/", "wss://relay.example.com/xrpc/com.atproto.sync.subscribeRepos"),
        ("ws://127.0.0.1:9", "ws://127.0.0.1:9/xrpc/com.atproto.sync.subscribeRepos"),
        ("WSS://relay.example.com", "wss://relay.example.com/xrpc/com.atproto.sync.subscribeRepos"),
        ("wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos?cursor=5",
         "wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos?cursor=5"),
    ],
)  # fmt: skip
def test_stream_urls(given: str, url: str) -> None:
    assert stream_url(given) == url


def test_bad_tail_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    for url, message in (
        ("relay.example.com", "'relay.example.com' is not an http(s):// or ws(s):// URL"),
        ("ftp://relay.example.com", "'ftp://relay.example.com' is not an http(s):// or ws(s)://"),
        ("http://relay.example.com/xrpc/com.atproto.sync.getRepo",
         "the path must be empty or /xrpc/com.atproto.sync.subscribeRepos"),
        ("http://relay.example.com/?cursor=x", "cursor in the URL: 'x' is not a seq"),
    ):  # fmt: skip
        code, out, err = run(capsys, "firehose", "tail", url)
        assert (code, out) == (1, "")
        assert err.startswith("strato: error: ")
        assert message in err
    err = usage_error(capsys, "firehose", "tail", "http://localhost:2584", "--cursor", "-1")
    assert "argument --cursor: '-1' is not a seq (an integer >= 0)" in err


def test_event_json_summarizes_blocks_unless_asked() -> None:
    body = from_json(
        {
            "seq": 7,
            "repo": "did:plc:abc",
            "rev": "3kabc",
            "commit": {"$link": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},
            "blocks": {"$bytes": "AAECAwQ"},
            "ops": [],
            "since": None,
        }
    )
    frame = Frame(1, "#commit", body)
    summary = event_json(frame)
    assert summary == {
        "type": "#commit",
        "seq": 7,
        "repo": "did:plc:abc",
        "rev": "3kabc",
        "commit": {"$link": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},
        "ops": [],
        "since": None,
        "blocksSize": 5,
    }
    assert list(summary)[:2] == ["type", "seq"]
    whole = event_json(frame, blocks=True)
    assert whole["blocks"] == {"$bytes": "AAECAwQ"}
    assert "blocksSize" not in whole
    info = event_json(Frame(1, "#info", {"name": "OutdatedCursor"}))
    assert info == {"type": "#info", "name": "OutdatedCursor"}


@pytest.fixture
def empty_relay(tmp_path: Path) -> Iterator[LocalRelay]:
    with run_plc(tmp_path / "plc") as plc_url, run_relay(tmp_path / "relay", plc_url) as relay:
        yield relay


def test_tail_errors(capsys: pytest.CaptureFixture[str], empty_relay: LocalRelay) -> None:
    stream = empty_relay.stream_url
    future = f"strato: error: {stream} ended the stream with FutureCursor: Cursor in the future.\n"
    code, out, err = run(capsys, "firehose", "tail", empty_relay.url, "--cursor", "5")
    assert (code, out, err) == (1, "", future)
    code, out, err = run(capsys, "firehose", "tail", f"{stream}?cursor=9")
    assert (code, out, err) == (1, "", future)
    closed = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(capsys, "firehose", "tail", closed)
    assert (code, out) == (1, "")
    assert err.startswith(f"strato: error: connection to {stream_url(closed)} failed: ")
    # an HTTP server without the stream refuses the upgrade
    plc = empty_relay.settings.plc_url
    code, out, err = run(capsys, "firehose", "tail", plc)
    assert (code, out) == (1, "")
    assert err == f"strato: error: {stream_url(plc)} answered HTTP 403, not a WebSocket\n"
