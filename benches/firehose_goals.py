"""The firehose goals of issue 14, measured back to back in one session, and one table of the
ratios against their targets:

1. the PDS's replay from cursor 0 of 100,000 events, read by a raw-socket client in a process
   of its own, at least 3x millipds's on the same harness: ``pds_bench.py --phases replay``
   with the new tree's PDS, then millipds;
2. the PDS's live fan-out to 100 subscribers of events written in advance, at least 5x the old
   tree's (the Python broadcaster): ``pds_fanout_bench.py --old-tree OLD --new-tree NEW``;
3. the relay's fan-out at 250 subscribers within 20% of the old tree's (each row of the new
   tree at least 0.8x the old one's): each tree's own ``benches/relay_fanout_bench.py`` with
   its own ``PYTHONPATH``, the trees alternating ``--relay-runs`` times, best run of each row
   (this VM's runs spread by up to 30-40%: every run's figure is printed to stderr).

The scripts of goals 1 and 2 are this directory's; the servers run from the trees. Every
script's output (stdout) is kept in ``--logs`` (a new temporary directory by default). Takes
about 20 minutes with the defaults (millipds's top-up to 100,000 events is most of goal 1).

    python benches/firehose_goals.py --old-tree ../old --millipds-venv ~/millipds-venv
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchlib import build_profile, environment, refuse_debug, render

HERE = Path(__file__).resolve().parent
REPLAY_GOAL = 3.0
FANOUT_GOAL = 5.0
RELAY_SUBSCRIBERS = 250
#: The relay's rows may be at most this much slower than the old tree's.
RELAY_FLOOR = 0.8
FANOUT_KEY = "live fan-out, 100 subscribers (deliveries/s)"


def run(command: Sequence[str], tree: Path, log: Path) -> str:
    """``command`` with ``tree``'s ``PYTHONPATH``, its progress (stderr) shown; its stdout,
    kept in ``log`` too. Raises if it fails."""
    started = time.monotonic()
    print(f"$ PYTHONPATH={tree}/python {shlex.join(command)}", file=sys.stderr, flush=True)
    env = {**os.environ, "PYTHONPATH": str(tree / "python")}
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    log.write_text(result.stdout)
    if result.returncode:
        raise RuntimeError(f"{command[1]} failed (exit {result.returncode}; output in {log})")
    print(f"  done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return result.stdout


Row = list[str]


def ratio_row(
    goal: str,
    what: str,
    base: float | None,
    new: float | None,
    target: float | None,
    *,
    lower_better: bool = False,
) -> Row:
    """A line of the table: the ratio new/base (base/new when ``lower_better``: times, CPU)
    and, with ``target``, whether it is met."""

    def fmt(value: float | None) -> str:
        if value is None:
            return "not measured"
        return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"

    ratio = status = ""
    if base and new:
        value = base / new if lower_better else new / base
        ratio = f"{value:.2f}x"
        if target is not None:
            status = "met" if value >= target else "NOT MET"
    return [goal, what, fmt(base), fmt(new), ratio, "" if target is None else f">= {target:g}x",
            status]  # fmt: skip


def goal_replay(args: argparse.Namespace, logs: Path) -> list[Row]:
    figures = logs / "pds_bench.json"
    command = [args.python, str(HERE / "pds_bench.py"), "--phases", "replay"]
    command += ["--replay", str(args.replay), "--millipds-venv", str(args.millipds_venv)]
    command += ["--json", str(figures), "--markdown", *shlex.split(args.pds_args)]
    run(command, args.new_tree, logs / "pds_bench.md")
    results = json.loads(figures.read_text())
    key = "replay events/s"
    ours = results["strato"]["values"].get(key)
    theirs = results["millipds"]["values"].get(key)
    what = f"PDS replay from cursor 0, {args.replay:,} events (events/s): millipds, new"
    return [ratio_row("1", what, theirs, ours, REPLAY_GOAL)]


def goal_fanout(args: argparse.Namespace, logs: Path) -> list[Row]:
    figures = logs / "pds_fanout_bench.json"
    command = [args.python, str(HERE / "pds_fanout_bench.py"), "--old-tree", str(args.old_tree)]
    command += ["--new-tree", str(args.new_tree), "--json", str(figures), "--markdown"]
    command += ["--quick"] if args.quick else []
    command += shlex.split(args.fanout_args)
    run(command, args.new_tree, logs / "pds_fanout_bench.md")
    results = json.loads(figures.read_text())
    values = results["values"]
    rows = []
    for key, pair in values.items():
        target = FANOUT_GOAL if key == FANOUT_KEY else None
        cpu = key.startswith("server CPU")  # lower is better: the ratio is old/new
        what = f"PDS {key}: old, new" + (" (ratio old/new)" if cpu else "")
        rows.append(ratio_row("2" if target else "(2)", what, pair["old"], pair["new"], target,
                              lower_better=cpu))  # fmt: skip
    for key, rate in results.get("ceiling", {}).items():
        what = f"the harness's ceiling (a bare server, same clients): {key}"
        rows.append(ratio_row("(2)", what, None, rate, None))
    return rows


def relay_table(output: str) -> dict[str, float]:
    """deliveries/s by run name, from the main markdown table of ``relay_fanout_bench.py``."""
    rows: dict[str, float] = {}
    head: list[str] | None = None
    for line in output.splitlines():
        if not line.startswith("|"):
            if head is not None and rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if head is None:
            if cells[0] == "run":
                head = cells
            continue
        if cells[0].startswith("---"):
            continue
        if len(cells) != len(head):  # the next table (the wake-up's) follows without a gap
            break
        row = dict(zip(head, cells, strict=True))
        if row["subscribers"] == str(RELAY_SUBSCRIBERS):
            rows[row["run"]] = float(row["deliveries/s"].replace(",", ""))
    if not rows:
        raise RuntimeError("relay_fanout_bench.py printed no table")
    return rows


def goal_relay(args: argparse.Namespace, logs: Path) -> list[Row]:
    best: dict[str, dict[str, float]] = {"old": {}, "new": {}}
    spread: dict[str, list[str]] = {}
    for attempt in range(args.relay_runs):
        for label, tree in (("old", args.old_tree), ("new", args.new_tree)):
            command = [args.python, str(tree / "benches" / "relay_fanout_bench.py")]
            command += ["--subscribers", str(RELAY_SUBSCRIBERS), "--repeat", "1", "--markdown"]
            command += ["--quick"] if args.quick else []
            command += shlex.split(args.relay_args)
            output = run(command, tree, logs / f"relay_fanout_bench-{label}-{attempt + 1}.md")
            for name, rate in relay_table(output).items():
                best[label][name] = max(rate, best[label].get(name, 0.0))
                spread.setdefault(name, []).append(f"{label} {rate / 1e3:,.0f}k")
    for name, runs in spread.items():
        print(f"relay runs, {name}: {', '.join(runs)}", file=sys.stderr)
    rows = []
    for name in dict.fromkeys([*best["old"], *best["new"]]):
        # websockets.broadcast is the harness's reference, not strato's fan-out
        target = None if name.startswith("websockets") else RELAY_FLOOR
        what = f"relay fan-out deliveries/s, {RELAY_SUBSCRIBERS} subscribers, {name}: old, new"
        rows.append(ratio_row("3" if target else "(3)", what, best["old"].get(name),
                              best["new"].get(name), target))  # fmt: skip
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old-tree", type=Path, required=True, help="the previous commit's tree")
    parser.add_argument(
        "--new-tree", type=Path, default=HERE.parent, help="the tree measured (default: this one)"
    )
    parser.add_argument(
        "--millipds-venv",
        type=Path,
        default=os.environ.get("MILLIPDS_VENV"),
        help="a venv with millipds installed, for goal 1 (default: $MILLIPDS_VENV)",
    )
    parser.add_argument("--goals", default="1,2,3", help="which goals to measure (default all)")
    parser.add_argument("--replay", type=int, default=100_000, help="events replayed (goal 1)")
    parser.add_argument("--relay-runs", type=int, default=5, help="runs of each tree (goal 3)")
    parser.add_argument("--pds-args", default="", help="more options for pds_bench.py (goal 1)")
    parser.add_argument(
        "--fanout-args", default="", help="more options for pds_fanout_bench.py (goal 2)"
    )
    parser.add_argument(
        "--relay-args", default="", help="more options for relay_fanout_bench.py (goal 3)"
    )
    parser.add_argument("--python", default=sys.executable, help="the interpreter of every run")
    parser.add_argument("--logs", type=Path, help="where the scripts' outputs are kept")
    parser.add_argument("--quick", action="store_true", help="small runs (checks the harness)")
    parser.add_argument("--allow-debug", action="store_true", help="run on a debug build")
    args = parser.parse_args(argv)
    profile = build_profile()
    if refuse_debug("firehose_goals.py", profile, args.allow_debug):
        return 2
    args.old_tree, args.new_tree = args.old_tree.resolve(), args.new_tree.resolve()
    goals = {goal.strip() for goal in args.goals.split(",") if goal.strip()}
    if "1" in goals and args.millipds_venv is None:
        parser.error("goal 1 needs --millipds-venv (or MILLIPDS_VENV)")
    if args.quick:
        args.replay, args.relay_runs = min(args.replay, 2000), 1
    logs = args.logs or Path(tempfile.mkdtemp(prefix="firehose-goals-"))
    logs.mkdir(parents=True, exist_ok=True)
    print(f"outputs in {logs}", file=sys.stderr)
    rows: list[Row] = []
    steps = (("1", goal_replay), ("2", goal_fanout), ("3", goal_relay))
    for goal, step in steps:
        if goal in goals:
            rows += step(args, logs)
    commits = []
    for label, tree in (("old", args.old_tree), ("new", args.new_tree)):
        git = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
                             capture_output=True, text=True, check=False)  # fmt: skip
        commits.append(f"{label} tree: {tree} ({git.stdout.strip()[:72] or 'not a git checkout'})")
    commits.append(f"millipds: {args.millipds_venv}; outputs: {logs}")
    for line in environment(profile, ("strato",), commits):
        print(line)
    print()
    head = ["goal", "measurement: baseline, new", "baseline", "new", "ratio", "target", "status"]
    print(render([head, *rows], markdown=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
