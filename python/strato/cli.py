"""The ``strato`` command line: the ``car`` and ``cbor`` commands here, the other groups
registered from their ``cli_*`` modules.

This module owns the console script ``strato`` (also ``python -m strato``): the parser, the
``car`` and ``cbor`` commands (reading files and stdin, printing reports), and turning bad input
into one line ``strato: error: <message>`` on stderr with exit status 1 (usage errors exit 2,
from argparse). The work is done by the library (``strato.car``, ``strato.dagcbor``, ...).

Commands::

    strato car inspect FILE [--json]   roots, block count, sizes, codecs, hash check
    strato car verify FILE             "ok: N blocks, root bafy..."
    strato cbor decode [--multi]       DAG-CBOR on stdin -> atproto JSON on stdout
    strato cbor encode [--cid]         atproto JSON on stdin -> DAG-CBOR (or its CID) on stdout
    strato repo verify|ls              repository exports (see strato.cli_repo)
    strato key generate                signing keys
    strato backup DATA_DIR OUT         hot backup of a data directory (see strato.cli_storage)
    strato up                          a local network: PLC + PDS + relay (see strato.cli_up)
    strato pds                         run a PDS (see strato.cli_pds)
    strato relay                       run a relay (see strato.cli_relay)
    strato firehose tail URL           print an event stream as JSON lines (strato.cli_firehose)
    strato account ...                 create and manage PDS accounts (see strato.cli_account)
    strato plc                         run a did:plc directory (see strato.cli_plc)
    strato did resolve DID|HANDLE      identity resolution (see strato.cli_identity)
    strato did create                  create a did:plc on a directory (see strato.cli_plc)
    strato lexicon validate NSID FILE  check JSON against a lexicon (see strato.cli_lexicon)
    strato lexicon resolve|fetch NSID  published lexicons (see strato.cli_lexicon)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from strato import CID
from strato.car import CarReader
from strato.cli_account import add_account_commands
from strato.cli_firehose import add_firehose_commands
from strato.cli_identity import add_did_commands
from strato.cli_lexicon import add_lexicon_commands
from strato.cli_pds import add_pds_command
from strato.cli_plc import add_did_create_command, add_plc_command
from strato.cli_relay import add_relay_command
from strato.cli_repo import add_key_commands, add_repo_commands
from strato.cli_storage import add_backup_command
from strato.cli_up import add_up_command
from strato.dagcbor import decode, decode_multi, encode, from_json, to_json
from strato.errors import AtprotoError

PROG = "strato"
CODEC_NAMES = {0x71: "dag-cbor", 0x55: "raw", 0x70: "dag-pb"}


class CliError(Exception):
    """A problem with the user's input that is not a decoding error (for example a CAR whose
    blocks do not match their hashes). Its message is printed after ``strato: error:``."""


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
    _add_car_commands(groups)
    _add_cbor_commands(groups)
    add_repo_commands(groups)
    add_key_commands(groups)
    add_backup_command(groups)
    add_plc_command(groups)
    add_did_create_command(add_did_commands(groups))
    add_lexicon_commands(groups)
    return parser


def _add_car_commands(groups: Any) -> None:
    car = groups.add_parser(
        "car",
        help="inspect or verify a CAR v1 file",
        description="Read CAR v1 files (as used for atproto repositories), streaming them from "
        "disk so that files larger than memory work.",
    )
    commands = car.add_subparsers(dest="command", required=True, metavar="{inspect,verify}")
    inspect = commands.add_parser(
        "inspect",
        help="print a summary of a CAR file",
        description="Print a summary of a CAR file: its size, its roots, the number of blocks, "
        "the total, smallest and largest block data size, the number of blocks per codec, and "
        "the verification result: every block's data is hashed and checked against its CID. "
        "A block that does not match, or a file that is not a valid CAR, prints one error line "
        "with the byte offset of the bad block and exits with 1.",
    )
    inspect.add_argument("file", metavar="FILE", help="path of the CAR file")
    inspect.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one JSON object (keys: file, size, roots, blocks, "
        "total_block_bytes, min_block_size, max_block_size, codecs, verified)",
    )
    inspect.set_defaults(handler=cmd_car_inspect)
    verify = commands.add_parser(
        "verify",
        help="check a CAR file and every block hash",
        description="Read the whole CAR file, checking its structure and that every block's "
        "data hashes to its CID. Prints 'ok: N blocks, root <CID>' and exits with 0 if the "
        "file is valid; otherwise prints one error line naming the problem and its byte offset "
        "and exits with 1.",
    )
    verify.add_argument("file", metavar="FILE", help="path of the CAR file")
    verify.set_defaults(handler=cmd_car_verify)


def _add_cbor_commands(groups: Any) -> None:
    cbor = groups.add_parser(
        "cbor",
        help="convert DAG-CBOR to and from atproto JSON",
        description="Convert between strict DAG-CBOR and the atproto JSON form, in which bytes "
        'are {"$bytes": "<base64>"} and CID links are {"$link": "<CID>"}.',
    )
    commands = cbor.add_subparsers(dest="command", required=True, metavar="{decode,encode}")
    dec = commands.add_parser(
        "decode",
        help="DAG-CBOR on stdin -> atproto JSON on stdout",
        description="Read DAG-CBOR bytes from stdin and print the value as atproto JSON. The "
        "input must be exactly one canonical value (or, with --multi, a sequence of them).",
    )
    dec.add_argument(
        "--multi",
        action="store_true",
        help="accept several concatenated values (such as a firehose frame: header then body) "
        "and print them as one JSON array",
    )
    dec.set_defaults(handler=cmd_cbor_decode)
    enc = commands.add_parser(
        "encode",
        help="atproto JSON on stdin -> DAG-CBOR on stdout",
        description="Read one atproto JSON object from stdin (UTF-8) and write its canonical "
        "DAG-CBOR encoding to stdout as raw bytes.",
    )
    enc.add_argument(
        "--cid",
        action="store_true",
        help="print the CID (CIDv1, dag-cbor, sha2-256, base32) of the encoded bytes instead of "
        "the bytes themselves",
    )
    enc.set_defaults(handler=cmd_cbor_encode)


# ---------------------------------------------------------------------------------------------
# car inspect / car verify


@dataclass
class CarSummary:
    """What ``car inspect`` reports, gathered block by block."""

    file: str
    size: int
    roots: list[str]
    blocks: int = 0
    total_block_bytes: int = 0
    min_block_size: int | None = None
    max_block_size: int | None = None
    codecs: Counter[str] = field(default_factory=Counter)

    def add(self, cid: CID, data: bytes) -> None:
        """Account for one block."""
        size = len(data)
        self.blocks += 1
        self.total_block_bytes += size
        if self.min_block_size is None or size < self.min_block_size:
            self.min_block_size = size
        if self.max_block_size is None or size > self.max_block_size:
            self.max_block_size = size
        self.codecs[codec_name(cid.codec)] += 1

    def as_json(self) -> dict[str, Any]:
        """The summary as a JSON-ready dict."""
        return {
            "file": self.file,
            "size": self.size,
            "roots": self.roots,
            "blocks": self.blocks,
            "total_block_bytes": self.total_block_bytes,
            "min_block_size": self.min_block_size,
            "max_block_size": self.max_block_size,
            "codecs": dict(sorted(self.codecs.items())),
            "verified": True,
        }

    def as_text(self) -> str:
        """The summary as human-readable lines."""
        lines = [f"file: {self.file}", f"size: {self.size} bytes", f"roots: {len(self.roots)}"]
        lines += [f"  {root}" for root in self.roots]
        lines.append(f"blocks: {self.blocks}")
        lines.append(
            f"block bytes: total {self.total_block_bytes}, "
            f"min {_or_dash(self.min_block_size)}, max {_or_dash(self.max_block_size)}"
        )
        codecs = ", ".join(f"{name} {n}" for name, n in sorted(self.codecs.items()))
        lines.append(f"codecs: {codecs or '-'}")
        lines.append(f"verification: ok (all {self.blocks} block hashes match)")
        return "\n".join(lines)


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def codec_name(code: int) -> str:
    """The multicodec name of a codec code, or its hex code when unknown."""
    return CODEC_NAMES.get(code, f"0x{code:x}")


def summarize_car(path: str) -> CarSummary:
    """Stream through the CAR at ``path``, gathering a summary; the reader checks every block's
    hash (in the Rust core) and raises ``CARError`` at the first bad one."""
    size = os.stat(path).st_size
    with CarReader(path, verify=True) as reader:
        summary = CarSummary(file=path, size=size, roots=[str(root) for root in reader.roots])
        for cid, data in reader:
            summary.add(cid, data)
    return summary


def cmd_car_inspect(args: argparse.Namespace) -> int:
    summary = summarize_car(args.file)
    if args.json:
        write_text(json.dumps(summary.as_json(), indent=2) + "\n")
    else:
        write_text(summary.as_text() + "\n")
    return 0


def cmd_car_verify(args: argparse.Namespace) -> int:
    with CarReader(args.file, verify=True) as reader:
        roots = [str(root) for root in reader.roots]
        count = sum(1 for _ in reader)
    write_text(f"ok: {count} blocks, {_roots_phrase(roots)}\n")
    return 0


def _roots_phrase(roots: list[str]) -> str:
    if not roots:
        return "no root"
    if len(roots) == 1:
        return f"root {roots[0]}"
    return "roots " + ", ".join(roots)


# ---------------------------------------------------------------------------------------------
# cbor decode / cbor encode


def cmd_cbor_decode(args: argparse.Namespace) -> int:
    data = read_stdin()
    value = [to_json(item) for item in decode_multi(data)] if args.multi else to_json(decode(data))
    write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    return 0


def cmd_cbor_encode(args: argparse.Namespace) -> int:
    text = read_stdin().decode("utf-8")
    value = from_json(json.loads(text, object_pairs_hook=_no_duplicate_keys))
    data = encode(value)
    if args.cid:
        write_text(f"{CID.compute(data, 'dag-cbor')}\n")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise CliError(f"invalid JSON: duplicate key {key!r}")
        obj[key] = value
    return obj


# ---------------------------------------------------------------------------------------------
# I/O and the entry point


def read_stdin() -> bytes:
    """All of stdin, as bytes."""
    return sys.stdin.buffer.read()


def write_text(text: str) -> None:
    """Write ``text`` to stdout as UTF-8, whatever the locale's encoding."""
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


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
