"""Compare strato's lexicon validation of app.bsky.feed.post with the atproto SDK, in one
process.

This module owns the Python-side performance comparison for record validation. On the same
generated posts (atproto JSON, as an XRPC ``createRecord`` body carries them: four kinds,
plain, with facets, with an image embed, and a reply quoting a post with a video) it times:

1. strato ``Catalog.validate_record`` (the compiled lexicon: every rule, including string
   formats, UTF-8 lengths and graphemes);
2. strato ``Catalog.decode_record`` (the same verdicts, building the typed msgspec struct);
3. the ``atproto`` SDK's model validation, ``get_or_create(record, AppBskyFeedPost.Record,
   strict=True)`` (pydantic; by default it does not check string formats), and the same with
   ``strict_string_format=True`` (its format checks on: the work closest to strato's).

Each timing is the best and the median of several runs with the garbage collector disabled;
ratios are "peer time / strato time" per post (> 1: strato is faster), against the first strato
row of the operation. Correctness flags: every library accepts every generated post, and strato
rejects each broken post (over 300 graphemes, a bad datetime, a negative facet offset, five
images, a reply without a parent). The script exits non-zero if a flag is false and refuses to
run on a strato debug build unless ``--allow-debug`` is given.

The lexicons come from ``--lexicon-dir`` (default: ``$STRATO_SHARED/lexicons``, else
``../shared/lexicons`` beside the checkout).
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from atproto_client import models
from atproto_client.models.utils import get_or_create
from benchlib import (
    Goal,
    Row,
    add_run_flags,
    build_profile,
    environment,
    goal_table,
    measure,
    refuse_debug,
    table,
)
from strato import CID
from strato.errors import LexiconValidationError
from strato.lexicon import Catalog

PACKAGES = ("strato", "msgspec", "atproto", "pydantic", "pydantic_core")
COLLECTION = "app.bsky.feed.post"
RKEY = "3jzfcijpj2z2a"
KINDS = ("plain", "facets", "images", "reply+quote+video")
WORDS = ["the", "a", "sky", "blue", "post", "today", "atproto", "lexicon", "validate", "fast"]
WORDS += ["river", "tree", "🌊", "日本", "café"]


# -- data -------------------------------------------------------------------------------------


class Corpus:
    """Deterministic posts of each kind, with distinct DIDs, CIDs, URIs and timestamps."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def did(self) -> str:
        return "did:plc:" + "".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz234567", k=24))

    def cid(self, codec: str = "dag-cbor") -> str:
        return str(CID.compute(self.rng.randbytes(32), codec))

    def uri(self) -> str:
        tid = "3" + "".join(self.rng.choices("234567abcdefghijklmnopqrstuvwxyz", k=12))
        return f"at://{self.did()}/app.bsky.feed.post/{tid}"

    def text(self, words: int) -> str:
        return " ".join(self.rng.choices(WORDS, k=words))

    def now(self) -> str:
        day, hour, minute = (
            self.rng.randrange(1, 29),
            self.rng.randrange(24),
            self.rng.randrange(60),
        )
        ms = self.rng.randrange(1000)
        return f"2024-05-{day:02d}T{hour:02d}:{minute:02d}:{self.rng.randrange(60):02d}.{ms:03d}Z"

    def blob(self, mime: str, size: int) -> dict[str, Any]:
        return {"$type": "blob", "ref": {"$link": self.cid("raw")}, "mimeType": mime, "size": size}

    def strong_ref(self) -> dict[str, str]:
        return {"uri": self.uri(), "cid": self.cid()}

    def post(self, kind: str) -> dict[str, Any]:
        post: dict[str, Any] = {
            "$type": COLLECTION,
            "text": self.text(self.rng.randrange(5, 40)),
            "createdAt": self.now(),
        }
        if kind != "plain":
            post["langs"] = ["en"]
        if kind == "facets":
            handle = "alice.bsky.social"
            text = f"hi @{handle} see https://example.com/a #atproto " + post["text"]
            post["text"] = text
            at = len(handle) + 4
            mention = {"$type": "app.bsky.richtext.facet#mention", "did": self.did()}
            link = {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a"}
            tag = {"$type": "app.bsky.richtext.facet#tag", "tag": "atproto"}
            post["facets"] = [
                self.facet(3, at, mention),
                self.facet(at + 5, at + 26, link),
                self.facet(at + 27, at + 35, tag),
            ]
        elif kind == "images":
            post["embed"] = {
                "$type": "app.bsky.embed.images",
                "images": [
                    {
                        "image": self.blob("image/jpeg", self.rng.randrange(10_000, 900_000)),
                        "alt": self.text(6),
                        "aspectRatio": {"width": 1200, "height": 800},
                    }
                    for _ in range(self.rng.randrange(1, 5))
                ],
            }
        elif kind == "reply+quote+video":
            root = self.strong_ref()
            post["reply"] = {"root": root, "parent": self.strong_ref()}
            post["embed"] = {
                "$type": "app.bsky.embed.recordWithMedia",
                "record": {"$type": "app.bsky.embed.record", "record": self.strong_ref()},
                "media": {
                    "$type": "app.bsky.embed.video",
                    "video": self.blob("video/mp4", self.rng.randrange(1_000_000, 50_000_000)),
                    "aspectRatio": {"width": 1920, "height": 1080},
                },
            }
        return post

    @staticmethod
    def facet(start: int, end: int, feature: dict[str, str]) -> dict[str, Any]:
        return {"index": {"byteStart": start, "byteEnd": end}, "features": [feature]}


def broken_posts(corpus: Corpus) -> list[dict[str, Any]]:
    """Posts every validator of the full lexicon must reject."""
    plain, facets, images, reply = (corpus.post(kind) for kind in KINDS)
    long_text = {**plain, "text": "é" * 301}
    bad_date = {**plain, "createdAt": "2024-13-01T00:00:00Z"}
    negative = copy.deepcopy(facets)
    negative["facets"][0]["index"]["byteStart"] = -1
    five = copy.deepcopy(images)
    five["embed"]["images"] = five["embed"]["images"][:1] * 5
    orphan = copy.deepcopy(reply)
    del orphan["reply"]["parent"]
    return [long_text, bad_date, negative, five, orphan]


# -- measurements -----------------------------------------------------------------------------

SDK_MODEL = models.AppBskyFeedPost.Record


def validators(catalog: Catalog) -> list[tuple[str, str, Callable[[dict[str, Any]], object]]]:
    """``(library, note, validate one post)`` for every path compared."""
    return [
        ("strato", "validate_record", lambda p: catalog.validate_record(COLLECTION, RKEY, p)),
        ("strato", "decode_record (struct)", lambda p: catalog.decode_record(COLLECTION, RKEY, p)),
        ("atproto", "strict=True", lambda p: get_or_create(p, SDK_MODEL, strict=True)),
        (
            "atproto",
            "strict=True, strict_string_format=True",
            lambda p: get_or_create(p, SDK_MODEL, strict=True, strict_string_format=True),
        ),
    ]


def accepts_all(validate: Callable[[dict[str, Any]], object], posts: list[dict[str, Any]]) -> bool:
    try:
        for post in posts:
            validate(post)
    except Exception:  # any failure means the library rejected a valid post
        return False
    return True


def rejects_all(validate: Callable[[dict[str, Any]], object], posts: list[dict[str, Any]]) -> bool:
    for post in posts:
        try:
            validate(post)
        except LexiconValidationError:
            continue
        return False
    return True


def rows_for(
    operation: str,
    posts: list[dict[str, Any]],
    broken: list[dict[str, Any]],
    catalog: Catalog,
    repeat: int,
) -> list[Row]:
    rows = []
    for library, note, validate in validators(catalog):

        def run(validate: Callable[[dict[str, Any]], object] = validate) -> None:
            for post in posts:
                validate(post)

        correct = accepts_all(validate, posts)
        if library == "strato":
            correct = correct and rejects_all(validate, broken)
        rows.append(Row(operation, library, measure(run, len(posts), repeat), correct, note))
    return rows


# -- report -----------------------------------------------------------------------------------


def goals() -> list[Goal]:
    mix = "validate post (mix)"
    return [
        Goal(mix, "atproto", 3.0, note="strict=True", label=f"{mix}: >= 3x atproto (default)"),
        Goal(
            mix,
            "atproto",
            3.0,
            note="strict=True, strict_string_format=True",
            label=f"{mix}: >= 3x atproto (string formats checked)",
        ),
    ]


# -- main -------------------------------------------------------------------------------------


def default_lexicon_dir() -> Path:
    shared = os.environ.get("STRATO_SHARED")
    root = Path(shared) if shared else Path(__file__).resolve().parent.parent.parent / "shared"
    return root / "lexicons"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2_000, help="posts of each kind")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lexicon-dir", type=Path, default=default_lexicon_dir())
    add_run_flags(parser, "smoke run: 100 posts of each kind, 2 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.repeat = 100, 2
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    profile = build_profile()
    if refuse_debug("lexicon_compare", profile, args.allow_debug):
        return 2
    catalog = Catalog.load([args.lexicon_dir])
    print(
        "\n".join(("- " if args.markdown else "") + line for line in environment(profile, PACKAGES))
    )
    print(f"posts: {args.count} of each kind ({', '.join(KINDS)}), repeat {args.repeat}")
    print()
    corpus = Corpus(args.seed)
    by_kind = {kind: [corpus.post(kind) for _ in range(args.count)] for kind in KINDS}
    mix = [post for group in zip(*by_kind.values(), strict=True) for post in group]
    broken = broken_posts(corpus)
    rows = rows_for("validate post (mix)", mix, broken, catalog, args.repeat)
    for kind, posts in by_kind.items():
        rows += rows_for(f"validate post ({kind})", posts, broken, catalog, args.repeat)
    print(table(rows, args.markdown))
    print()
    print("ratio = peer time per post / strato time per post (> 1: strato is faster).")
    print()
    print(goal_table(rows, goals(), args.markdown))
    return 0 if all(row.correct for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
