"""The ``strato plc`` command (run a PLC directory) and ``strato did create`` (make a did:plc on
one). Registered on the main parser by :mod:`strato.cli.main`, which prints errors.

Commands::

    strato plc [--host 127.0.0.1] [--port 2582] [--data-dir ./strato-data/plc] [--rate-limits]
               [--header-timeout S] [--keepalive-timeout S] [--max-connections N]
               [--max-connections-per-ip N]
    strato did create --handle H --pds URL [--plc URL] [--rotation-key FILE]
                      [--signing-key FILE] [--key-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from strato.cli.serving import (
    add_connection_options,
    add_log_options,
    configure_logging,
    serve_until_stopped,
)
from strato.crypto import PrivateKey, load_private_key, save_private_key
from strato.identity.plc.client import PlcClient
from strato.identity.plc.operations import create_genesis
from strato.plc.app import create_app
from strato.plc.settings import (
    DEFAULT_DATA_DIR,
    DEFAULT_HOST,
    DEFAULT_PORT,
    ENV_PREFIX,
    PlcSettings,
    settings_from_env,
)
from strato.service.limits import CONNECTION_SETTINGS
from strato.service.serving import Service
from strato.storage.private import make_dir
from strato.syntax import Handle

DEFAULT_PLC_URL: Final = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
#: The ``strato plc`` options that are settings.
_SETTINGS: Final = ("host", "port", "data_dir", "rate_limits", *CONNECTION_SETTINGS)


def _env(setting: str) -> str:
    return f"env {ENV_PREFIX}{setting.upper()}"


def add_plc_command(groups: Any) -> None:
    """``strato plc``: serve a PLC directory."""
    plc = groups.add_parser(
        "plc",
        help="run a did:plc directory (HTTP, stored in LMDB)",
        description=(
            "Run a did:plc directory speaking the plc.directory HTTP API: POST /:did, GET /:did "
            "(DID document), /:did/data, /:did/log, /:did/log/audit, /:did/log/last, /export "
            "and /_health, and Prometheus metrics at /metrics. Operations are checked as the "
            "reference directory checks them (signatures, prev chain, 72-hour recovery window, "
            "size limits) and kept in LMDB under --data-dir; each is on disk before it is "
            "acknowledged. Every option may also be given as the environment variable named "
            "in its help. Ctrl-C (or SIGTERM) lets requests finish and stops."
        ),
    )
    add = plc.add_argument
    add("--host", help=f"address to listen on (default {DEFAULT_HOST}; use 0.0.0.0 to serve "
        f"other hosts; {_env('host')})")  # fmt: skip
    add("--port", type=int, help=f"port (default {DEFAULT_PORT}; 0: any; {_env('port')})")
    add(
        "--data-dir",
        type=Path,
        help=f"directory of the LMDB data, created if missing (default {DEFAULT_DATA_DIR}; "
        f"{_env('data_dir')}); kept private: mode 0700, files 0600 (looser modes are "
        "tightened at start, with a warning)",
    )
    add(
        "--rate-limits",
        action="store_const",
        const=True,
        help="refuse a DID's 11th operation in an hour (31st in a day, 101st in a week), as "
        "plc.directory does; recovery operations are exempt (default off; "
        f"{_env('rate_limits')}=true)",
    )
    add_connection_options(
        plc,
        ENV_PREFIX,
        per_ip_note=", for a directory behind a reverse proxy (every connection then comes "
        "from the proxy's address)",
    )
    add_log_options(plc)
    plc.set_defaults(handler=cmd_plc)


def add_did_create_command(commands: Any) -> None:
    """``create`` under a ``strato did`` subparsers object."""
    create = commands.add_parser(
        "create",
        help="create a did:plc on a PLC directory",
        description=(
            "Create a did:plc whose atproto signing key, handle and PDS are the given ones, "
            "controlled by one rotation key, and print the DID on stdout. A key file that "
            "exists is read (PEM); one that does not is generated and written there (mode "
            "0600, missing directories 0700). Keys not named are generated and written to "
            "--key-dir as <DID>.rotation.pem and <DID>.signing.pem. Where each key went is "
            "printed on stderr. Keys are written before the DID is submitted, so a created DID "
            "is never without its keys."
        ),
    )
    create.add_argument("--handle", required=True, help="the handle (alsoKnownAs at://HANDLE)")
    create.add_argument("--pds", required=True, metavar="URL", help="the PDS endpoint URL")
    create.add_argument(
        "--plc",
        default=DEFAULT_PLC_URL,
        metavar="URL",
        help=f"the PLC directory (default {DEFAULT_PLC_URL}, a local 'strato plc')",
    )
    create.add_argument("--rotation-key", metavar="FILE", help="the rotation key's PEM file")
    create.add_argument("--signing-key", metavar="FILE", help="the atproto signing key's PEM file")
    create.add_argument(
        "--key-dir",
        default=".",
        metavar="DIR",
        help="where generated keys not named go (made mode 0700 when missing; default .)",
    )
    create.set_defaults(handler=cmd_did_create)


def plc_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> PlcSettings:
    """The settings of ``strato plc``: the environment, then the options given."""
    overrides = {name: getattr(args, name) for name in _SETTINGS}
    return settings_from_env(os.environ if environ is None else environ, **overrides)


def cmd_plc(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    settings = plc_settings(args)
    configure_logging(args)
    app = create_app(settings)
    service = Service(
        "plc", app, settings.host, settings.port,
        limits=settings.connection_limits, metrics=app.state.metrics,
    )  # fmt: skip
    return serve_until_stopped([service])


def cmd_did_create(args: argparse.Namespace) -> int:
    """Make or load the keys, write the new ones, submit the genesis operation, print the DID."""
    handle = Handle(args.handle)
    handle.require_allowed_tld()
    rotation, rotation_new = _key(args.rotation_key)
    signing, signing_new = _key(args.signing_key)
    op, did = create_genesis(
        signing_key=signing.public_key.did_key(),
        rotation_keys=[rotation.public_key.did_key()],
        handle=handle,
        pds_endpoint=args.pds,
        signer=rotation,
    )
    key_dir = Path(args.key_dir)
    written = []
    for role, key, named, new in (
        ("rotation", rotation, args.rotation_key, rotation_new),
        ("signing", signing, args.signing_key, signing_new),
    ):
        if new:
            path = Path(named) if named else key_dir / f"{did}.{role}.pem"
            make_dir(path.parent)
            save_private_key(key, path)
            written.append(f"{role} key {key.public_key.did_key()}: new, written to {path}")
        else:
            written.append(f"{role} key {key.public_key.did_key()}: read from {named}")
    for line in written:
        sys.stderr.write(line + "\n")
    asyncio.run(_submit(args.plc, did, op))
    print(did)
    return 0


def _key(path: str | None) -> tuple[PrivateKey, bool]:
    """The key in ``path`` if that file exists, else a new k256 key (and True)."""
    if path is not None and Path(path).exists():
        return load_private_key(path), False
    return PrivateKey.generate("k256"), True


async def _submit(url: str, did: str, op: dict[str, Any]) -> None:
    async with PlcClient(url) as client:
        await client.submit(did, op)


__all__ = ["DEFAULT_PORT", "add_did_create_command", "add_plc_command", "plc_settings"]
