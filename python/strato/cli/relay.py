"""The ``strato relay`` command: run a relay. Registered on the main parser by
:mod:`strato.cli.main`, which prints errors.

Command::

    strato relay [--host 127.0.0.1] [--port 2584] [--data-dir ./strato-data/relay]
                 [--plc-url URL] [--public-url URL] [--local-network]
                 [--allow-network CIDR]... [--trusted-domain DOMAIN]... [--lenient]
                 [--policy-file FILE] [--crawl HOST]... [--admin-token-file FILE]
                 [--retention-hours H] [--retention-size SIZE] [--account-limit N]
                 [--new-hosts-per-day N] [--no-crawl-requests] [--workers N]
                 [--consumer-buffer N] [--trust-proxy N] [--header-timeout S]
                 [--keepalive-timeout S] [--max-connections N] [--max-connections-per-ip N]

Every option may also come from the environment variable named in its help
(``STRATO_RELAY_<SETTING>``, read by :func:`strato.relay.settings.settings_from_env`); an option
on the command line wins over the variable.
"""

from __future__ import annotations

import argparse
import os
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
from strato.relay.app import create_app
from strato.relay.service import relay_service
from strato.relay.settings import (
    DEFAULT_ACCOUNT_LIMIT,
    DEFAULT_CONSUMER_BUFFER,
    DEFAULT_DATA_DIR,
    DEFAULT_NEW_HOSTS_PER_DAY,
    DEFAULT_PLC_URL,
    DEFAULT_PORT,
    DEFAULT_WORKERS,
    ENV_PREFIX,
    RelaySettings,
    load_policy,
    settings_from_env,
)
from strato.service.limits import CONNECTION_SETTINGS
from strato.sync import RELAXABLE
from strato.xrpc.auth import read_admin_token

DESCRIPTION: Final = (
    "Run an AT Protocol relay. It subscribes to the firehose (com.atproto.sync.subscribeRepos) "
    "of every PDS host it knows: hosts named with --crawl, hosts that ask with "
    "com.atproto.sync.requestCrawl, hosts an admin adds. Every #commit and #sync is verified "
    "(sync 1.1: signature against the account's DID document, rev order, since/prevData chain, "
    "MST inversion, size limits), strictly unless relaxed; a commit from a host that is not "
    "the account's PDS is dropped. What passes is written once, with the relay's own sequence "
    "numbers, to a durable log in LMDB under --data-dir (replayable from a cursor for "
    "--retention-hours, at most --retention-size), and served to any number of consumers at "
    "/xrpc/com.atproto.sync.subscribeRepos by the Rust frame writer, in --workers fan-out "
    "processes (0: in the main process). It also serves listHosts, getHostStatus, listRepos, "
    "getRepoStatus, getLatestCommit, listReposByCollection and getRepo (a redirect "
    "to the account's PDS), /xrpc/_health and Prometheus metrics at /metrics. Each upstream "
    "cursor is stored with the events it passed, so a restart (even after kill -9) resumes "
    "every host where the log ends. The connection limits hold each process on its own: a "
    "fan-out worker the connections it accepts, the main process the others. Every "
    "option may also be given as the environment variable named in its help. Ctrl-C (or "
    "SIGTERM) stops cleanly."
)


def _env(setting: str) -> str:
    return f"env {ENV_PREFIX}{setting.upper()}"


def add_relay_command(groups: Any) -> None:
    """``strato relay``: serve a relay."""
    relay = groups.add_parser(
        "relay",
        help="run a relay: crawl PDS hosts, verify every commit, serve one firehose",
        description=DESCRIPTION,
    )
    add = relay.add_argument
    add("--host", help=f"address to listen on (default 127.0.0.1; {_env('host')})")
    add("--port", type=int, help=f"port (default {DEFAULT_PORT}; 0: any; {_env('port')})")
    add(
        "--data-dir",
        type=Path,
        help=f"directory of the data (the log, hosts, accounts), created if missing "
        f"(default {DEFAULT_DATA_DIR}; {_env('data_dir')}); kept private: mode 0700, files "
        "0600 (looser modes are tightened at start, with a warning)",
    )
    add(
        "--plc-url",
        metavar="URL",
        help=f"the PLC directory did:plc identities are resolved at (default {DEFAULT_PLC_URL}; "
        f"{_env('plc_url')})",
    )
    add(
        "--public-url",
        metavar="URL",
        help="the URL consumers reach this relay at, without a path (default "
        f"http://localhost:PORT; {_env('public_url')})",
    )
    add(
        "--local-network",
        action="store_const",
        const=True,
        help="allow upstream hosts on loopback addresses, reached over plain http:// and "
        "ws:// on any port, with a port in requestCrawl hostnames (localhost:2583); private, "
        "link-local and other non-public addresses stay refused unless --allow-network names "
        "them; for a network on one machine, never on the internet (default off; "
        f"{_env('local_network')}=true)",
    )
    add(
        "--allow-network",
        metavar="CIDR",
        action="append",
        help="also allow upstream hosts (and DID documents, handles) whose addresses are in "
        "this network, private or not, such as 10.0.0.0/8 or fd00::/8; without "
        "--local-network it widens the addresses only (https/wss on 443 stay the rule); "
        f"repeat for several (default none; {_env('allow_network')}, comma-separated)",
    )
    add(
        "--trusted-domain",
        metavar="DOMAIN",
        action="append",
        dest="trusted_domains",
        help="trust hosts under this domain (5,000 events a second, no account limit) when "
        "they are added and at every start: pds.example.com (any port), localhost:2583 "
        "(that port only) or *.example.com (every name under it); repeat for several "
        f"(default none; {_env('trusted_domains')}, comma-separated)",
    )
    add(
        "--lenient",
        action="store_const",
        const=True,
        help="make every relaxable sync 1.1 check lenient (a failure is counted as a warning "
        "and the event passes); a bad signature or hash is always dropped (default strict; "
        f"{_env('lenient')}=true)",
    )
    add(
        "--policy-file",
        metavar="FILE",
        type=Path,
        help="JSON object setting single checks, true (strict) or false (lenient), over "
        '--lenient, such as {"rev_in_future": false}; checks: '
        + ", ".join(sorted(RELAXABLE))
        + f" ({_env('policy_file')})",
    )
    add(
        "--crawl",
        metavar="HOST",
        action="append",
        help="a PDS host to subscribe to at start, such as pds.example.com (localhost:2583 "
        f"with --local-network); repeat for several ({_env('crawl')}, comma-separated)",
    )
    add(
        "--admin-token-file",
        metavar="FILE",
        type=Path,
        help="file holding the admin password (16 characters or more) for the admin API "
        "(HTTP basic auth as 'admin', or a bearer token); without one there is no admin "
        f"access ({_env('admin_token_file')})",
    )
    add(
        "--retention-hours",
        metavar="HOURS",
        type=float,
        help="how long events stay replayable from a cursor (default 72; "
        f"{_env('event_retention_hours')})",
    )
    add(
        "--retention-size",
        metavar="SIZE",
        type=size_argument,
        help="the most log kept, in bytes or with a unit (500MB, 20GB; powers of 1024), "
        f"oldest events pruned first (default 20GB; {_env('event_retention_bytes')})",
    )
    add(
        "--account-limit",
        metavar="N",
        type=int,
        help="accounts a new host may have before the next ones are throttled (admins raise "
        f"it per host; default {DEFAULT_ACCOUNT_LIMIT}; {_env('default_account_limit')})",
    )
    add(
        "--new-hosts-per-day",
        metavar="N",
        type=int,
        help="hosts public requestCrawl may add in 24 hours (default "
        f"{DEFAULT_NEW_HOSTS_PER_DAY}; {_env('new_hosts_per_day')})",
    )
    add(
        "--no-crawl-requests",
        action="store_const",
        const=False,
        dest="crawl_enabled",
        help="refuse public requestCrawl (hosts come from --crawl and the admin API only; "
        f"{_env('crawl_enabled')}=false)",
    )
    add(
        "--workers",
        metavar="N",
        type=int,
        help="fan-out worker processes serving subscribeRepos: with N >= 1 the workers accept "
        "every connection on the relay's port (SO_REUSEPORT), stream the firehose to "
        "subscribers with the Rust frame writer, off the ingest process's core, and hand "
        "every other request to the main process; 0: the same fan-out runs in the main "
        "process, which takes the firehose connections from its HTTP server. More workers "
        "help on machines with cores to spare; on 2 cores one worker was measured as fast as "
        "two (default "
        f"{DEFAULT_WORKERS}; {_env('workers')})",
    )
    add(
        "--consumer-buffer",
        metavar="N",
        type=int,
        help="events a subscriber may lag behind before it is cut with ConsumerTooSlow; the "
        "fan-out serves one that falls behind from the log, not from memory (default "
        f"{DEFAULT_CONSUMER_BUFFER:,}; "
        f"{_env('consumer_buffer')})",
    )
    add(
        "--trust-proxy",
        metavar="N",
        type=int,
        help="the number of reverse proxies in front of this relay whose X-Forwarded-For "
        f"entries are trusted for per-IP limits (default 0; {_env('trust_proxy')})",
    )
    add_connection_options(
        relay,
        ENV_PREFIX,
        per_ip_note="; none behind --trust-proxy",
    )
    add_log_options(relay)
    relay.set_defaults(handler=cmd_relay)


#: The ``strato relay`` options that are settings: destination -> settings field.
_SETTINGS: Final = {
    "host": "host",
    "port": "port",
    "data_dir": "data_dir",
    "plc_url": "plc_url",
    "public_url": "public_url",
    "local_network": "local_network",
    "allow_network": "allow_network",
    "trusted_domains": "trusted_domains",
    "lenient": "lenient",
    "crawl": "crawl",
    "admin_token_file": "admin_token_file",
    "retention_hours": "event_retention_hours",
    "retention_size": "event_retention_bytes",
    "account_limit": "default_account_limit",
    "new_hosts_per_day": "new_hosts_per_day",
    "crawl_enabled": "crawl_enabled",
    "workers": "workers",
    "consumer_buffer": "consumer_buffer",
    "trust_proxy": "trust_proxy",
    **{name: name for name in CONNECTION_SETTINGS},
}


def relay_settings(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> RelaySettings:
    """The settings of ``strato relay``: the environment, then the options given."""
    overrides: dict[str, Any] = {}
    for option, name in _SETTINGS.items():
        value = getattr(args, option)
        overrides[name] = tuple(value) if isinstance(value, list) else value
    if args.policy_file is not None:
        overrides["policy"] = load_policy(args.policy_file)
    return settings_from_env(os.environ if environ is None else environ, **overrides)


def cmd_relay(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    settings = relay_settings(args)
    read_admin_token(settings.admin_token_file)  # refused before the data directory is made
    configure_logging(args)
    app = create_app(settings)
    return serve_until_stopped([relay_service(settings, app)])


__all__ = ["add_relay_command", "relay_settings"]
