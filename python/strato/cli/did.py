"""The ``strato did`` command group: resolve a DID or handle. Registered on the main parser by
:mod:`strato.cli.main`, which prints errors. Other ``did`` commands attach to the subcommand set
:func:`add_did_commands` returns.

Command::

    strato did resolve DID|HANDLE [--plc URL] [--json] [--local-network [--local-http-port N]
                                  [--pds URL]] [--allow-network CIDR]...
                                  [--nameserver IP[:PORT]] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Final

from strato.identity import DEFAULT_PLC_URL, Identity, resolve_identity_sync
from strato.identity.fetch import DEFAULT_TIMEOUT
from strato.netpolicy import IPNetwork, NetworkPolicy, parse_network
from strato.pds.settings import DEFAULT_PORT as PDS_PORT

#: The PDS of ``strato up``, which resolves the local network's ``.test`` handles.
LOCAL_PDS_URL: Final = f"http://localhost:{PDS_PORT}"


def add_did_commands(groups: Any) -> Any:
    """``strato did ...``; returns the group's subcommand set, so that more commands (such as
    ``did create``) can be added to it."""
    did = groups.add_parser(
        "did",
        help="resolve DIDs and handles; create did:plc identities",
        description="Work with atproto identities (DIDs, their documents and handles).",
    )
    commands = did.add_subparsers(dest="command", required=True)
    resolve = commands.add_parser(
        "resolve",
        help="resolve a DID or handle and verify the handle in both directions",
        description=(
            "Resolve a DID (did:plc through the PLC directory, did:web through "
            "/.well-known/did.json) or a handle (DNS TXT _atproto.<handle>, then "
            "https://<handle>/.well-known/atproto-did), and print the DID, the handle and "
            "whether it is verified (the DID document claims it and it resolves back to the "
            "DID), the atproto signing key and the PDS endpoint. A handle that does not resolve, "
            "or whose DID document claims another handle, is an error; a DID whose handle does "
            "not verify prints the handle as not verified. Loopback addresses, plain http and "
            "ports other than 443 are refused unless --local-network is given; private, "
            "link-local and other non-public addresses unless --allow-network names them. "
            "With --local-network a handle under .test (as 'strato up' makes them, which no DNS "
            "answers for) is resolved by the PDS that hosts it (--pds), as the services of "
            "'strato up' do."
        ),
    )
    resolve.add_argument("identifier", metavar="DID|HANDLE", help="a DID or a handle")
    resolve.add_argument(
        "--pds",
        metavar="URL",
        help=f"with --local-network: the PDS that resolves .test handles (default "
        f"{LOCAL_PDS_URL}, the PDS of 'strato up')",
    )
    resolve.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: did, handle, handleVerified, handleError, signingKey, pds "
        "and didDoc (the document as served)",
    )
    add_resolver_options(resolve)
    resolve.set_defaults(handler=cmd_did_resolve)
    return commands


def add_resolver_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that resolves identities: where the PLC directory is,
    the network policy, which DNS server to ask, how long to wait."""
    parser.add_argument(
        "--plc",
        metavar="URL",
        default=DEFAULT_PLC_URL,
        help=f"the PLC directory for did:plc (default {DEFAULT_PLC_URL})",
    )
    parser.add_argument(
        "--local-network",
        action="store_true",
        help="allow loopback addresses, plain http and any port (a development network on "
        "one machine, such as 'strato up' runs); did:web and handle well-known files use http",
    )
    parser.add_argument(
        "--allow-network",
        metavar="CIDR",
        action="append",
        type=_network,
        default=[],
        help="also allow addresses in this network, private or not, such as 10.0.0.0/8 "
        "(repeatable)",
    )
    parser.add_argument(
        "--local-http-port",
        metavar="PORT",
        type=int,
        default=80,
        help="with --local-network: the port of handle well-known files and of did:web "
        "documents whose DID names no port (default 80)",
    )
    parser.add_argument(
        "--nameserver",
        metavar="IP[:PORT]",
        action="append",
        help="ask this DNS server instead of the system's (repeatable)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"give up on a fetch after this long (default {DEFAULT_TIMEOUT:g})",
    )


def resolver_options(args: argparse.Namespace) -> dict[str, Any]:
    """:class:`~strato.identity.IdentityResolver` keywords from :func:`add_resolver_options`."""
    return {
        "plc_url": args.plc,
        "policy": NetworkPolicy(args.local_network, tuple(args.allow_network)),
        "local_http_port": args.local_http_port,
        "nameservers": args.nameserver,
        "timeout": args.timeout,
    }


def _network(text: str) -> IPNetwork:
    try:
        return parse_network(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def cmd_did_resolve(args: argparse.Namespace) -> int:
    if args.pds is not None and not args.local_network:
        raise ValueError("--pds resolves the handles of a local network: give --local-network")
    local_pds = (args.pds or LOCAL_PDS_URL) if args.local_network else None
    identity = resolve_identity_sync(args.identifier, local_pds=local_pds, **resolver_options(args))
    text = identity_json(identity) if args.json else identity_text(identity)
    sys.stdout.write(text + "\n")
    return 0


def identity_json(identity: Identity) -> str:
    """The identity as a JSON object (``didDoc`` is the document as served)."""
    value = {
        "did": identity.did,
        "handle": identity.declared_handle,
        "handleVerified": identity.handle is not None,
        "handleError": identity.handle_error,
        "signingKey": identity.signing_key,
        "pds": identity.pds,
        "didDoc": json.loads(identity.doc_json),
    }
    return json.dumps(value, indent=2, ensure_ascii=False)


def identity_text(identity: Identity) -> str:
    """The identity as ``name: value`` lines."""
    if identity.handle is not None:
        handle = f"{identity.handle} (verified)"
    elif identity.declared_handle is not None:
        handle = f"{identity.declared_handle} (not verified: {identity.handle_error})"
    else:
        handle = "none"
    return "\n".join(
        [
            f"did: {identity.did}",
            f"handle: {handle}",
            f"signing key: {identity.signing_key or 'none'}",
            f"pds: {identity.pds or 'none'}",
        ]
    )
