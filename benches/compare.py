"""Compare strato with peer Python libraries on the same data, in one process.

This module owns the Python-side performance comparison under ``benches/`` (the Rust
criterion benches live next to it). It times strato against libipld, cbrrr and the pure
Python dag-cbor package on:

1. DAG-CBOR decode of N generated records (results discarded / all kept alive in a list),
   plus one-call ``decode_multi`` of the concatenated records;
2. DAG-CBOR encode of the same records (discarded / kept);
3. CID to string, string to CID, and CID computation;
4. CAR parsing of the synthetic repo (``benches/data/repo.car``): strato ``read_car`` with
   verification against libipld ``decode_car`` (which verifies no hashes but decodes every
   block), and the same with strato also decoding every block.

Each timing is the best (min) and median of several runs with the garbage collector disabled
during the run. Ratios are "peer time / strato time" per item (> 1 means strato is faster).
Each row carries a correctness flag: the library decodes to the generated values, encodes to
the same bytes as strato, or reads the same blocks.

It refuses to run on a strato debug build unless ``--allow-debug`` is given.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import make_repo_car
import records
import strato
from benchlib import (
    Row,
    add_run_flags,
    build_profile,
    environment,
    links_as_bytes,
    measure,
    refuse_debug,
    scan_car,
    table,
)
from strato import car, dagcbor

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_CAR = DATA_DIR / "repo.car"
PACKAGES = ("strato", "libipld", "cbrrr", "dag-cbor", "multiformats", "atmst")


Case = tuple[Callable[[], object], int, bool]
"""What a benchmark case prepares: the run to time, items per run, and the correctness flag."""


# -- libraries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Library:
    """One library's entry points, wrapped to a common shape. ``None`` = not offered."""

    name: str
    make_link: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    decode_multi: Callable[[bytes], list[Any]] | None = None
    cid_to_str: Callable[[Any], str] | None = None
    cid_from_str: Callable[[str], Any] | None = None
    cid_bytes: Callable[[Any], bytes] = bytes
    cid_compute: Callable[[bytes], Any] | None = None
    read_car: Callable[[bytes], tuple[list[Any], dict[Any, Any]]] | None = None
    pure_python: bool = False
    note: str = ""


def strato_library() -> Library:
    return Library(
        name="strato",
        make_link=strato.CID.decode,
        encode=dagcbor.encode,
        decode=dagcbor.decode,
        decode_multi=dagcbor.decode_multi,
        cid_to_str=str,
        cid_from_str=strato.CID.decode,
        cid_compute=strato.CID.compute,
    )


def libipld_library() -> Library:
    libipld = importlib.import_module("libipld")

    def cid_bytes(parsed: dict[str, Any]) -> bytes:
        # decode_cid returns a dict; rebuild the binary form (single-byte varints here).
        mh = parsed["hash"]
        return bytes([parsed["version"], parsed["codec"], mh["code"], mh["size"]]) + bytes(
            mh["digest"]
        )

    def read_car(data: bytes) -> tuple[list[Any], dict[Any, Any]]:
        header, blocks = libipld.decode_car(data)
        return header["roots"], blocks

    return Library(
        name="libipld",
        make_link=bytes,  # libipld encodes any bytes that parse as a CID as a tag-42 link
        encode=libipld.encode_dag_cbor,
        decode=libipld.decode_dag_cbor,
        decode_multi=libipld.decode_dag_cbor_multi,
        cid_to_str=libipld.encode_cid,
        cid_from_str=libipld.decode_cid,
        cid_bytes=cid_bytes,
        read_car=read_car,
        note="links are plain bytes",
    )


def cbrrr_library() -> Library:
    cbrrr = importlib.import_module("cbrrr")

    def decode_multi(data: bytes) -> list[Any]:
        return list(cbrrr.decode_multi_dag_cbor_in_violation_of_the_spec(data))

    return Library(
        name="cbrrr",
        make_link=cbrrr.CID,
        encode=cbrrr.encode_dag_cbor,
        decode=cbrrr.decode_dag_cbor,
        decode_multi=decode_multi,
        cid_to_str=cbrrr.CID.encode,
        cid_from_str=cbrrr.CID.decode,
        cid_compute=cbrrr.CID.cidv1_dag_cbor_sha256_32_from,
    )


def dag_cbor_library() -> Library:
    dag_cbor = importlib.import_module("dag_cbor")
    cid_type = importlib.import_module("multiformats").CID

    return Library(
        name="dag-cbor",
        make_link=cid_type.decode,
        encode=dag_cbor.encode,
        decode=dag_cbor.decode,
        cid_to_str=lambda cid: str(cid.encode("base32")),
        cid_from_str=cid_type.decode,
        pure_python=True,
        note="pure Python, subset",
    )


def load_libraries() -> tuple[Library, list[Library], list[str]]:
    """strato (required) and every installed peer; also the names of missing peers."""
    peers: list[Library] = []
    missing: list[str] = []
    for factory in (libipld_library, cbrrr_library, dag_cbor_library):
        try:
            peers.append(factory())
        except ImportError:
            missing.append(factory.__name__.removesuffix("_library").replace("_", "-"))
    return strato_library(), peers, missing


# -- data -------------------------------------------------------------------------------------


@dataclass
class Corpus:
    """The records encoded once (by strato), and each library's own view of the values."""

    blobs: list[bytes]
    values: dict[str, list[Any]]
    car: bytes
    car_source: str

    def count_for(self, lib: Library) -> int:
        return len(self.values[lib.name])


def build_corpus(ref: Library, libs: Sequence[Library], args: argparse.Namespace) -> Corpus:
    values = {
        lib.name: records.generate(
            args.pure_count if lib.pure_python else args.count, args.seed, lib.make_link
        )
        for lib in libs
    }
    blobs = [ref.encode(v) for v in values[ref.name]]
    if args.quick:
        car = make_repo_car.build_repo_car(args.count, args.seed)
        source = f"in memory, {args.count} records"
    else:
        car = args.car.read_bytes()
        source = str(args.car)
    return Corpus(blobs, values, car, source)


# -- benchmarks -------------------------------------------------------------------------------


def _discard(fn: Callable[[Any], object], items: Iterable[Any]) -> None:
    for item in items:
        fn(item)


def _keep(fn: Callable[[Any], object], items: Iterable[Any]) -> list[object]:
    return [fn(item) for item in items]


def _collect(
    op: str,
    libs: Sequence[Library],
    repeat: int,
    case: Callable[[Library], Case | None],
) -> list[Row]:
    """One row per library that offers ``op``; ``case`` gives (run, items, correct)."""
    rows = []
    for lib in libs:
        prepared = case(lib)
        if prepared is None:
            continue
        run, items, correct = prepared
        rows.append(Row(op, lib.name, measure(run, items, repeat), correct, lib.note))
    return rows


def bench_decode(libs: Sequence[Library], corpus: Corpus, repeat: int) -> list[Row]:
    rows: list[Row] = []
    for mode, runner in (("discard", _discard), ("keep", _keep)):

        def case(lib: Library, runner: Callable[..., object] = runner) -> Case:
            n = corpus.count_for(lib)
            blobs = corpus.blobs[:n]
            decoded = [lib.decode(b) for b in blobs]
            ok = decoded == corpus.values[lib.name] and [lib.encode(v) for v in decoded] == blobs
            return (lambda: runner(lib.decode, blobs)), n, ok

        rows += _collect(f"decode ({mode})", libs, repeat, case)

    buffer = b"".join(corpus.blobs)

    def multi(lib: Library) -> Case | None:
        if lib.decode_multi is None or lib.pure_python:
            return None
        decode_multi = lib.decode_multi
        ok = decode_multi(buffer) == corpus.values[lib.name]
        return (lambda: decode_multi(buffer)), len(corpus.blobs), ok

    return rows + _collect("decode_multi (one buffer)", libs, repeat, multi)


def bench_encode(libs: Sequence[Library], corpus: Corpus, repeat: int) -> list[Row]:
    rows: list[Row] = []
    for mode, runner in (("discard", _discard), ("keep", _keep)):

        def case(lib: Library, runner: Callable[..., object] = runner) -> Case:
            values = corpus.values[lib.name]
            ok = [lib.encode(v) for v in values] == corpus.blobs[: len(values)]
            return (lambda: runner(lib.encode, values)), len(values), ok

        rows += _collect(f"encode ({mode})", libs, repeat, case)
    return rows


def bench_cids(libs: Sequence[Library], corpus: Corpus, repeat: int) -> list[Row]:
    cids = [strato.CID.compute(b) for b in corpus.blobs]
    raw = [bytes(c) for c in cids]
    strings = [str(c) for c in cids]

    def to_str(lib: Library) -> Case | None:
        if lib.cid_to_str is None:
            return None
        to_s = lib.cid_to_str
        n = corpus.count_for(lib)
        objs = [lib.make_link(r) for r in raw[:n]]
        ok = [to_s(c) for c in objs] == strings[:n]
        return (lambda: _discard(to_s, objs)), n, ok

    def from_str(lib: Library) -> Case | None:
        if lib.cid_from_str is None:
            return None
        parse = lib.cid_from_str
        n = corpus.count_for(lib)
        texts = strings[:n]
        ok = [lib.cid_bytes(parse(s)) for s in texts] == raw[:n]
        return (lambda: _discard(parse, texts)), n, ok

    def compute(lib: Library) -> Case | None:
        if lib.cid_compute is None:
            return None
        digest = lib.cid_compute
        ok = [bytes(digest(b)) for b in corpus.blobs] == raw
        return (lambda: _discard(digest, corpus.blobs)), len(raw), ok

    return (
        _collect("CID -> str", libs, repeat, to_str)
        + _collect("str -> CID", libs, repeat, from_str)
        + _collect("CID compute (sha-256)", libs, repeat, compute)
    )


def bench_car(libs: Sequence[Library], corpus: Corpus, repeat: int) -> list[Row]:
    data = corpus.car
    header, raw_blocks = scan_car(data)
    roots = [bytes(r) for r in dagcbor.decode(header)["roots"]]
    decoded = {cid: links_as_bytes(dagcbor.decode(block)) for cid, block in raw_blocks.items()}
    n = len(raw_blocks)

    def same_raw(result: tuple[list[Any], dict[Any, bytes]]) -> bool:
        got_roots, got = result
        return [bytes(r) for r in got_roots] == roots and {
            bytes(c): b for c, b in got.items()
        } == raw_blocks

    def same_decoded(got_roots: list[Any], got: dict[Any, Any]) -> bool:
        return [bytes(r) for r in got_roots] == roots and {
            bytes(c): links_as_bytes(v) for c, v in got.items()
        } == decoded

    def read_and_decode() -> tuple[list[Any], dict[Any, Any]]:
        got_roots, got = car.read_car(data, verify=True)
        return got_roots, {cid: dagcbor.decode(block) for cid, block in got.items()}

    def stream() -> tuple[list[Any], dict[Any, bytes]]:
        with car.CarReader(io.BytesIO(data)) as reader:
            return reader.roots, dict(reader)

    def row(op: str, run: Callable[[], object], ok: bool, note: str) -> Row:
        return Row(op, "strato", measure(run, n, repeat), ok, note)

    rows = [
        row("CAR read", lambda: car.read_car(data), same_raw(car.read_car(data)), "verify=True"),
        row(
            "CAR read",
            lambda: car.read_car(data, verify=False),
            same_raw(car.read_car(data, verify=False)),
            "verify=False",
        ),
        row("CAR read", stream, same_raw(stream()), "CarReader, verify=True"),
    ]
    with_decode = [
        row(
            "CAR read + decode blocks",
            read_and_decode,
            same_decoded(*read_and_decode()),
            "verify=True",
        )
    ]
    for lib in libs:
        if lib.read_car is not None and lib.name != "strato":
            ok = same_decoded(*lib.read_car(data))
            timing = measure(partial(lib.read_car, data), n, repeat)
            note = "no hash check; decodes blocks"
            rows.append(Row("CAR read", lib.name, timing, ok, note))
            with_decode.append(Row("CAR read + decode blocks", lib.name, timing, ok, note))
    return rows + with_decode


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="records to decode/encode")
    parser.add_argument(
        "--pure-count",
        type=int,
        default=5_000,
        help="records for pure-Python peers (dag-cbor); ratios are per item",
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement")
    parser.add_argument("--seed", type=int, default=records.DEFAULT_SEED)
    parser.add_argument("--car", type=Path, default=DEFAULT_CAR, help="repo CAR to read")
    add_run_flags(parser, "smoke run: 2000 records, in-memory CAR, 3 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.pure_count, args.repeat = 2_000, 200, 3
    args.pure_count = min(args.pure_count, args.count)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    profile = build_profile()
    if refuse_debug("compare", profile, args.allow_debug):
        return 2
    if not args.quick and not args.car.exists():
        print(
            f"compare: {args.car} not found; run: python benches/make_repo_car.py", file=sys.stderr
        )
        return 2
    ref, peers, missing = load_libraries()
    libs = [ref, *peers]

    print(
        "\n".join(("- " if args.markdown else "") + line for line in environment(profile, PACKAGES))
    )
    if missing:
        print(f"missing peers (skipped): {', '.join(missing)}")
    corpus = build_corpus(ref, libs, args)
    # The corpus lives for the whole run: move it out of the collector's sight so the
    # gc.collect() before each measurement does not walk millions of objects.
    gc.collect()
    gc.freeze()
    size = sum(map(len, corpus.blobs))
    print(
        f"records: {len(corpus.blobs)} ({size} bytes, {size / len(corpus.blobs):.0f} B avg), "
        f"pure-Python subset {args.pure_count}, repeat {args.repeat}, "
        f"CAR {len(corpus.car)} bytes ({corpus.car_source})"
    )
    print()

    rows = bench_decode(libs, corpus, args.repeat)
    rows += bench_encode(libs, corpus, args.repeat)
    rows += bench_cids(libs, corpus, args.repeat)
    rows += bench_car(libs, corpus, args.repeat)
    print(table(rows, args.markdown))
    print()
    print(
        "ratio = peer time per item / strato time per item (> 1: strato is faster); "
        "dag-cbor runs on a subset and is normalised per item."
    )
    strato_ok = all(row.correct is not False for row in rows if row.library == "strato")
    return 0 if strato_ok else 1


if __name__ == "__main__":
    sys.exit(main())
