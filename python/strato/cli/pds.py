"""The ``strato pds`` command (run a PDS). Registered on the main parser by :mod:`strato.cli.main`,
which prints errors. (``strato up`` is :mod:`strato.cli.up`.)

Commands::

    strato pds [--host 127.0.0.1] [--port 2583] [--data-dir ./strato-data/pds] [--public-url URL]
               [--plc-url URL] [--handle-domains .test,...] [--relay URL]... [--appview-url URL
               --appview-did DID] [--lexicon-dir DIR]... [--smtp-url URL] [--blob-limit 100MB]
               [--admin-token-file FILE] [--invite-code-required] [--trust-proxy N]
               [--master-key-file FILE] [--local-network] [--allow-network CIDR]...
               [--header-timeout S] [--keepalive-timeout S] [--max-connections N]
               [--max-connections-per-ip N]

Every ``strato pds`` option may also come from the environment variable named in its help
(``STRATO_PDS_<SETTING>``, read by :func:`strato.pds.settings.settings_from_env`); an option on
the command line wins over the variable.
"""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from strato.cli.serving import (
    add_connection_options,
    add_log_options,
    configure_logging,
    serve_until_stopped,
    size_argument,
)
from strato.pds.app import create_app
from strato.pds.keys import MASTER_KEY_ENV
from strato.pds.service import pds_service
from strato.pds.settings import (
    DEFAULT_DATA_DIR,
    DEFAULT_PLC_URL,
    DEFAULT_PORT,
    ENV_PREFIX,
    PdsSettings,
    settings_from_env,
)
from strato.service.limits import CONNECTION_SETTINGS
from strato.storage.private import create_file, make_dir

ADMIN_TOKEN_NAME: Final = "admin-token"


def _env(setting: str) -> str:
    return f"env {ENV_PREFIX}{setting.upper()}"


def add_pds_command(groups: Any) -> None:
    """``strato pds``: serve a PDS."""
    pds = groups.add_parser(
        "pds",
        help="run a personal data server (PDS)",
        description=(
            "Run an AT Protocol personal data server: accounts (did:plc, created through the "
            "PLC directory), repositories, blobs, sync and the subscribeRepos firehose, all "
            "kept in LMDB under --data-dir; a write is on disk before it is acknowledged. The "
            "firehose is sent by the Rust frame writer (each frame encoded once for every "
            "subscriber; one that stops reading is served from the log, then cut). "
            "Every option may also be given as the environment variable named in its help; "
            f"the private keys are sealed with a master key ({MASTER_KEY_ENV}, 64 hex digits, "
            "or --master-key-file). Ctrl-C (or SIGTERM) lets requests finish and stops."
        ),
    )
    add = pds.add_argument
    add("--host", help=f"address to listen on (default 127.0.0.1; {_env('host')})")
    add("--port", type=int, help=f"port (default {DEFAULT_PORT}; 0: any; {_env('port')})")
    add(
        "--data-dir",
        type=Path,
        help=f"directory of the data, created if missing (default {DEFAULT_DATA_DIR}; "
        f"{_env('data_dir')}); kept private: mode 0700, files 0600 (looser modes are "
        "tightened at start, with a warning)",
    )
    add(
        "--public-url",
        metavar="URL",
        help="the URL clients and relays reach this PDS at, without a path; the PDS's DID is "
        "did:web of its host (default http://localhost:PORT; " + _env("public_url") + ")",
    )
    add(
        "--plc-url",
        metavar="URL",
        help=f"the PLC directory new accounts' DIDs are registered at (default {DEFAULT_PLC_URL};"
        f" {_env('plc_url')})",
    )
    add(
        "--handle-domains",
        metavar="DOMAINS",
        type=_domains,
        help="comma-separated suffixes new handles may end with, such as .example.com "
        f"(default .test; {_env('handle_domains')})",
    )
    add(
        "--relay",
        metavar="URL",
        action="append",
        dest="relays",
        help="a relay to ask to crawl this PDS; repeat for several "
        f"({_env('relays')}, comma-separated)",
    )
    add(
        "--appview-url",
        metavar="URL",
        help="where app.bsky.* calls without an atproto-proxy header go (with --appview-did; "
        f"{_env('appview_url')})",
    )
    add(
        "--appview-did",
        metavar="DID",
        help=f"the appview's DID, the audience of the service tokens sent to it "
        f"({_env('appview_did')})",
    )
    add(
        "--lexicon-dir",
        metavar="DIR",
        type=Path,
        action="append",
        dest="lexicon_dirs",
        help="a directory of lexicon JSON files records are validated against; repeat for "
        f"several ({_env('lexicon_dirs')}, comma-separated)",
    )
    add(
        "--smtp-url",
        metavar="URL",
        help="smtp:// or smtps:// server for emailed tokens; without one they go to the log "
        f"('strato account token' issues one too) ({_env('smtp_url')})",
    )
    add(
        "--blob-limit",
        metavar="SIZE",
        type=size_argument,
        help="largest blob upload, in bytes or with a unit (512kB, 100MB, 1GB; units are "
        f"powers of 1024; default 100MB; {_env('blob_limit')})",
    )
    add(
        "--event-retention-hours",
        metavar="HOURS",
        type=float,
        help="how long firehose events stay replayable from a cursor (default 72; "
        f"{_env('event_retention_hours')})",
    )
    add(
        "--event-retention-bytes",
        metavar="SIZE",
        type=size_argument,
        help="the most firehose log kept, oldest events pruned first (default 8GB; "
        f"{_env('event_retention_bytes')})",
    )
    add(
        "--admin-token-file",
        metavar="FILE",
        type=Path,
        help="file holding the admin password (16 characters or more) for admin calls (HTTP "
        f"basic auth as 'admin'); without one there is no admin access "
        f"({_env('admin_token_file')})",
    )
    add(
        "--invite-code-required",
        action="store_const",
        const=True,
        help="refuse new accounts without an invite code (default off; "
        f"{_env('invite_code_required')}=true)",
    )
    add(
        "--trust-proxy",
        metavar="N",
        type=int,
        help="the number of reverse proxies in front of this PDS whose X-Forwarded-For "
        f"entries are trusted for per-IP rate limits (default 0; {_env('trust_proxy')})",
    )
    add(
        "--local-network",
        action="store_const",
        const=True,
        help="a development network on one machine: other services (DID documents, handles, "
        "the proxy's targets, relays) may be on loopback and reached over plain http on any "
        "port, and handles under the handle domains are resolved by this PDS itself; private, "
        "link-local and other non-public addresses stay refused unless --allow-network names "
        f"them (default off; {_env('local_network')}=true)",
    )
    add(
        "--allow-network",
        metavar="CIDR",
        action="append",
        help="also reach services whose addresses are in this network, private or not, such "
        "as 10.0.0.0/8 or fd00::/8; without --local-network it widens the addresses only "
        "(https on 443 stays the rule); repeat for several (default none; "
        f"{_env('allow_network')}, comma-separated)",
    )
    add(
        "--master-key-file",
        metavar="FILE",
        type=Path,
        help="file holding the master key sealing the private keys, created on first start "
        f"(default DATA_DIR/master.key; {_env('master_key_file')}; {MASTER_KEY_ENV} holding "
        "the key itself wins over both)",
    )
    add_connection_options(pds, ENV_PREFIX, per_ip_note="; none behind --trust-proxy")
    add_log_options(pds)
    pds.set_defaults(handler=cmd_pds)


def _domains(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


#: The ``strato pds`` options that are settings, by destination.
_SETTINGS: Final = (
    "host", "port", "data_dir", "public_url", "plc_url", "handle_domains", "relays",
    "appview_url", "appview_did", "lexicon_dirs", "smtp_url", "blob_limit",
    "event_retention_hours", "event_retention_bytes", "admin_token_file",
    "invite_code_required", "trust_proxy", "master_key_file", "local_network", "allow_network",
    *CONNECTION_SETTINGS,
)  # fmt: skip


def pds_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> PdsSettings:
    """The settings of ``strato pds``: the environment, then the options given."""
    overrides: dict[str, Any] = {}
    for name in _SETTINGS:
        value = getattr(args, name)
        overrides[name] = tuple(value) if isinstance(value, list) else value
    return settings_from_env(os.environ if environ is None else environ, **overrides)


def cmd_pds(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    settings = pds_settings(args)
    require_master_key(settings)
    configure_logging(args)
    return serve_until_stopped([pds_service(settings, create_app(settings))])


def require_master_key(settings: PdsSettings) -> None:
    """Refuse to start a PDS whose data directory has sealed keys but whose master key file is
    missing: the PDS would make a new key that can never open them (a mistyped path, say)."""
    if os.environ.get(MASTER_KEY_ENV):
        return
    store = Path(settings.data_dir) / "db"
    if store.exists() and not settings.key_file.exists():
        raise ValueError(
            f"no master key file at {settings.key_file}, but {store} holds keys sealed with one"
        )


def ensure_admin_token(path: Path) -> Path:
    """``path``, holding a new random admin token (mode 0600; a missing directory is made
    0700) unless it exists."""
    make_dir(path.parent)
    try:
        fd = create_file(path)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
        file.flush()
        os.fsync(file.fileno())
    return path


__all__ = ["ADMIN_TOKEN_NAME", "add_pds_command", "ensure_admin_token", "pds_settings"]
