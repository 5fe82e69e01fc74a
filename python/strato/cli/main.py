"""The ``strato`` console script (also ``python -m strato``): the parser that registers every
command group's module, and running a command, turning bad input into one line
``strato: error: <message>`` on stderr with exit status 1 (usage errors exit 2, from argparse).

Commands::

    strato up                          a local network: PLC + PDS + relay (strato.cli.up)
    strato pds                         run a PDS (strato.cli.pds)
    strato account ...                 create and manage PDS accounts (strato.cli.account)
    strato relay                       run a relay (strato.cli.relay)
    strato firehose tail URL           print an event stream as JSON lines (strato.cli.firehose)
    strato plc                         run a did:plc directory (strato.cli.plc)
    strato did resolve DID|HANDLE      identity resolution (strato.cli.did)
    strato did create                  create a did:plc on a directory (strato.cli.plc)
    strato car inspect|verify FILE     CAR files (strato.cli.car)
    strato cbor decode|encode          DAG-CBOR <-> atproto JSON (strato.cli.cbor)
    strato repo verify|ls              repository exports (strato.cli.repo)
    strato key generate                signing keys (strato.cli.repo)
    strato backup DATA_DIR OUT         hot backup of a data directory (strato.cli.backup)
    strato lexicon validate NSID FILE  check JSON against a lexicon (strato.cli.lexicon)
    strato lexicon resolve|fetch NSID  published lexicons (strato.cli.lexicon)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from strato.cli.account import add_account_commands
from strato.cli.backup import add_backup_command
from strato.cli.car import add_car_commands
from strato.cli.cbor import add_cbor_commands
from strato.cli.console import CliError
from strato.cli.did import add_did_commands
from strato.cli.firehose import add_firehose_commands
from strato.cli.lexicon import add_lexicon_commands
from strato.cli.pds import add_pds_command
from strato.cli.plc import add_did_create_command, add_plc_command
from strato.cli.relay import add_relay_command
from strato.cli.repo import add_key_commands, add_repo_commands
from strato.cli.up import add_up_command
from strato.errors import AtprotoError

PROG = "strato"


# ---------------------------------------------------------------------------------------------
# Parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "An AT Protocol stack. Run a local network ('strato up'), a PDS and its "
            "accounts, a relay, a did:plc directory; tail an event stream. Inspect and verify "
            "CAR files and repository exports; convert DAG-CBOR to and from atproto JSON; "
            "make signing keys; resolve and create identities; validate data against "
            "lexicons and resolve published ones; back up data directories."
        ),
        epilog="Bad input prints one line 'strato: error: ...' on stderr and exits with 1.",
    )
    groups = parser.add_subparsers(
        dest="group",
        required=True,
        metavar="{up,pds,account,relay,firehose,plc,car,cbor,repo,key,backup,did,lexicon}",
    )
    add_up_command(groups)
    add_pds_command(groups)
    add_account_commands(groups)
    add_relay_command(groups)
    add_firehose_commands(groups)
    add_car_commands(groups)
    add_cbor_commands(groups)
    add_repo_commands(groups)
    add_key_commands(groups)
    add_backup_command(groups)
    add_plc_command(groups)
    add_did_create_command(add_did_commands(groups))
    add_lexicon_commands(groups)
    return parser


# ---------------------------------------------------------------------------------------------
# The entry point


def error_message(err: Exception) -> str:
    """The one-line message for an error caused by bad input."""
    if isinstance(err, json.JSONDecodeError):
        message = f"invalid JSON: {err}"
    elif isinstance(err, UnicodeDecodeError):
        message = f"input is not valid UTF-8: {err}"
    elif isinstance(err, OSError) and err.filename is not None:
        message = f"{err.filename}: {err.strerror or err}"
    else:
        message = str(err) or type(err).__name__
    return " ".join(message.split())


def report_error(err: Exception) -> int:
    sys.stderr.write(f"{PROG}: error: {error_message(err)}\n")
    sys.stderr.flush()
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (argparse exits 2 on usage errors)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except (AtprotoError, OSError, ValueError, CliError) as err:
        return report_error(_with_file(err, args))


def _with_file(err: Exception, args: argparse.Namespace) -> Exception:
    """Prefix decoding errors about a named file with the file's name."""
    path = getattr(args, "file", None)
    if path is not None and isinstance(err, AtprotoError):
        return CliError(f"{path}: {err}")
    return err


def _silence_stdout() -> None:
    """After the reader of stdout went away, point stdout at /dev/null so that the interpreter's
    final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
