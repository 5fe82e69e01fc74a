"""The ``strato lexicon`` commands: check data against lexicons, and resolve published ones.
Registered on the main parser by :mod:`strato.cli.main`, which prints errors.

Commands::

    strato lexicon validate NSID FILE.json [--lexicon-dir DIR ...] [--no-resolve]
                            [--rkey KEY] [--part params|input|output] [resolver options]
    strato lexicon resolve NSID [--json] [--cache-dir DIR] [resolver options]
    strato lexicon fetch NSID... --out DIR [--no-refs] [--cache-dir DIR] [resolver options]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from strato import dagcbor
from strato.cli.did import add_resolver_options, resolver_options
from strato.errors import IdentityError, LexiconValidationError
from strato.identity import IdentityCache, IdentityResolver
from strato.identity.lexicons import LexiconResolver, ResolvedLexicon
from strato.lexicon import Catalog
from strato.lexicon.codegen import normalize_ref

PARTS = ("params", "input", "output")


def add_lexicon_commands(groups: Any) -> None:
    """``strato lexicon validate|resolve|fetch``."""
    lexicon = groups.add_parser(
        "lexicon",
        help="check data against lexicons; resolve and fetch published lexicons",
        description="Work with lexicons (atproto schema documents): from --lexicon-dir "
        "directories (every *.json file under them is loaded and checked first) and as "
        "published by their authorities (lexicon resolution).",
    )
    commands = lexicon.add_subparsers(
        dest="command", required=True, metavar="{validate,resolve,fetch}"
    )
    validate = commands.add_parser(
        "validate",
        help="check a JSON file against a lexicon",
        description="Check the atproto JSON in FILE against the lexicon NSID. For a record "
        "lexicon the file is a record (its $type must be NSID; with --rkey the record key is "
        "checked against the lexicon's key type too). For a query the file is its output body, "
        "for a procedure its input body, unless --part says otherwise ('params' takes an "
        "object of query parameters, as strings or typed). NSID#name checks the file against "
        "any named def. The lexicon comes from the --lexicon-dir directories or, when they do "
        "not have it, is resolved from its publisher with the lexicons it references (see "
        "'strato lexicon resolve --help'; --no-resolve forbids that). Prints 'valid: ...' and "
        "exits with 0, or prints the JSON path of the first failing field and the reason and "
        "exits with 1.",
    )
    validate.add_argument("nsid", metavar="NSID", help="the lexicon (or NSID#def) to check against")
    validate.add_argument("file", metavar="FILE", help="the JSON file to check")
    validate.add_argument(
        "--lexicon-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="a directory (or file) of lexicon documents; repeat for more",
    )
    validate.add_argument("--rkey", help="the record key, checked against the record's key type")
    validate.add_argument(
        "--part", choices=PARTS, help="which part of an XRPC method the file is (see above)"
    )
    validate.add_argument(
        "--no-resolve",
        action="store_true",
        help="use only the --lexicon-dir documents, never the network",
    )
    _add_cache_option(validate)
    add_resolver_options(validate)
    validate.set_defaults(handler=cmd_lexicon_validate)
    _add_resolve_command(commands)
    _add_fetch_command(commands)


RESOLUTION = (
    "The lexicon of an NSID is published by the DID named in the DNS TXT record "
    "_lexicon.<authority in DNS order> (app.toy.record -> _lexicon.toy.app), as the "
    "com.atproto.lexicon.schema record keyed by the NSID in that DID's repository. The record "
    "is fetched with com.atproto.sync.getRecord and its commit signature and MST proof are "
    "checked against the DID's key, so a PDS cannot forge it."
)


def _add_resolve_command(commands: Any) -> None:
    resolve = commands.add_parser(
        "resolve",
        help="resolve a published lexicon and print where it comes from",
        description=f"{RESOLUTION} Prints the NSID, the authority DID, the record's AT-URI and "
        "CID and the defs; exits with 1 when no lexicon is published or it cannot be verified.",
    )
    resolve.add_argument("nsid", metavar="NSID", help="the lexicon to resolve")
    resolve.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: uri, cid and schema (the document), as "
        "com.atproto.lexicon.resolveLexicon answers, plus did",
    )
    _add_cache_option(resolve)
    add_resolver_options(resolve)
    resolve.set_defaults(handler=cmd_lexicon_resolve)


def _add_fetch_command(commands: Any) -> None:
    fetch = commands.add_parser(
        "fetch",
        help="resolve published lexicons into a directory for --lexicon-dir",
        description=f"{RESOLUTION} Writes each document to OUT/<nsid path>.json "
        "(app.toy.record -> OUT/app/toy/record.json), the layout --lexicon-dir reads, together "
        "with the lexicons they reference unless --no-refs is given. Prints a line per file; "
        "exits with 1 if a requested NSID could not be resolved (the others are still written).",
    )
    fetch.add_argument("nsids", metavar="NSID", nargs="+", help="the lexicons to fetch")
    fetch.add_argument("--out", metavar="DIR", required=True, help="where to write them")
    fetch.add_argument(
        "--no-refs", action="store_true", help="fetch only the named lexicons, not their refs"
    )
    _add_cache_option(fetch)
    add_resolver_options(fetch)
    fetch.set_defaults(handler=cmd_lexicon_fetch)


def _add_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="keep resolved identities and lexicons in an LMDB cache in DIR, reused by later "
        "runs (default: no cache)",
    )


@asynccontextmanager
async def _resolver(args: argparse.Namespace) -> AsyncIterator[LexiconResolver]:
    cache = IdentityCache.open(args.cache_dir) if args.cache_dir else None
    try:
        async with IdentityResolver(cache=cache, **resolver_options(args)) as identity:
            yield LexiconResolver(identity)
    finally:
        if cache is not None:
            cache.close()


def cmd_lexicon_resolve(args: argparse.Namespace) -> int:
    """Resolve one NSID and print it."""

    async def run() -> ResolvedLexicon:
        async with _resolver(args) as resolver:
            return await resolver.resolve(args.nsid)

    resolved = asyncio.run(run())
    if args.json:
        value = {
            "uri": resolved.uri,
            "cid": str(resolved.cid),
            "did": resolved.did,
            "schema": dagcbor.to_json(resolved.to_json()),
        }
        print(json.dumps(value, indent=2, ensure_ascii=False))
    else:
        print(f"nsid: {resolved.nsid}")
        print(f"authority: {resolved.did}")
        print(f"uri: {resolved.uri}")
        print(f"cid: {resolved.cid}")
        print(f"defs: {', '.join(sorted(resolved.doc.defs))}")
    return 0


def cmd_lexicon_fetch(args: argparse.Namespace) -> int:
    """Resolve NSIDs (and their refs) and write them under --out."""
    out = Path(args.out)

    async def run() -> int:
        status = 0
        catalog = Catalog()
        async with _resolver(args) as resolver:
            for nsid in args.nsids:
                try:
                    if args.no_refs:
                        added, failed = [await resolver.resolve(nsid)], {}
                    else:
                        resolution = await resolver.resolve_into(catalog, nsid)
                        added, failed = resolution.added, resolution.failed
                except IdentityError as err:  # report it, go on with the others
                    print(f"strato: error: {nsid}: {err}", file=sys.stderr)
                    status = 1
                    continue
                for resolved in added:
                    print(f"{_write(out, resolved)}: {resolved.nsid} from {resolved.did}")
                for name, why in failed.items():
                    print(f"warning: referenced lexicon {name} not fetched: {why}", file=sys.stderr)
        return status

    return asyncio.run(run())


def _write(out: Path, resolved: ResolvedLexicon) -> Path:
    path = out.joinpath(*resolved.nsid.split(".")).with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    document = json.dumps(dagcbor.to_json(resolved.to_json()), indent=2, ensure_ascii=False)
    path.write_text(document + "\n")
    return path


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
    if nsid not in catalog and not args.no_resolve:
        _resolve_into(args, catalog, nsid)
    doc = catalog.get(nsid)
    definition = doc.defs.get(name or "main") if doc is not None else None
    if definition is None:
        where = "in the lexicon dirs" if args.no_resolve else "in the lexicon dirs or published"
        raise LexiconValidationError(f"no lexicon for {args.nsid} {where}")
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


def _resolve_into(args: argparse.Namespace, catalog: Catalog, nsid: str) -> None:
    """Add the published lexicon of ``nsid`` and what it references to ``catalog``."""

    async def run() -> None:
        async with _resolver(args) as resolver:
            resolution = await resolver.resolve_into(catalog, nsid)
        for name, why in resolution.failed.items():
            print(f"warning: referenced lexicon {name} not resolved: {why}", file=sys.stderr)

    asyncio.run(run())


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
