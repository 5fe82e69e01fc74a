"""The ``strato lexicon`` commands: check data against lexicons from the command line.
Registered on the main parser by :mod:`strato.cli`, which prints errors.

Command::

    strato lexicon validate NSID FILE.json --lexicon-dir DIR [--lexicon-dir DIR ...]
                            [--rkey KEY] [--part params|input|output]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from strato.errors import LexiconValidationError
from strato.lexicon import Catalog
from strato.lexicon.codegen import normalize_ref

PARTS = ("params", "input", "output")


def add_lexicon_commands(groups: Any) -> None:
    """``strato lexicon validate``."""
    lexicon = groups.add_parser(
        "lexicon",
        help="check records and XRPC bodies against lexicons",
        description="Work with lexicons (atproto schema documents) from --lexicon-dir "
        "directories: every *.json file under them is loaded and checked first.",
    )
    commands = lexicon.add_subparsers(dest="command", required=True, metavar="{validate}")
    validate = commands.add_parser(
        "validate",
        help="check a JSON file against a lexicon",
        description="Check the atproto JSON in FILE against the lexicon NSID. For a record "
        "lexicon the file is a record (its $type must be NSID; with --rkey the record key is "
        "checked against the lexicon's key type too). For a query the file is its output body, "
        "for a procedure its input body, unless --part says otherwise ('params' takes an "
        "object of query parameters, as strings or typed). NSID#name checks the file against "
        "any named def. Prints 'valid: ...' and exits with 0, or prints the JSON path of the "
        "first failing field and the reason and exits with 1.",
    )
    validate.add_argument("nsid", metavar="NSID", help="the lexicon (or NSID#def) to check against")
    validate.add_argument("file", metavar="FILE", help="the JSON file to check")
    validate.add_argument(
        "--lexicon-dir",
        metavar="DIR",
        action="append",
        required=True,
        help="a directory (or file) of lexicon documents; repeat for more",
    )
    validate.add_argument("--rkey", help="the record key, checked against the record's key type")
    validate.add_argument(
        "--part", choices=PARTS, help="which part of an XRPC method the file is (see above)"
    )
    validate.set_defaults(handler=cmd_lexicon_validate)


def cmd_lexicon_validate(args: argparse.Namespace) -> int:
    """Load the lexicon dirs, then check FILE against NSID."""
    try:
        catalog = Catalog.load(args.lexicon_dir)
    except LexiconValidationError as err:  # about a lexicon file, not FILE: no FILE prefix
        raise ValueError(f"bad lexicon: {err.reason} at {err.path}") from None
    with open(args.file, "rb") as f:
        data = json.loads(f.read())
    target = normalize_ref(args.nsid, "")
    nsid, _, name = target.partition("#")
    doc = catalog.get(nsid)
    definition = doc.defs.get(name or "main") if doc is not None else None
    if definition is None:
        raise LexiconValidationError(f"no lexicon for {args.nsid} in the lexicon dirs")
    kind = definition["type"]
    if kind == "record" and not name:
        what = _record(catalog, nsid, args.rkey, data)
    elif kind in ("query", "procedure"):
        part = args.part or ("output" if kind == "query" else "input")
        _method(catalog, nsid, part, data)
        what = f"{kind} {part}"
    else:
        catalog.validate(target, data)
        what = kind
    print(f"valid: {args.file} is a valid {what} of {args.nsid}")
    return 0


def _record(catalog: Catalog, nsid: str, rkey: str | None, data: Any) -> str:
    if rkey is not None:
        catalog.validate_record(nsid, rkey, data)
        return f"record (key {rkey})"
    if type(data) is not dict or data.get("$type") != nsid:
        raise LexiconValidationError(f"a record of {nsid} needs $type {nsid!r}", "$.$type")
    catalog.validate(nsid, data)
    return "record"


def _method(catalog: Catalog, nsid: str, part: str, data: Any) -> None:
    if part == "params":
        if type(data) is not dict:
            raise LexiconValidationError("parameters must be a JSON object", "params")
        catalog.validate_params(nsid, data)
    elif part == "input":
        catalog.validate_input(nsid, data)
    else:
        catalog.validate_output(nsid, data)
