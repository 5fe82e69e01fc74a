"""The ``strato repo`` and ``strato key`` commands: verify and list repository exports, make
signing keys. Registered on the main parser by :mod:`strato.cli.main`, which prints errors.

Commands::

    strato repo verify FILE.car [--did-doc FILE | --did-key KEY | --plc URL] [--lenient]
    strato repo ls FILE.car [COLLECTION]
    strato key generate [--curve k256|p256] [--out FILE] [--password-env VAR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from strato.cli.console import CliError
from strato.crypto import PrivateKey, private_key_to_pem, save_private_key
from strato.errors import AtprotoError, CommitVerificationError
from strato.identity import IdentityResolver
from strato.repo.verify import load_did_doc, read_repo, verify_repo


def add_repo_commands(groups: Any) -> None:
    """``strato repo ...``."""
    repo = groups.add_parser(
        "repo",
        help="verify and list repository exports (CAR files from com.atproto.sync.getRepo)",
        description="Verify and list repository exports.",
    )
    commands = repo.add_subparsers(dest="command", required=True, metavar="{verify,ls}")
    verify = commands.add_parser(
        "verify",
        help="check a repo CAR: hashes, MST, commit data root, signature",
        description=(
            "Walk the repository's MST, rebuild it from the records and require the commit's "
            "data root, check every block's hash and every record's presence, and verify the "
            "commit signature. Prints the record count and root; on failure prints the reason "
            "code (bad_car, hash_mismatch, missing_block, malformed, inversion_mismatch, "
            "field_mismatch, bad_signature, high_s) and exits 1. Offline unless --plc is "
            "given: without a key the signature is not checked (and it says how to check it)."
        ),
    )
    verify.add_argument("file", metavar="FILE.car")
    key = verify.add_mutually_exclusive_group()
    key.add_argument(
        "--did-doc",
        metavar="FILE",
        help="a DID document (JSON): its #atproto key checks the signature and its id must be "
        "the commit's DID",
    )
    key.add_argument("--did-key", metavar="KEY", help="check the signature with this did:key")
    key.add_argument(
        "--plc",
        metavar="URL",
        type=plc_url,
        help="resolve the commit's DID (did:plc on this directory, such as "
        "https://plc.directory, or did:web) and check the signature with its current atproto "
        "signing key (an export signed before a key rotation is refused)",
    )
    verify.add_argument(
        "--lenient", action="store_true", help="accept a high-S signature (legacy data)"
    )
    verify.set_defaults(handler=cmd_repo_verify)
    ls = commands.add_parser(
        "ls",
        help="list the records of a repo CAR (path and CID)",
        description="List every record path and CID, in key order, optionally of one collection.",
    )
    ls.add_argument("file", metavar="FILE.car")
    ls.add_argument(
        "collection", nargs="?", metavar="COLLECTION", help="only this collection (an NSID)"
    )
    ls.set_defaults(handler=cmd_repo_ls)


def add_key_commands(groups: Any) -> None:
    """``strato key ...``."""
    key = groups.add_parser(
        "key",
        help="signing keys (k256 or p256)",
        description="Make signing keys for repositories and services.",
    )
    commands = key.add_subparsers(dest="command", required=True, metavar="{generate}")
    generate = commands.add_parser(
        "generate",
        help="make a new private key; prints its did:key",
        description=(
            "Make a new private key. Prints its did:key on stdout; writes the key as PKCS#8 PEM "
            "to --out (mode 0600), or to stdout after the did:key when --out is not given."
        ),
    )
    generate.add_argument("--curve", choices=["k256", "p256"], default="k256")
    generate.add_argument("--out", metavar="FILE", help="write the PEM here (mode 0600)")
    generate.add_argument(
        "--password-env",
        metavar="VAR",
        help="encrypt the PEM with the password in this environment variable",
    )
    generate.set_defaults(handler=cmd_key_generate)


def cmd_repo_verify(args: argparse.Namespace) -> int:
    did = did_key = None
    if args.did_doc:
        did, did_key = load_did_doc(args.did_doc)
    elif args.did_key:
        did_key = args.did_key
    data = Path(args.file).read_bytes()
    if args.plc:
        did = read_repo(data).did
        try:
            did_key = _signing_key(did, args.plc)
        except (AtprotoError, OSError, ValueError) as err:
            # about the directory, not the file: said without the file's name in front
            raise CliError(f"cannot resolve {did} on {args.plc}: {err}") from None
    try:
        report = verify_repo(data, did_key=did_key, did=did, strict=not args.lenient)
    except CommitVerificationError as err:
        if args.plc and err.code == "bad_signature":
            # an export signed before a key rotation is refused too: a repository is current
            # only under its DID's current key
            raise CommitVerificationError(
                err.code, f"{err.reason} (not signed by {did}'s current key {did_key})"
            ) from None
        raise
    signature = (
        "signature ok"
        if report.signature_checked
        else "signature not checked (check it with --plc URL, --did-doc FILE or --did-key KEY)"
    )
    print(
        f"ok: {len(report.records)} records, root {report.data_cid}, commit "
        f"{report.commit_cid}, {report.did} rev {report.rev}, {signature}"
    )
    return 0


def plc_url(text: str) -> str:
    """The ``--plc`` option: an http(s) URL with a host (argparse reports anything else)."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL (such as https://plc.directory)"
        )
    return text.strip().rstrip("/")


def _signing_key(did: str, plc_url: str) -> str:
    """The atproto signing key of ``did``'s current document, resolved with ``plc_url`` (the
    directory named is trusted, loopback or not; a did:web host is held to the public network
    policy)."""

    async def resolve() -> str:
        async with IdentityResolver(plc_url=plc_url) as resolver:
            return (await resolver.resolve_did(did)).signing_key()

    return asyncio.run(resolve())


def cmd_repo_ls(args: argparse.Namespace) -> int:
    report = verify_repo(Path(args.file).read_bytes())
    prefix = f"{args.collection}/" if args.collection else ""
    lines = [f"{path}\t{cid}" for path, cid in report.records if path.startswith(prefix)]
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


def cmd_key_generate(args: argparse.Namespace) -> int:
    key = PrivateKey.generate(args.curve)
    password = None
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise ValueError(f"environment variable {args.password_env} is empty or unset")
        password = value.encode()
    print(key.public_key.did_key())
    if args.out:
        save_private_key(key, args.out, password)
    else:
        sys.stdout.write(private_key_to_pem(key, password).decode())
    return 0


__all__ = ["add_key_commands", "add_repo_commands"]
