"""Seed corpora for the fuzz targets, extracted at run time from the shared fixtures.

Nothing under ``shared/`` is committed: this script reads ``shared/interop`` and
``shared/testdata`` and writes one folder per target under ``fuzz/seeds/`` (one file per seed,
named by its SHA-256): DAG-CBOR blocks from the CAR files and ``.cbor`` records, small CARs
rebuilt from those blocks and the CAR slices of captured firehose messages, those messages as
whole frames, CIDs in binary and text, MST nodes and commits found among the blocks, JSON
documents of the data-model, lexicon and identity fixtures, and Authorization headers with JWS
tokens made here by strato's own signing code. A few hand-made inputs cover what the fixtures
lack (WebSocket frames; floats, big integers, deep nesting and odd CIDs for the differential
target).

Usage: ``python fuzz/seeds.py --shared ../shared --out fuzz/seeds``
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from strato import dagcbor
from strato._core import CID, read_car, write_car
from strato.crypto import K256, P256, PrivateKey
from strato.xrpc import jws

#: Seeds kept per target (the fixtures give a few thousand blocks; more only slows start-up).
MAX_SEEDS = 600
#: Blocks per rebuilt CAR.
CAR_BLOCKS = 12


def write_seeds(folder: Path, seeds: Iterable[bytes]) -> int:
    """Write each distinct seed once; returns how many the folder holds."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        if len(list(folder.iterdir())) >= MAX_SEEDS:
            break
        (folder / hashlib.sha256(seed).hexdigest()[:20]).write_bytes(seed)
    return len(list(folder.iterdir()))


def car_files(shared: Path) -> list[Path]:
    testdata = shared / "testdata"
    return sorted({*testdata.rglob("*.car"), *testdata.rglob("*.repo")})


def firehose_bodies(shared: Path) -> list[dict[str, Any]]:
    """The captured ``#commit`` messages as data-model maps."""
    bodies = []
    for path in sorted((shared / "testdata").rglob("firehose_commit_*.json")):
        body = dagcbor.from_json(json.loads(path.read_text()))
        body.pop("$type", None)
        bodies.append(body)
    return bodies


def blocks_of(data: bytes) -> list[tuple[CID, bytes]]:
    _, blocks = read_car(data)
    return [(cid, bytes(block)) for cid, block in blocks.items()]


def all_blocks(shared: Path) -> list[tuple[CID, bytes]]:
    found: list[tuple[CID, bytes]] = []
    for path in car_files(shared):
        found.extend(blocks_of(path.read_bytes()))
    for body in firehose_bodies(shared):
        found.extend(blocks_of(body["blocks"]))
    return found


def cbor_values(shared: Path, blocks: list[tuple[CID, bytes]]) -> Iterator[bytes]:
    for path in sorted(shared.rglob("*.cbor")):
        yield path.read_bytes()
    for fixture in json.loads((shared / "interop/data-model/data-model-fixtures.json").read_text()):
        yield base64.b64decode(fixture["cbor_base64"] + "==")
    for _, block in blocks:
        yield block


def of_shape(blocks: list[tuple[CID, bytes]], keys: set[str]) -> Iterator[bytes]:
    """The blocks decoding to a map holding every key of ``keys``."""
    for _, block in blocks:
        value = dagcbor.decode(block)
        if isinstance(value, dict) and keys <= value.keys():
            yield block


def small_cars(shared: Path, blocks: list[tuple[CID, bytes]]) -> Iterator[bytes]:
    for body in firehose_bodies(shared):
        yield body["blocks"]
    for path in car_files(shared):
        data = path.read_bytes()
        if len(data) <= 4096:
            yield data
    for start in range(0, len(blocks), CAR_BLOCKS):
        chunk = blocks[start : start + CAR_BLOCKS]
        yield write_car([chunk[0][0]], chunk)


def stream_inputs(cars: list[bytes]) -> Iterator[bytes]:
    """A CAR behind its cut list (see fuzz_targets/car_stream.rs): none, and cuts of 1 and 7."""
    for car in cars:
        yield b"\x00" + car
        yield b"\x03" + struct.pack("<3H", 1, 7, 40) + car


def frames(shared: Path) -> Iterator[bytes]:
    for body in firehose_bodies(shared):
        yield dagcbor.encode({"t": "#commit", "op": 1}) + dagcbor.encode(body)
        car = body["blocks"]
        sync = {"did": body["repo"], "rev": body["rev"], "seq": 1, "blocks": car, "time": ""}
        yield dagcbor.encode({"t": "#sync", "op": 1}) + dagcbor.encode(sync)
    yield dagcbor.encode({"op": -1}) + dagcbor.encode({"error": "FutureCursor"})


def ws_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame."""
    mask = b"\x11\x22\x33\x44"
    head = bytes([(0x80 if fin else 0) | opcode])
    if len(payload) < 126:
        head += bytes([0x80 | len(payload)])
    elif len(payload) < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_streams() -> Iterator[bytes]:
    ping, close = ws_frame(0x9, b"hello"), ws_frame(0x8, struct.pack(">H", 1000) + b"bye")
    data, text = ws_frame(0x2, bytes(300)), ws_frame(0x1, b"x" * 70_000)
    yield b"\x00" + ping
    yield b"\x00" + close
    yield b"\x00" + ws_frame(0x8, b"")
    yield b"\x00" + ws_frame(0xA, b"pong")
    yield b"\x02\x03\x05" + data + ping + close
    yield b"\x04\x01\x01\x10\x20" + ws_frame(0x0, b"c", fin=False) + text[:200] + ping


def cid_texts(shared: Path) -> Iterator[bytes]:
    for name in ("cid_syntax_valid.txt", "cid_syntax_invalid.txt"):
        for line in (shared / "interop/syntax" / name).read_text().splitlines():
            if line and not line.startswith("#"):
                yield line.encode()
    for fixture in json.loads((shared / "interop/firehose/commit-proof-fixtures.json").read_text()):
        for key in ("leafValue", "rootBeforeCommit", "rootAfterCommit"):
            yield fixture[key].encode()


def cids(shared: Path, blocks: list[tuple[CID, bytes]]) -> Iterator[bytes]:
    yield from cid_texts(shared)
    for cid, _ in blocks[:200]:
        yield bytes(cid)
        yield cid.encode("base58btc").encode()
        yield cid.encode("base16").encode()
    yield b"\x01\x55\x00\x05hello"  # an identity-hash raw CID
    yield b"mAXESIA"  # base64 multibase


def json_documents(shared: Path) -> Iterator[bytes]:
    for path in sorted(shared.rglob("*.json")):
        yield path.read_bytes()
        document = json.loads(path.read_bytes())
        items = document if isinstance(document, list) else [document]
        for item in items:
            yield json.dumps(item, ensure_ascii=False).encode()
            for key in ("json", "data", "value", "record"):
                if isinstance(item, dict) and key in item:
                    yield json.dumps(item[key], ensure_ascii=False).encode()


def tokens() -> Iterator[bytes]:
    """Authorization headers with tokens made with fuzz/py/py_jws.py's secret, keys and clock,
    each behind the byte that picks one of its six verifiers."""
    for header in headers():
        for verifier in range(6):
            yield bytes([verifier]) + header


def headers() -> Iterator[bytes]:
    now = 1_767_225_600
    claims = {"iss": "did:plc:abcdefghijklmnopqrstuvwx", "aud": "did:web:fuzz.test", "exp": now}
    made = []
    for curve, kid in ((K256, "#atproto"), (P256, "#p256")):
        key = PrivateKey.from_bytes(bytes(31) + b"\x07", curve)
        made.append(jws.encode_ecdsa({**claims, "lxm": "com.atproto.repo.getRecord"}, key))
        made.append(jws.encode_ecdsa({**claims, "jti": "x", "iat": now - 70}, key, kid=kid))
    session = {"scope": "com.atproto.access", "sub": claims["iss"], "aud": claims["aud"]}
    made.append(jws.encode_hs256({**session, "exp": now, "iat": now - 1}, b"secret", "at+jwt"))
    refresh = {**session, "scope": "com.atproto.refresh", "exp": now, "jti": "r"}
    made.append(jws.encode_hs256(refresh, b"secret", "refresh+jwt"))
    made.append("eyJhbGciOiJub25lIn0.e30.")
    for token in made:
        yield f"Bearer {token}".encode()
    yield b"Basic " + base64.b64encode(b"admin:admin-password-0123")
    yield b"DPoP abc"


def differential_extras() -> Iterator[bytes]:
    """Inputs on the intended differences (see fuzz/README.md): floats, integers past 64-bit
    signed, deep nesting, CIDs."""
    yield b"\xfb" + struct.pack(">d", 1.5)
    yield b"\xa1\x61a\xf9\x3c\x00"
    yield b"\x1b" + b"\xff" * 8
    yield b"\x3b\x80" + bytes(7)
    yield b"\x81" * 64 + b"\x00"
    yield b"\x81" * 65 + b"\x00"
    yield b"\xd8\x2a\x45\x00\x01\x55\x00\x00"
    yield b"\xd8\x2a\x43\x00\x12\x20"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    shared: Path = args.shared
    if not (shared / "interop").is_dir() or not (shared / "testdata").is_dir():
        raise SystemExit(f"{shared} has no interop/ and testdata/")
    blocks = all_blocks(shared)
    values = list(cbor_values(shared, blocks))
    cars = list(small_cars(shared, blocks))
    corpora: dict[str, Iterable[bytes]] = {
        "dagcbor": values,
        "car_read": cars,
        "car_stream": stream_inputs(cars),
        "firehose_frame": frames(shared),
        "ws_frame": ws_streams(),
        "cid_multibase": cids(shared, blocks),
        "mst_node": of_shape(blocks, {"e", "l"}),
        "commit": of_shape(blocks, {"did", "sig", "data"}),
        "py_json": json_documents(shared),
        "py_jws": tokens(),
        "py_dagcbor_diff": [*differential_extras(), *values],
    }
    for target, seeds in corpora.items():
        count = write_seeds(args.out / target, seeds)
        print(f"{target:16} {count} seeds")
    os.sync()


if __name__ == "__main__":
    main()
