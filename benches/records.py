"""Deterministic generator of realistic Bluesky records for the benchmarks.

This module owns the synthetic record corpus used under ``benches/``: the Python comparison
(``compare.py``), the synthetic repo (``make_repo_car.py``) and, through
``benches/data/records.cbor``, the Rust criterion benches.

Everything is derived from one ``random.Random(seed)`` (stdlib only), so a given seed and
count always yield the same records. The mix is posts ~35 %, likes ~40 %, follows ~15 %,
reposts ~8 %, profiles ~2 %.

Links are library-neutral: the generator produces 36-byte binary CIDs (CIDv1, sha2-256) and
hands them to a caller-supplied ``make_link`` factory, so every library gets its own link type
from the same random stream (``strato.CID.decode``, ``cbrrr.CID``, ``bytes`` for libipld, ...).

Run ``python benches/records.py --count N`` to write N records as concatenated DAG-CBOR
objects to ``benches/data/records.cbor`` (``strato.dagcbor.decode_multi`` reads them back).
"""

from __future__ import annotations

import argparse
import base64
import importlib
import itertools
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

DEFAULT_SEED = 20240901
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "records.cbor"

LinkFactory = Callable[[bytes], Any]
Record = dict[str, Any]

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
FOLLOW = "app.bsky.graph.follow"
REPOST = "app.bsky.feed.repost"
PROFILE = "app.bsky.actor.profile"

MIX: dict[str, float] = {POST: 0.35, LIKE: 0.40, FOLLOW: 0.15, REPOST: 0.08, PROFILE: 0.02}

DAG_CBOR_PREFIX = b"\x01\x71\x12\x20"  # CIDv1, dag-cbor, sha2-256, 32 bytes
RAW_PREFIX = b"\x01\x55\x12\x20"  # CIDv1, raw, sha2-256, 32 bytes

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_START_US = int((datetime(2024, 9, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_DID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"

# Small hand-written vocabularies; the point is realistic byte lengths and UTF-8 variety.
_VOCABULARY: dict[str, str] = {
    "en": (
        "the a to and of is in it you that for this on my just so be with have was not but "
        "are at me what like all can your about one do if up out get really today new time "
        "know people think good love day now still going want how make see more back when "
        "much only also some very thing here well first last never always night morning week "
        "post thread read book coffee music game team work home city weather photo cat dog "
        "friend finally actually literally honestly great weird tired happy open source code "
        "rust python server protocol feed network community please thanks lol wow okay yes no"
    ),
    "ja": (
        "今日は とても 楽しい ありがとう です ね 天気 猫 コーヒー 仕事 本当に すごい 明日 "
        "写真 見て ください 新しい 友達 ご飯 おいしい 疲れた 映画 音楽 電車 雨 桜 週末 "
        "ブルースカイ 皆さん よろしく お願いします 。 、 笑"
    ),
    "pt": (
        "hoje não é muito obrigado ação coração você também até amanhã bom dia gente isso "
        "aqui agora está foi mais que de para com uma meu minha sério demais saudade café "
        "praia cidade trabalho música futebol"
    ),
    "de": (
        "heute schön Grüße für über Straße mögen wirklich Tschüss natürlich ich du wir und "
        "nicht ist das die der mit auf noch schon Kaffee Wetter Arbeit Zug Brötchen müde "
        "Wochenende gemütlich"
    ),
    "es": (
        "mañana año niño qué también corazón gracias muy día hoy el la los que de en y no es "
        "por para con más bien todo ciudad café fútbol canción"
    ),
    "fr": (
        "très été déjà ça où français bientôt café garçon noël je tu il elle nous et le la "
        "les des pas est une pour avec merci bonjour soirée"
    ),
}
_LANG_WEIGHTS: dict[str, int] = {"en": 60, "ja": 15, "pt": 10, "de": 5, "es": 5, "fr": 3, "": 2}
_EMOJI_LIST = "😂 ❤️ 🥺 ✨ 🔥 🙏 😭 👀 🎉 💙 🦋 ☕ 🌸 👍🏽 👩‍💻 🏳️‍🌈 🇯🇵 🇧🇷 😅 🤔 🫠 🐈‍⬛ 🧵"
_DOMAIN_LIST = (
    "example.com news.example.org blog.example.net video.example.tv docs.example.dev "
    "shop.example.co.uk photos.example.jp"
)
_WORDS = {lang: words.split() for lang, words in _VOCABULARY.items()}
_EMOJI = _EMOJI_LIST.split()
_DOMAINS = _DOMAIN_LIST.split()
_IMAGE_MIME: dict[str, int] = {"image/jpeg": 80, "image/png": 15, "image/webp": 5}


class GeneratedRecord(NamedTuple):
    """One record with the repo path it would live at (``collection/rkey``)."""

    collection: str
    rkey: str
    value: Record

    @property
    def path(self) -> str:
        return f"{self.collection}/{self.rkey}"


def cid_string(cid_bytes: bytes) -> str:
    """Base32 multibase string of a binary CID (what strong refs store as ``cid``)."""
    return "b" + base64.b32encode(cid_bytes).decode("ascii").lower().rstrip("=")


def tid_string(timestamp_us: int, clock_id: int) -> str:
    """13-character TID: 53-bit microsecond timestamp and 10-bit clock id, base32-sortable."""
    value = (timestamp_us << 10) | (clock_id & 0x3FF)
    return "".join(_TID_ALPHABET[(value >> (5 * i)) & 31] for i in range(12, -1, -1))


def iso_datetime(timestamp_us: int, *, micros: bool = False) -> str:
    """RFC 3339 datetime as atproto clients write it (``...T12:34:56.789Z``)."""
    moment = _EPOCH + timedelta(microseconds=timestamp_us)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if micros:
        return f"{base}.{moment.microsecond:06d}+00:00"
    return f"{base}.{moment.microsecond // 1000:03d}Z"


class RecordGenerator:
    """Stateful, seeded generator. Same seed -> same records, whatever ``make_link`` is."""

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        make_link: LinkFactory = bytes,
        *,
        n_actors: int = 5000,
    ) -> None:
        self._rng = random.Random(seed)
        self._make_link = make_link
        self._now_us = _START_US
        self._clock_id = self._rng.randrange(1024)
        self._actors = [self._new_did() for _ in range(n_actors)]
        # Zipf-like popularity: a few accounts get most of the likes, follows and replies.
        self._actor_weights = list(itertools.accumulate(1.0 / (i + 1) for i in range(n_actors)))
        self._langs = list(_LANG_WEIGHTS)
        self._lang_weights = list(itertools.accumulate(_LANG_WEIGHTS.values()))
        self._collections = list(MIX)
        self._collection_weights = list(itertools.accumulate(MIX.values()))
        self._makers: dict[str, Callable[[int], Record]] = {
            POST: self.post,
            LIKE: self.like,
            FOLLOW: self.follow,
            REPOST: self.repost,
            PROFILE: self.profile,
        }

    # -- primitives -------------------------------------------------------------------------

    def _new_did(self) -> str:
        return "did:plc:" + "".join(self._rng.choices(_DID_ALPHABET, k=24))

    def _actor(self) -> str:
        return self._rng.choices(self._actors, cum_weights=self._actor_weights)[0]

    def _handle(self) -> str:
        name = self._rng.choice(_WORDS["en"]) + self._rng.choice(_WORDS["en"])
        if self._rng.random() < 0.8:
            return f"{name}{self._rng.randrange(100)}.bsky.social"
        return f"{name}.{self._rng.choice(_DOMAINS)}"

    def _tick(self) -> int:
        """Advance the clock (mean 30 s between records) and return it in microseconds."""
        self._now_us += int(self._rng.expovariate(1 / 30) * 1_000_000) + 1
        return self._now_us

    def _past_us(self) -> int:
        """A moment up to ~60 days before the current clock (for records we point at)."""
        return self._now_us - self._rng.randrange(1, 60 * 86_400 * 1_000_000)

    def _created_at(self, timestamp_us: int) -> str:
        return iso_datetime(timestamp_us, micros=self._rng.random() < 0.1)

    def _link(self, prefix: bytes) -> Any:
        return self._make_link(prefix + self._rng.randbytes(32))

    def _strong_ref(self, collection: str = POST) -> Record:
        tid = tid_string(self._past_us(), self._rng.randrange(1024))
        cid = cid_string(DAG_CBOR_PREFIX + self._rng.randbytes(32))
        return {"uri": f"at://{self._actor()}/{collection}/{tid}", "cid": cid}

    def _blob(self, mime: str, low: int, high: int) -> Record:
        return {
            "$type": "blob",
            "ref": self._link(RAW_PREFIX),
            "mimeType": mime,
            "size": self._rng.randrange(low, high),
        }

    def _image_blob(self) -> Record:
        mime = self._rng.choices(list(_IMAGE_MIME), weights=list(_IMAGE_MIME.values()))[0]
        return self._blob(mime, 20_000, 1_000_000)

    def _lang(self) -> str:
        return self._rng.choices(self._langs, cum_weights=self._lang_weights)[0]

    def _words(self, lang: str, target_chars: int) -> list[str]:
        vocab = _WORDS[lang or "en"]
        words: list[str] = []
        length = 0
        while length < target_chars:
            word = (
                self._rng.choice(_EMOJI) if self._rng.random() < 0.05 else self._rng.choice(vocab)
            )
            words.append(word)
            length += len(word) + 1
        return words

    def _sentence(self, lang: str, low: int, high: int) -> str:
        sep = "" if lang == "ja" else " "
        return sep.join(self._words(lang, self._rng.randrange(low, high)))

    def _uri(self) -> str:
        path = "/".join(self._rng.choices(_WORDS["en"], k=self._rng.randrange(1, 4)))
        return f"https://{self._rng.choice(_DOMAINS)}/{path}?id={self._rng.randrange(10**6)}"

    # -- rich text --------------------------------------------------------------------------

    def _facet_token(self) -> tuple[str, Record]:
        """Display text and feature for one facet: a mention, a link or a hashtag."""
        kind = self._rng.choices(("mention", "link", "tag"), weights=(45, 35, 20))[0]
        if kind == "mention":
            feature = {"$type": "app.bsky.richtext.facet#mention", "did": self._actor()}
            return "@" + self._handle(), feature
        if kind == "link":
            uri = self._uri()
            shown = uri.removeprefix("https://")
            if len(shown) > 30:
                shown = shown[:27] + "..."
            return shown, {"$type": "app.bsky.richtext.facet#link", "uri": uri}
        tag = self._rng.choice(_WORDS[self._rng.choice(("en", "en", "ja", "de"))])
        return "#" + tag, {"$type": "app.bsky.richtext.facet#tag", "tag": tag}

    def _rich_text(self, lang: str) -> tuple[str, list[Record]]:
        """Post text of a realistic length plus facets whose byte slices point into it."""
        n_facets = self._rng.choices((0, 1, 2, 3), weights=(70, 18, 8, 4))[0]
        tokens = [self._facet_token() for _ in range(n_facets)]
        # Stay under the 300-grapheme limit: words overshoot the target by at most one word.
        room = 280 - sum(len(shown) + 2 for shown, _ in tokens)
        target = max(1, min(room, int(self._rng.lognormvariate(4.0, 0.9))))
        words = self._words(lang, target)
        specials = {self._rng.randrange(len(words) + 1): token for token in tokens}
        sep = "" if lang == "ja" else " "
        pieces: list[str] = []
        facets: list[Record] = []
        offset = 0
        for i in range(len(words) + 1):
            if i in specials:
                shown, feature = specials[i]
                lead = " " if pieces else ""
                start = offset + len(lead.encode())
                end = start + len(shown.encode())
                pieces.append(lead + shown + " ")
                offset = end + 1
                facets.append(
                    {
                        "$type": "app.bsky.richtext.facet",
                        "index": {"byteStart": start, "byteEnd": end},
                        "features": [feature],
                    }
                )
            if i < len(words):
                gap = "\n\n" if self._rng.random() < 0.03 else sep
                piece = words[i] + (gap if i + 1 < len(words) else "")
                pieces.append(piece)
                offset += len(piece.encode())
        return "".join(pieces).strip(), facets

    # -- embeds -----------------------------------------------------------------------------

    def _images_embed(self) -> Record:
        count = self._rng.choices((1, 2, 3, 4), weights=(60, 20, 10, 10))[0]
        images = []
        for _ in range(count):
            image: Record = {
                "alt": self._sentence("en", 10, 200) if self._rng.random() < 0.5 else "",
                "image": self._image_blob(),
            }
            if self._rng.random() < 0.8:
                image["aspectRatio"] = {
                    "width": self._rng.randrange(400, 4000),
                    "height": self._rng.randrange(400, 4000),
                }
            images.append(image)
        return {"$type": "app.bsky.embed.images", "images": images}

    def _external_embed(self) -> Record:
        external: Record = {
            "uri": self._uri(),
            "title": self._sentence("en", 10, 80),
            "description": self._sentence("en", 0, 250),
        }
        if self._rng.random() < 0.7:
            external["thumb"] = self._blob("image/jpeg", 5_000, 900_000)
        return {"$type": "app.bsky.embed.external", "external": external}

    def _record_embed(self) -> Record:
        return {"$type": "app.bsky.embed.record", "record": self._strong_ref()}

    def _video_embed(self) -> Record:
        return {
            "$type": "app.bsky.embed.video",
            "video": self._blob("video/mp4", 200_000, 50_000_000),
            "aspectRatio": {"width": 1080, "height": self._rng.choice((1920, 1350, 1080, 608))},
        }

    def _embed(self) -> Record | None:
        kind = self._rng.choices(
            ("none", "images", "external", "record", "recordWithMedia", "video"),
            weights=(55, 20, 10, 8, 4, 3),
        )[0]
        if kind == "images":
            return self._images_embed()
        if kind == "external":
            return self._external_embed()
        if kind == "record":
            return self._record_embed()
        if kind == "recordWithMedia":
            return {
                "$type": "app.bsky.embed.recordWithMedia",
                "record": self._record_embed(),
                "media": self._images_embed(),
            }
        if kind == "video":
            return self._video_embed()
        return None

    # -- records ----------------------------------------------------------------------------

    def post(self, now_us: int) -> Record:
        lang = self._lang()
        text, facets = self._rich_text(lang)
        record: Record = {"$type": POST, "text": text, "createdAt": self._created_at(now_us)}
        if lang:
            record["langs"] = [lang] if self._rng.random() < 0.9 else [lang, "en"]
        if facets:
            record["facets"] = facets
        if self._rng.random() < 0.3:
            parent = self._strong_ref()
            root = parent if self._rng.random() < 0.5 else self._strong_ref()
            record["reply"] = {"root": root, "parent": parent}
        embed = self._embed()
        if embed is not None:
            record["embed"] = embed
        return record

    def like(self, now_us: int) -> Record:
        return {"$type": LIKE, "subject": self._strong_ref(), "createdAt": self._created_at(now_us)}

    def repost(self, now_us: int) -> Record:
        return {
            "$type": REPOST,
            "subject": self._strong_ref(),
            "createdAt": self._created_at(now_us),
        }

    def follow(self, now_us: int) -> Record:
        return {"$type": FOLLOW, "subject": self._actor(), "createdAt": self._created_at(now_us)}

    def profile(self, now_us: int) -> Record:
        lang = self._lang()
        name = self._rng.choice(_WORDS[lang or "en"]).capitalize()
        if self._rng.random() < 0.3:
            name += " " + self._rng.choice(_EMOJI)
        lines = [self._sentence(lang, 10, 90) for _ in range(self._rng.randrange(0, 4))]
        record: Record = {"$type": PROFILE, "displayName": name, "description": "\n".join(lines)}
        if self._rng.random() < 0.9:
            record["avatar"] = self._blob("image/jpeg", 10_000, 1_000_000)
        if self._rng.random() < 0.6:
            record["banner"] = self._blob("image/jpeg", 50_000, 1_000_000)
        if self._rng.random() < 0.2:
            record["pinnedPost"] = self._strong_ref()
        if self._rng.random() < 0.7:
            record["createdAt"] = self._created_at(now_us)
        return record

    def record(self, collection: str | None = None, *, profiles: bool = True) -> GeneratedRecord:
        """The next record: of ``collection`` if given, else drawn from the mix
        (``profiles=False`` draws from the mix without profiles)."""
        now_us = self._tick()
        if collection is None:
            weights = self._collection_weights if profiles else self._collection_weights[:-1]
            kinds = self._collections[: len(weights)]
            collection = self._rng.choices(kinds, cum_weights=weights)[0]
        rkey = "self" if collection == PROFILE else tid_string(now_us, self._clock_id)
        return GeneratedRecord(collection, rkey, self._makers[collection](now_us))


def iter_records(
    count: int,
    seed: int = DEFAULT_SEED,
    make_link: LinkFactory = bytes,
    *,
    single_repo: bool = False,
) -> Iterator[GeneratedRecord]:
    """Yield ``count`` records. ``single_repo``: one profile first, then no more profiles
    (a repo holds one ``app.bsky.actor.profile/self``), so every path is unique."""
    gen = RecordGenerator(seed, make_link)
    for i in range(count):
        if single_repo and i == 0:
            yield gen.record(PROFILE)
        else:
            yield gen.record(profiles=not single_repo)


def generate(count: int, seed: int = DEFAULT_SEED, make_link: LinkFactory = bytes) -> list[Record]:
    """The first ``count`` record values of the mix, links built with ``make_link``."""
    return [r.value for r in iter_records(count, seed, make_link)]


# -- command line ---------------------------------------------------------------------------


def _encoder(name: str) -> tuple[LinkFactory, Callable[[Any], bytes]]:
    """Link factory and encoder of the library that writes the file (imported on demand:
    the generator itself needs only the standard library)."""
    if name == "strato":
        strato = importlib.import_module("strato")
        return strato.CID.decode, strato.dagcbor.encode
    if name == "cbrrr":
        cbrrr = importlib.import_module("cbrrr")
        return cbrrr.CID, cbrrr.encode_dag_cbor
    raise ValueError(f"unknown encoder {name!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="records to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output file")
    parser.add_argument(
        "--encoder",
        choices=("strato", "cbrrr"),
        default="strato",
        help="DAG-CBOR encoder (both give identical bytes; cbrrr works before strato is built)",
    )
    args = parser.parse_args(argv)

    make_link, encode = _encoder(args.encoder)
    kinds: Counter[str] = Counter()
    total = 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as out:
        for rec in iter_records(args.count, args.seed, make_link):
            data = encode(rec.value)
            out.write(data)
            kinds[rec.collection] += 1
            total += len(data)
    mix = ", ".join(f"{k} {v}" for k, v in kinds.most_common())
    print(f"wrote {args.count} records, {total} bytes ({total / max(args.count, 1):.0f} B/record)")
    print(f"  -> {args.out}")
    print(f"  mix: {mix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
