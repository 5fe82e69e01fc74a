"""What the commands that run servers (``strato plc``, ``pds``, ``relay`` and ``up``) share: the
logging options, the connection-limit options, size arguments, and running the services until
Ctrl-C."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence

from strato.service import logs
from strato.service.limits import (
    CONNECTION_SETTINGS,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS_PER_IP,
    ConnectionLimits,
    limits_from_env,
)
from strato.service.serving import Running, Service, run
from strato.service.settings import parse_size


def size_argument(text: str) -> int:
    """An argparse ``type`` for a size option (:func:`strato.service.settings.parse_size`)."""
    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """``--log-format`` and ``--log-level``."""
    parser.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default="text",
        help="text lines for a terminal, or one JSON object per line for a log collector "
        "(default text)",
    )
    parser.add_argument(
        "--log-level", choices=logs.LEVELS, default="info", help="least severe level logged"
    )


def configure_logging(args: argparse.Namespace) -> None:
    """Configure logging from the options. A server command does this first, before it opens
    its data directories, so that what opening them logs (modes tightened) is in the
    service's log format."""
    logs.configure(args.log_format, args.log_level)


def add_connection_options(
    parser: argparse.ArgumentParser, env_prefix: str, *, per_ip_note: str = ""
) -> None:
    """``--header-timeout``, ``--keepalive-timeout``, ``--max-connections`` and
    ``--max-connections-per-ip`` (also ``<env_prefix><SETTING>``); ``per_ip_note`` ends the
    per-IP option's help (such as what happens behind a reverse proxy)."""

    def env(name: str) -> str:
        return f"env {env_prefix}{name.upper()}"

    add = parser.add_argument
    add(
        "--header-timeout",
        metavar="SECONDS",
        type=float,
        help="close a connection whose request head is not complete within SECONDS of its "
        "accept, or of its first byte after a response when kept alive; a head trickled in "
        f"gets no more time (default {DEFAULT_HEADER_TIMEOUT:g}; {env('header_timeout')})",
    )
    add(
        "--keepalive-timeout",
        metavar="SECONDS",
        type=float,
        help="close a kept-alive connection idle for SECONDS after a response, or one that "
        "sends nothing for SECONDS while its request body is awaited (default "
        f"{DEFAULT_KEEPALIVE_TIMEOUT:g}; {env('keepalive_timeout')})",
    )
    add(
        "--max-connections",
        metavar="N",
        type=int,
        help="the most connections the server holds at once, WebSockets included; another is "
        "answered 503 and closed (default: half the open-file limit, computed at start after "
        "raising its soft limit to the hard one, shared by the servers of the process; "
        f"{env('max_connections')})",
    )
    add(
        "--max-connections-per-ip",
        metavar="N",
        type=int,
        help="the most connections from one client address; another is answered 503 and "
        f"closed; 0: no cap{per_ip_note} (default {DEFAULT_MAX_CONNECTIONS_PER_IP}; "
        f"{env('max_connections_per_ip')})",
    )


def connection_limits(
    args: argparse.Namespace, env_prefix: str, environ: Mapping[str, str] | None = None
) -> ConnectionLimits:
    """The limits from the ``<env_prefix>*`` variables, then the options given."""
    given = {name: getattr(args, name) for name in CONNECTION_SETTINGS}
    return limits_from_env(env_prefix, os.environ if environ is None else environ, **given)


def serve_until_stopped(
    services: Sequence[Service], on_ready: Callable[[list[Running]], None] | None = None
) -> int:
    """Serve until SIGINT or SIGTERM."""
    run(services, on_ready)
    return 0
