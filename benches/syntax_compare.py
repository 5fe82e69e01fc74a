"""Compare strato.syntax parse rates with the ``atproto`` SDK's string format validators.

This module owns the Python-side performance comparison for identifier parsing. On the same
realistic identifiers (generated deterministically: did:plc DIDs, handles under a few
domains, TIDs as record keys, the app.bsky record NSIDs, AT-URIs of posts, datetimes in the
preferred form) it times, per identifier kind:

1. strato: constructing the type (``DID(text)``, ...), the parse every request does;
2. strato: the boolean format check (``syntax.FORMAT_CHECKS[...]``, what lexicon validation
   calls);
3. the ``atproto`` SDK (``atproto_client.models.string_formats``): its validator for the
   format, called directly (unwrapped from the pydantic opt-in gate), and for NSIDs also
   ``atproto_core.nsid.validate_nsid``.

Each timing is the best and the median of several runs with the garbage collector disabled,
over the whole list; ratios are "peer time / strato time" per item (> 1: strato is faster)
against the strato constructor row. Correctness flags: each library accepts every identifier
of the list and rejects a few invalid ones of the same kind; a strato row that is not correct
makes the script exit non-zero (a peer that is too lenient is reported, not fatal). It
refuses to run on a strato debug build unless ``--allow-debug`` is given.

Run: ``.venv/bin/python benches/syntax_compare.py [--quick] [--markdown]`` (peers from
``benches/requirements.txt``).
"""

from __future__ import annotations

import argparse
import inspect
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from atproto_client.models import string_formats
from atproto_core.exceptions import InvalidNsidError
from atproto_core.nsid import validate_nsid as core_validate_nsid
from benchlib import (
    Goal,
    Row,
    Timing,
    add_run_flags,
    build_profile,
    environment,
    goal_table,
    measure,
    refuse_debug,
    table,
)
from strato import syntax

PACKAGES = ("strato", "atproto")
BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
NSIDS = (
    "app.bsky.feed.post",
    "app.bsky.feed.like",
    "app.bsky.feed.repost",
    "app.bsky.graph.follow",
    "app.bsky.graph.block",
    "app.bsky.actor.profile",
    "app.bsky.feed.threadgate",
    "com.atproto.repo.strongRef",
)
INVALID = {
    "did": ["did:plc:", "DID:plc:abc", "did:m1:abc", "did:plc:a/b"],
    "handle": ["john", "john..test", "jo_hn.test", "john.0"],
    "record-key": [".", "a/b", "", "#x"],
    "tid": ["3JZFCIJPJ2Z2A", "zzzzzzzzzzzzz", "3jzfcijpj2z2", "0000000000000"],
    "nsid": ["com.example", "com.example.2foo", "com..example.foo", "com.example.f-o"],
    "at-uri": ["at://did:plc:a/", "at://bsky", "at://did:plc:a/12345", "at://did:plc:a#x"],
    "datetime": [
        "1985-04-12T23:20:50.123z",
        "1985-04-12T23:20:50.123-00:00",
        "1985-13-12T23:20:50Z",
        "1985-04-12T23:20:50",
    ],
}


@dataclass(frozen=True)
class Peer:
    """A peer validator: raises when the text is invalid. The SDK's string format validators
    take ``(value, info)`` and are called unwrapped from their pydantic opt-in gate (which
    is what reads ``info``), with ``None``; ``atproto_core``'s take the value alone."""

    note: str
    function: Callable[..., object]
    takes_info: bool = True

    def check(self, text: str) -> object:
        return self.function(text, None) if self.takes_info else self.function(text)

    def timed(self, items: list[str], repeat: int) -> Timing:
        fn = self.function
        if self.takes_info:
            return measure(lambda: [fn(t, None) for t in items], len(items), repeat)
        return measure(lambda: [fn(t) for t in items], len(items), repeat)


def sdk(name: str) -> Peer:
    return Peer(name, inspect.unwrap(getattr(string_formats, name)))


@dataclass(frozen=True)
class Kind:
    """One identifier kind: its corpus and the functions timed on it."""

    name: str
    items: list[str]
    strato_type: Callable[[str], str]
    peers: list[Peer]  # all from the atproto package


def corpus(count: int, seed: int) -> list[Kind]:
    rng = random.Random(seed)
    dids = ["did:plc:" + "".join(rng.choices(BASE32, k=24)) for _ in range(count)]
    names = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=rng.randrange(4, 16)))
        for _ in range(count)
    ]
    handles = [f"{n}.{rng.choice(('bsky.social', 'example.com', 'test'))}" for n in names]
    base = 1_700_000_000_000_000
    tids = [
        str(syntax.TID.from_parts(base + rng.randrange(10**12), rng.randrange(1024)))
        for _ in range(count)
    ]
    rkeys = [tid if i % 10 else "self" for i, tid in enumerate(tids)]
    nsids = [NSIDS[i % len(NSIDS)] for i in range(count)]
    uris = [f"at://{did}/app.bsky.feed.post/{tid}" for did, tid in zip(dids, tids, strict=True)]
    datetimes = [
        f"20{rng.randrange(10, 30)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        f"T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
        f".{rng.randrange(1000):03d}Z"
        for _ in range(count)
    ]
    return [
        Kind("did", dids, syntax.DID, [sdk("validate_did")]),
        Kind(
            "handle",
            handles,
            syntax.Handle,
            [sdk("validate_handle")],
        ),
        Kind(
            "record-key",
            rkeys,
            syntax.RecordKey,
            [sdk("validate_record_key")],
        ),
        Kind("tid", tids, syntax.TID, [sdk("validate_tid")]),
        Kind(
            "nsid",
            nsids,
            syntax.NSID,
            [
                sdk("validate_nsid"),
                Peer("atproto_core validate_nsid", core_validate_nsid, takes_info=False),
            ],
        ),
        Kind(
            "at-uri",
            uris,
            syntax.ATURI,
            [sdk("validate_at_uri")],
        ),
        Kind(
            "datetime",
            datetimes,
            syntax.Datetime,
            [sdk("validate_datetime")],
        ),
    ]


def accepts(check: Callable[[str], object], text: str) -> bool:
    try:
        return check(text) is not False
    except (ValueError, InvalidNsidError):  # strato's IdentifierError is a ValueError
        return False


def correct(check: Callable[[str], object], kind: Kind) -> bool:
    return all(accepts(check, t) for t in kind.items) and not any(
        accepts(check, t) for t in INVALID[kind.name]
    )


def timed(check: Callable[[str], object], items: list[str], repeat: int) -> Timing:
    return measure(lambda: [check(t) for t in items], len(items), repeat)


def rows_for(kind: Kind, repeat: int) -> list[Row]:
    op = f"parse {kind.name}"
    parse, fast = kind.strato_type, syntax.FORMAT_CHECKS[kind.name]
    name = getattr(parse, "__name__", "")
    rows = [
        Row(op, "strato", timed(parse, kind.items, repeat), correct(parse, kind), f"{name}(text)"),
        Row(
            op,
            "strato",
            timed(fast, kind.items, repeat),
            correct(fast, kind),
            f"FORMAT_CHECKS[{kind.name!r}]",
        ),
    ]
    for peer in kind.peers:
        rows.append(
            Row(op, "atproto", peer.timed(kind.items, repeat), correct(peer.check, kind), peer.note)
        )
    return rows


def goals(kinds: Sequence[Kind]) -> list[Goal]:
    """strato's constructor is not slower than the SDK's validator for any kind."""
    return [Goal(f"parse {k.name}", "atproto", 1.0, note=k.peers[0].note) for k in kinds]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=20_000, help="identifiers per kind")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per row")
    parser.add_argument("--seed", type=int, default=4, help="corpus seed")
    add_run_flags(parser, "a short run (2000 identifiers, 3 repeats) to check the script")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.repeat = 2000, 3
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    profile = build_profile()
    if refuse_debug("syntax_compare", profile, args.allow_debug):
        return 2
    print(
        "\n".join(("- " if args.markdown else "") + line for line in environment(profile, PACKAGES))
    )
    print(f"identifiers: {args.count} per kind, repeat {args.repeat}")
    print()
    kinds = corpus(args.count, args.seed)
    rows = [row for kind in kinds for row in rows_for(kind, args.repeat)]
    print(table(rows, args.markdown))
    print()
    print("ratio = peer time per item / strato time per item (> 1: strato is faster), against")
    print("the strato constructor row of each kind.")
    print()
    print(goal_table(rows, goals(kinds), args.markdown))
    return 0 if all(row.correct for row in rows if row.library == "strato") else 1


if __name__ == "__main__":
    sys.exit(main())
