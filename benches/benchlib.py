"""Helpers shared by the Python comparison scripts under ``benches/``.

This module owns what ``compare.py``, ``crypto_compare.py`` and ``repo_compare.py`` have in
common: the timing (:class:`Timing`, :func:`measure`, best and median of several runs with the
garbage collector disabled), the result rows and their table with ratios "peer time per item /
strato time per item" against the first strato row of each operation, the goal table, the
environment lines printed above every report, the refusal to time a debug build, and a minimal
independent CAR reader used by correctness flags.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import strato
from strato import _core

# -- timing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Seconds for one run over ``items`` items: best and median of the repeats."""

    best: float
    median: float
    items: int

    def per_item(self, which: str = "best") -> float:
        return float(getattr(self, which)) / max(self.items, 1)


def measure(fn: Callable[[], object], items: int, repeat: int) -> Timing:
    """Run ``fn`` ``repeat`` times with gc disabled; results are dropped after the clock stops."""
    times: list[float] = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        del result
        times.append(elapsed)
    return Timing(min(times), statistics.median(times), items)


@dataclass(frozen=True)
class Row:
    """One measurement. ``correct`` is the row's cross-check (None: not checked)."""

    operation: str
    library: str
    timing: Timing
    correct: bool | None
    note: str = ""


# -- report -----------------------------------------------------------------------------------


def fmt_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e9:.0f} ns"


def reference_rows(rows: Iterable[Row]) -> dict[str, Row]:
    """The first strato row of each operation."""
    refs: dict[str, Row] = {}
    for row in rows:
        if row.library == "strato":
            refs.setdefault(row.operation, row)
    return refs


def ratio(row: Row, ref: Row, which: str = "best") -> float:
    """``row``'s time per item over ``ref``'s (> 1: ``ref`` is faster)."""
    return row.timing.per_item(which) / ref.timing.per_item(which)


TABLE_HEAD = (
    "operation",
    "library",
    "items",
    "best",
    "median",
    "per item",
    "ratio (best)",
    "ratio (median)",
    "correct",
    "note",
)


def table(rows: Sequence[Row], markdown: bool) -> str:
    """One line per row; ratios against the first strato row of the same operation ("-" if
    the operation has none)."""
    refs = reference_rows(rows)
    lines: list[Sequence[str]] = [TABLE_HEAD]
    for row in rows:
        ref = refs.get(row.operation)
        lines.append(
            (
                row.operation,
                row.library,
                str(row.timing.items),
                fmt_seconds(row.timing.best),
                fmt_seconds(row.timing.median),
                fmt_seconds(row.timing.per_item()),
                "-" if ref is None else f"{ratio(row, ref):.2f}",
                "-" if ref is None else f"{ratio(row, ref, 'median'):.2f}",
                "-" if row.correct is None else ("yes" if row.correct else "NO"),
                row.note,
            )
        )
    return render(lines, markdown)


def render(lines: Sequence[Sequence[str]], markdown: bool) -> str:
    """A table whose first line is the head: markdown, or aligned plain text."""
    head, body = lines[0], lines[1:]
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(line) + " |" for line in body]
        return "\n".join(out)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


@dataclass(frozen=True)
class Goal:
    """The row of ``library`` (and ``note``, if given) in ``operation`` must have a ratio of at
    least ``target`` against the operation's strato reference row."""

    operation: str
    library: str
    target: float
    note: str | None = None
    label: str | None = None

    def describe(self) -> str:
        return self.label or f"{self.operation}: >= {self.target}x {self.library}"

    def matches(self, row: Row) -> bool:
        return (row.operation, row.library) == (self.operation, self.library) and (
            self.note is None or row.note == self.note
        )


def goal_table(rows: Sequence[Row], goals: Iterable[Goal], markdown: bool) -> str:
    """Each goal with its ratios (best, median) and whether the best one meets it."""
    refs = reference_rows(rows)
    lines: list[Sequence[str]] = [("goal", "ratio (best)", "ratio (median)", "status")]
    for goal in goals:
        row = next(r for r in rows if goal.matches(r))
        best, median = ratio(row, refs[goal.operation]), ratio(row, refs[goal.operation], "median")
        lines.append(
            (
                goal.describe(),
                f"{best:.2f}",
                f"{median:.2f}",
                "met" if best >= goal.target else "not met",
            )
        )
    return render(lines, markdown)


# -- environment ------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        if package == "strato":  # e.g. imported from a source tree via PYTHONPATH
            return f"{strato.__version__} (no package metadata)"
        return "not installed"


def environment(profile: str, packages: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """The lines printed above a report: date, Python, CPU, build profile, package versions."""
    lines = [
        f"date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"python: {platform.python_implementation()} {platform.python_version()}"
        f" ({platform.platform()})",
        f"cpu: {cpu_model()} ({os.cpu_count()} logical cpus)",
        f"strato build profile: {profile}",
    ]
    lines += [f"{name}: {version(name)}" for name in packages]
    lines += extra
    return lines


def add_run_flags(parser: argparse.ArgumentParser, quick_help: str) -> None:
    """The flags every comparison script takes: ``--quick``, ``--markdown``, ``--allow-debug``."""
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument(
        "--allow-debug",
        action="store_true",
        help="run even if strato is not a release build (numbers meaningless)",
    )


def build_profile() -> str:
    return str(getattr(_core, "build_profile", "unknown"))


def refuse_debug(script: str, profile: str, allow_debug: bool) -> bool:
    """Prints why and returns True if ``profile`` is not a release build (unless allowed)."""
    if profile == "release" or allow_debug:
        return False
    print(
        f"{script}: strato is a {profile!r} build; build it with --release (or pass --allow-debug)",
        file=sys.stderr,
    )
    return True


# -- an independent CAR reader ------------------------------------------------------------------


def varint(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned LEB128 at ``pos`` and the position after it."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def car_sections(data: bytes) -> tuple[bytes, Iterator[tuple[bytes, bytes]]]:
    """Header bytes and the ``(cid, block)`` sections of a CAR, by a minimal reader that
    assumes 36-byte CIDs (CIDv1, sha2-256), as in every CAR these scripts build."""
    length, pos = varint(data, 0)
    header = data[pos : pos + length]

    def sections(pos: int) -> Iterator[tuple[bytes, bytes]]:
        while pos < len(data):
            length, pos = varint(data, pos)
            yield data[pos : pos + 36], data[pos + 36 : pos + length]
            pos += length

    return header, sections(pos + length)


def scan_car(data: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """Header bytes and blocks of a CAR (the first copy of a repeated block), by
    :func:`car_sections`; for correctness flags."""
    header, sections = car_sections(data)
    blocks: dict[bytes, bytes] = {}
    for cid, block in sections:
        blocks.setdefault(cid, block)
    return header, blocks


def links_as_bytes(obj: Any) -> Any:
    """A decoded value with every link replaced by its binary CID (libipld's representation)."""
    if isinstance(obj, dict):
        return {k: links_as_bytes(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [links_as_bytes(v) for v in obj]
    if isinstance(obj, (str, bytes, int, bool)) or obj is None:
        return obj
    return bytes(obj)
