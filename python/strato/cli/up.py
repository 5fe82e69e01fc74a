"""The ``strato up`` command: a whole local network in one process (a PLC directory, a PDS and a
relay crawling it). Registered on the main parser by :mod:`strato.cli.main`, which prints errors.

Command::

    strato up [--data-dir ./strato-data] [--lexicon-dir DIR]... [--plc-port 2582]
              [--pds-port 2583] [--relay-port 2584] [--header-timeout S]
              [--keepalive-timeout S] [--max-connections N] [--max-connections-per-ip N]

The relay runs with ``--local-network``, trusts the PDS (``--trusted-domain``: the rate limits of
a trusted host, no account limit, so a busy PDS is never throttled) and subscribes to it from
its first start (so it sees every event, the first account's included); the PDS also announces
itself to the relay with ``requestCrawl`` (``--relay``), as a PDS on the internet would. Both
reach only loopback (their network policy's ``--local-network``): everything runs on
127.0.0.1. The PDS's firehose is served from its own process by the Rust frame writer
(:func:`strato.pds.service.pds_service`); the relay's by its default fan-out worker process
(:func:`strato.relay.service.relay_service`), the one process besides this one. Admin
tokens are generated (mode 0600) at ``DATA_DIR/pds/admin-token`` and
``DATA_DIR/relay/admin-token``; the welcome, on stdout and never in the logs, gives the relay's
admin page as a URL that signs in (``/admin/#token=...``) when stdout is a terminal, else the
plain URL and the token file. ``DATA_DIR`` is private: made mode
0700, and at each start anything under it open to other users is tightened, with one warning.
The connection options (also ``STRATO_UP_<OPTION>``) hold each of the three servers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from strato.cli.pds import ADMIN_TOKEN_NAME, ensure_admin_token, require_master_key
from strato.cli.plc import DEFAULT_PORT as PLC_PORT
from strato.cli.serving import (
    add_connection_options,
    add_log_options,
    configure_logging,
    connection_limits,
    serve_until_stopped,
)
from strato.pds.app import create_app as create_pds_app
from strato.pds.service import pds_service
from strato.pds.settings import DEFAULT_PORT as PDS_PORT
from strato.pds.settings import PdsSettings
from strato.plc.app import create_app as create_plc_app
from strato.plc.settings import PlcSettings
from strato.relay.app import create_app as create_relay_app
from strato.relay.service import relay_service
from strato.relay.settings import DEFAULT_PORT as RELAY_PORT
from strato.relay.settings import RelaySettings
from strato.service.limits import ConnectionLimits
from strato.service.serving import Running, Service
from strato.storage.private import make_dir, tighten
from strato.xrpc.auth import read_admin_token

DEFAULT_UP_DIR: Final = "./strato-data"
#: The handle domain of ``strato up``'s accounts (a TLD reserved for testing, RFC 2606).
UP_HANDLE_DOMAIN: Final = ".test"
#: The connection options may also come from ``STRATO_UP_<OPTION>`` variables.
ENV_PREFIX: Final = "STRATO_UP_"


def add_up_command(groups: Any) -> None:
    """``strato up``: the local network."""
    up = groups.add_parser(
        "up",
        help="run a local network: PLC directory, PDS and relay, no configuration",
        description=(
            "Start a complete AT Protocol network on this machine in one process, listening "
            f"on 127.0.0.1 only: a PLC directory on http://localhost:{PLC_PORT}, a PDS on "
            f"http://localhost:{PDS_PORT} (did:web:localhost%3A{PDS_PORT}) and a relay on "
            f"http://localhost:{RELAY_PORT} that crawls the PDS, verifies its commits and "
            f"serves them at ws://localhost:{RELAY_PORT}/xrpc/com.atproto.sync.subscribeRepos "
            "(try 'strato firehose tail') from one fan-out worker process, as 'strato relay' "
            "does by default. The relay runs with --local-network (loopback hosts allowed, no "
            "other private address) and trusts the PDS (a trusted host's rate limits, no "
            "account limit); the PDS announces itself to it with requestCrawl. Handles are "
            "NAME.test, resolved by the PDS itself. Data goes to DATA_DIR/plc, DATA_DIR/pds and "
            f"DATA_DIR/relay; admin tokens are generated at DATA_DIR/pds/{ADMIN_TOKEN_NAME} and "
            f"DATA_DIR/relay/{ADMIN_TOKEN_NAME} on the first start; on a terminal the welcome "
            "printed on stdout (never logged) opens the relay's admin page signed in "
            "(/admin/#token=...), elsewhere (a service's stdout, which reaches its log "
            "collector) it names the token file instead. The connection options hold "
            "each of the three servers (and the relay's worker), and may also be given as the "
            "environment variables named in their help. Ctrl-C (or SIGTERM) stops everything "
            "cleanly."
        ),
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        default=Path(DEFAULT_UP_DIR),
        help=f"directory of every service's data, created if missing (default "
        f"{DEFAULT_UP_DIR}); kept private: mode 0700, files 0600 (looser modes are tightened "
        "at start, with a warning)",
    )
    up.add_argument(
        "--lexicon-dir",
        metavar="DIR",
        type=Path,
        action="append",
        dest="lexicon_dirs",
        default=[],
        help="a directory of lexicon JSON files the PDS validates records against (repeatable)",
    )
    up.add_argument(
        "--plc-port",
        type=int,
        default=PLC_PORT,
        help=f"the PLC directory's port (default {PLC_PORT}); other ports let a second "
        "network (a test's) run beside the usual one",
    )
    up.add_argument(
        "--pds-port",
        type=int,
        default=PDS_PORT,
        help=f"the PDS's port (default {PDS_PORT}); its URL and did:web follow it",
    )
    up.add_argument(
        "--relay-port",
        type=int,
        default=RELAY_PORT,
        help=f"the relay's port (default {RELAY_PORT})",
    )
    add_connection_options(up, ENV_PREFIX)
    add_log_options(up)
    up.set_defaults(handler=cmd_up)


@dataclass(frozen=True)
class Network:
    """The services of ``strato up`` and the settings its banner shows."""

    services: list[Service]
    pds: PdsSettings
    relay: RelaySettings


def up_services(
    data_dir: Path,
    lexicon_dirs: tuple[Path, ...],
    plc_port: int,
    pds_port: int,
    relay_port: int = RELAY_PORT,
    *,
    limits: ConnectionLimits | None = None,
) -> Network:
    """The PLC directory, the PDS and the relay of ``strato up``, each held to ``limits``."""
    limits = limits if limits is not None else ConnectionLimits()
    ports = (plc_port, pds_port, relay_port)
    for port in ports:
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not between 1 and 65535")
    if len(set(ports)) < len(ports):
        raise ValueError("the PLC directory, the PDS and the relay need three different ports")
    tighten(make_dir(data_dir))  # the root too, which no service opens itself
    plc_url = f"http://localhost:{plc_port}"
    relay_url = f"http://localhost:{relay_port}"
    pds = PdsSettings(
        host="127.0.0.1",
        port=pds_port,
        data_dir=data_dir / "pds",
        public_url=f"http://localhost:{pds_port}",
        plc_url=plc_url,
        handle_domains=(UP_HANDLE_DOMAIN,),
        relays=(relay_url,),
        lexicon_dirs=lexicon_dirs,
        admin_token_file=ensure_admin_token(data_dir / "pds" / ADMIN_TOKEN_NAME),
        local_network=True,
        **asdict(limits),
    )
    relay = RelaySettings(
        host="127.0.0.1",
        port=relay_port,
        data_dir=data_dir / "relay",
        public_url=relay_url,
        plc_url=plc_url,
        local_network=True,
        crawl=(pds.hostname,),
        trusted_domains=(pds.hostname,),
        admin_token_file=ensure_admin_token(data_dir / "relay" / ADMIN_TOKEN_NAME),
        **asdict(limits),
    )
    require_master_key(pds)
    plc = create_plc_app(PlcSettings(data_dir=data_dir / "plc"))
    pds_app = create_pds_app(pds)
    services = [
        Service("plc", plc, "127.0.0.1", plc_port, limits=limits, metrics=plc.state.metrics),
        pds_service(pds, pds_app),
        relay_service(relay, create_relay_app(relay)),
    ]
    return Network(services, pds, relay)


def cmd_up(args: argparse.Namespace) -> int:
    """Serve the local network until interrupted."""
    configure_logging(args)
    network = up_services(
        args.data_dir,
        tuple(args.lexicon_dirs),
        args.plc_port,
        args.pds_port,
        args.relay_port,
        limits=connection_limits(args, ENV_PREFIX),
    )
    return serve_until_stopped(network.services, _welcome(network))


def _welcome(network: Network) -> Callable[[list[Running]], None]:
    def print_welcome(running: list[Running]) -> None:
        pds, relay = network.pds, network.relay
        firehose = relay.public_url.replace("http://", "ws://", 1)
        lines = [
            "strato is up:",
            f"  PLC directory  {pds.plc_url}",
            f"  PDS            {pds.public_url}  ({pds.service_did})",
            f"  relay          {relay.public_url}  (crawling {pds.hostname})",
            f"  firehose       {firehose}/xrpc/com.atproto.sync.subscribeRepos",
            f"  data           {Path(pds.data_dir).parent}",
            f"  admin token    {pds.admin_token_file} (PDS; user 'admin', HTTP basic auth)",
            f"  admin token    {relay.admin_token_file} (relay)",
            f"  relay admin    {_relay_admin_url(relay)}",
            "Create an account:",
            f"  strato account create --pds {pds.public_url} --handle alice{UP_HANDLE_DOMAIN} "
            "--password 'choose one'",
            f"Watch the relay: strato firehose tail {relay.public_url}",
            "Log in from any atproto client at the PDS URL. Ctrl-C stops everything.",
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()

    return print_welcome


def _relay_admin_url(relay: RelaySettings) -> str:
    """The relay's admin page: on a terminal, a URL that signs in (the page reads the token
    from the fragment, which browsers never send to the server); elsewhere stdout goes where
    the logs go (systemd's journal, docker's log driver), which is no place for the token, so
    the plain URL and where the token is."""
    url = f"{relay.public_url}/admin/"
    token = read_admin_token(relay.admin_token_file)
    if token is None or not sys.stdout.isatty():
        return f"{url}  (sign in with the token in {relay.admin_token_file})"
    # Encoded: the page's URLSearchParams reads a raw "+" as a space and stops at "&".
    return f"{url}#token={quote(token, safe='')}"


__all__ = ["add_up_command", "up_services"]
