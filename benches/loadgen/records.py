"""Synthetic Bluesky records for the load generator: the values one account writes, drawn from
a seeded ``random.Random`` so a dataset is reproducible.

The mix of created records follows what the network's firehose carries: posts ~60 %, likes
~25 %, follows and reposts ~15 %. Posts have text of a realistic length (log-normal), language
tags, now and then facets, a reply reference or an embed (images as blob references, an external
link, a quoted record), so frames have realistic sizes; nothing here is read back.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any, Final

from strato._core import CID, tid_from_parts

POST: Final = "app.bsky.feed.post"
LIKE: Final = "app.bsky.feed.like"
FOLLOW: Final = "app.bsky.graph.follow"
REPOST: Final = "app.bsky.feed.repost"
#: Created records by collection, in percent.
MIX: Final = {POST: 60, LIKE: 25, FOLLOW: 8, REPOST: 7}

_VOCABULARY: Final = (
    "the a to and of is in it you that for this on my just so be with have was not but are at "
    "me what like all can your about one do if up out get really today new time know people "
    "think good love day now still going want how make see more back when much only also some "
    "very thing here well first last never always night morning week post thread read book "
    "coffee music game team work home city weather photo cat dog friend finally actually great "
    "weird tired happy open source code rust python server protocol feed network community "
    "thanks lol wow okay yes no 今日は とても 楽しい ありがとう 天気 猫 hoje não obrigado café "
    "heute schön Grüße mañana año 😂 ❤️ ✨ 🔥 🦋 👀"
)
_WORDS: Final = _VOCABULARY.split()
_LANGS: Final = ("en", "en", "en", "ja", "pt", "de", "es")
_DOMAINS: Final = ("example.com", "news.example.org", "blog.example.net", "video.example.tv")
_DID_CHARS: Final = "abcdefghijklmnopqrstuvwxyz234567"


def iso_time(micros: int) -> str:
    """``micros`` (since the epoch) as atproto writes datetimes (UTC, milliseconds, ``Z``)."""
    moment = datetime.fromtimestamp(micros / 1_000_000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RecordMaker:
    """Record values from ``rng``; ``others`` are the DIDs likes, follows and replies point at."""

    def __init__(self, rng: random.Random, others: int = 500) -> None:
        self.rng = rng
        self.others = ["did:plc:" + "".join(rng.choices(_DID_CHARS, k=24)) for _ in range(others)]

    def collection(self) -> str:
        """A collection drawn from :data:`MIX`."""
        return self.rng.choices(list(MIX), weights=list(MIX.values()))[0]

    def record(self, collection: str, micros: int) -> dict[str, Any]:
        """A value of ``collection`` created at ``micros``."""
        created = iso_time(micros)
        if collection == POST:
            return self.post(created)
        if collection == FOLLOW:
            return {"$type": FOLLOW, "subject": self._did(), "createdAt": created}
        return {"$type": collection, "subject": self._ref(micros), "createdAt": created}

    def post(self, created: str) -> dict[str, Any]:
        rng = self.rng
        length = max(1, min(290, int(rng.lognormvariate(4.2, 0.8))))
        words: list[str] = []
        while sum(len(word) + 1 for word in words) < length:
            words.append(rng.choice(_WORDS))
        text = " ".join(words)[:290]
        record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": created}
        record["langs"] = [rng.choice(_LANGS)]
        if rng.random() < 0.2:
            start = text.find(" ") + 1
            record["facets"] = [
                {
                    "$type": "app.bsky.richtext.facet",
                    "index": {"byteStart": start, "byteEnd": len(text[:start].encode()) + 4},
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": words[-1]}],
                }
            ]
        if rng.random() < 0.3:
            parent = self._ref(0)
            record["reply"] = {
                "root": self._ref(0) if rng.random() < 0.5 else parent,
                "parent": parent,
            }
        kind = rng.random()
        if kind < 0.2:
            record["embed"] = {
                "$type": "app.bsky.embed.images",
                "images": [
                    {
                        "alt": "",
                        "image": self._blob("image/jpeg"),
                        "aspectRatio": {"width": 1200, "height": 900},
                    }
                    for _ in range(rng.choice((1, 1, 1, 2, 4)))
                ],
            }
        elif kind < 0.3:
            record["embed"] = {
                "$type": "app.bsky.embed.external",
                "external": {
                    "uri": f"https://{rng.choice(_DOMAINS)}/{rng.randrange(10**9)}",
                    "title": " ".join(rng.choices(_WORDS, k=6)),
                    "description": " ".join(rng.choices(_WORDS, k=rng.randrange(0, 30))),
                    "thumb": self._blob("image/jpeg"),
                },
            }
        elif kind < 0.38:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": self._ref(0)}
        return record

    def _did(self) -> str:
        return self.rng.choice(self.others)

    def _ref(self, micros: int) -> dict[str, str]:
        """A strong reference to someone's post (a made-up one: nothing resolves it)."""
        rng = self.rng
        when = (micros or 1_700_000_000_000_000) - rng.randrange(1, 30 * 86_400 * 10**6)
        digest = rng.randbytes(32)
        cid = CID.decode(b"\x01\x71\x12\x20" + digest).encode()
        rkey = tid_from_parts(when, rng.randrange(1024))
        return {"uri": f"at://{self._did()}/{POST}/{rkey}", "cid": cid}

    def _blob(self, mime: str) -> dict[str, Any]:
        ref = CID.decode(b"\x01\x55\x12\x20" + self.rng.randbytes(32))
        size = self.rng.randrange(20_000, 900_000)
        return {"$type": "blob", "ref": ref, "mimeType": mime, "size": size}


__all__ = ["FOLLOW", "LIKE", "MIX", "POST", "REPOST", "RecordMaker", "iso_time"]
