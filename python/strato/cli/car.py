"""``strato car inspect`` and ``strato car verify``: reading CAR v1 files from disk, streaming
(the reader in the Rust core checks every block's hash), and reporting what they hold."""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from strato import CID
from strato.car import CarReader
from strato.cli.console import write_text

CODEC_NAMES: Final = {0x71: "dag-cbor", 0x55: "raw", 0x70: "dag-pb"}


def add_car_commands(groups: Any) -> None:
    car = groups.add_parser(
        "car",
        help="inspect or verify a CAR v1 file",
        description="Read CAR v1 files (as used for atproto repositories), streaming them from "
        "disk so that files larger than memory work.",
    )
    commands = car.add_subparsers(dest="command", required=True, metavar="{inspect,verify}")
    inspect = commands.add_parser(
        "inspect",
        help="print a summary of a CAR file",
        description="Print a summary of a CAR file: its size, its roots, the number of blocks, "
        "the total, smallest and largest block data size, the number of blocks per codec, and "
        "the verification result: every block's data is hashed and checked against its CID. "
        "A block that does not match, or a file that is not a valid CAR, prints one error line "
        "with the byte offset of the bad block and exits with 1.",
    )
    inspect.add_argument("file", metavar="FILE", help="path of the CAR file")
    inspect.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one JSON object (keys: file, size, roots, blocks, "
        "total_block_bytes, min_block_size, max_block_size, codecs, verified)",
    )
    inspect.set_defaults(handler=cmd_car_inspect)
    verify = commands.add_parser(
        "verify",
        help="check a CAR file and every block hash",
        description="Read the whole CAR file, checking its structure and that every block's "
        "data hashes to its CID. Prints 'ok: N blocks, root <CID>' and exits with 0 if the "
        "file is valid; otherwise prints one error line naming the problem and its byte offset "
        "and exits with 1.",
    )
    verify.add_argument("file", metavar="FILE", help="path of the CAR file")
    verify.set_defaults(handler=cmd_car_verify)


@dataclass
class CarSummary:
    """What ``car inspect`` reports, gathered block by block."""

    file: str
    size: int
    roots: list[str]
    blocks: int = 0
    total_block_bytes: int = 0
    min_block_size: int | None = None
    max_block_size: int | None = None
    codecs: Counter[str] = field(default_factory=Counter)

    def add(self, cid: CID, data: bytes) -> None:
        """Account for one block."""
        size = len(data)
        self.blocks += 1
        self.total_block_bytes += size
        if self.min_block_size is None or size < self.min_block_size:
            self.min_block_size = size
        if self.max_block_size is None or size > self.max_block_size:
            self.max_block_size = size
        self.codecs[codec_name(cid.codec)] += 1

    def as_json(self) -> dict[str, Any]:
        """The summary as a JSON-ready dict."""
        return {
            "file": self.file,
            "size": self.size,
            "roots": self.roots,
            "blocks": self.blocks,
            "total_block_bytes": self.total_block_bytes,
            "min_block_size": self.min_block_size,
            "max_block_size": self.max_block_size,
            "codecs": dict(sorted(self.codecs.items())),
            "verified": True,
        }

    def as_text(self) -> str:
        """The summary as human-readable lines."""
        lines = [f"file: {self.file}", f"size: {self.size} bytes", f"roots: {len(self.roots)}"]
        lines += [f"  {root}" for root in self.roots]
        lines.append(f"blocks: {self.blocks}")
        lines.append(
            f"block bytes: total {self.total_block_bytes}, "
            f"min {_or_dash(self.min_block_size)}, max {_or_dash(self.max_block_size)}"
        )
        codecs = ", ".join(f"{name} {n}" for name, n in sorted(self.codecs.items()))
        lines.append(f"codecs: {codecs or '-'}")
        lines.append(f"verification: ok (all {self.blocks} block hashes match)")
        return "\n".join(lines)


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def codec_name(code: int) -> str:
    """The multicodec name of a codec code, or its hex code when unknown."""
    return CODEC_NAMES.get(code, f"0x{code:x}")


def summarize_car(path: str) -> CarSummary:
    """Stream through the CAR at ``path``, gathering a summary; the reader checks every block's
    hash (in the Rust core) and raises ``CARError`` at the first bad one."""
    size = os.stat(path).st_size
    with CarReader(path, verify=True) as reader:
        summary = CarSummary(file=path, size=size, roots=[str(root) for root in reader.roots])
        for cid, data in reader:
            summary.add(cid, data)
    return summary


def cmd_car_inspect(args: argparse.Namespace) -> int:
    summary = summarize_car(args.file)
    if args.json:
        write_text(json.dumps(summary.as_json(), indent=2) + "\n")
    else:
        write_text(summary.as_text() + "\n")
    return 0


def cmd_car_verify(args: argparse.Namespace) -> int:
    with CarReader(args.file, verify=True) as reader:
        roots = [str(root) for root in reader.roots]
        count = sum(1 for _ in reader)
    write_text(f"ok: {count} blocks, {_roots_phrase(roots)}\n")
    return 0


def _roots_phrase(roots: list[str]) -> str:
    if not roots:
        return "no root"
    if len(roots) == 1:
        return f"root {roots[0]}"
    return "roots " + ", ".join(roots)
