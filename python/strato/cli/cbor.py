"""``strato cbor decode`` and ``strato cbor encode``: strict DAG-CBOR to and from the atproto
JSON form, on stdin and stdout (the codec is ``strato.dagcbor``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from strato import CID
from strato.cli.console import CliError, read_stdin, write_text
from strato.dagcbor import decode, decode_multi, encode, from_json, to_json


def add_cbor_commands(groups: Any) -> None:
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
