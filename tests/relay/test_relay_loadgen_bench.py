"""``benches/relay_bench.py --direct`` end to end on a tiny dataset: simulated hosts, counting
subscribers connected to them, and the table of every measure (the figures themselves are not
checked: only that every event arrived and each measure was taken)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benches" / "relay_bench.py"


def test_direct_mode_measures_everything(tmp_path: Path) -> None:
    command = [sys.executable, str(BENCH), "--direct", "--allow-debug", "--cache", str(tmp_path)]
    command += ["--hosts", "2", "--accounts-per-host", "3", "--events", "60", "--rate", "200"]
    command += ["--latency-seconds", "0.5", "--idle-hosts", "8", "--settle", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("\n\n", 1)[1]
    assert "max sustained events/s" in table
    assert "only" not in table  # every event arrived
    assert "latency p99 at 200 events/s" in table
    assert "100 events" in table
    assert "RSS with 8 hosts (6 idle)" in table
    assert "mode: direct" in done.stdout
