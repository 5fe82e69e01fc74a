"""What the commands that run servers (``strato plc``, and the PDS and ``strato up`` after it)
share: the logging options and running the services until Ctrl-C."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from strato import logs
from strato.serve import Running, Service, run


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


def serve_until_stopped(
    services: Sequence[Service], on_ready: Callable[[list[Running]], None] | None = None
) -> int:
    """Serve until SIGINT or SIGTERM."""
    run(services, on_ready)
    return 0
