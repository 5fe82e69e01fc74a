"""Tests for the README's set-up: a fresh login shell that follows the set-up section finds the
checkout's ``strato``, and ``make run`` builds the native module only when its inputs changed
(checked with ``make -n`` on a scratch copy of the Makefile, so nothing is built)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What a login shell starts from on Debian (`/etc/login.defs`), not the test's own PATH.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def setup_lines() -> list[str]:
    """The shell lines of the README's set-up block, minus the `make` commands (the venv they
    build is the one running this test) and comments."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set-up and the two commands", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("make ")]


def test_fresh_shell_following_the_readme_finds_strato(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    # The checkout's `.venv` as `make run` leaves it: the environment running this test.
    (checkout / ".venv").symlink_to(sys.prefix)
    # `command -v` names what the shell would run; running it shows the launcher works.
    script = " && ".join(
        ["cd " + str(checkout), *setup_lines(), "strato --help >/dev/null", "command -v strato"]
    )
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        ["/bin/bash", "-lc", script],
        env={"HOME": str(home), "PATH": DEFAULT_PATH},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = Path(done.stdout.strip()).resolve()
    assert found == (checkout / ".venv" / "bin" / "strato").resolve()


def make_dry_run(tree: Path) -> str:
    done = subprocess.run(
        ["make", "-n", "run", "ARGS=--help"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_make_run_rebuilds_only_when_the_native_inputs_change(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_bytes((ROOT / "Makefile").read_bytes())
    source = tmp_path / "rust" / "src" / "lib.rs"
    source.parent.mkdir(parents=True)
    inputs = [source, *(tmp_path / name for name in ("Cargo.toml", "Cargo.lock", "pyproject.toml"))]
    deps = tmp_path / ".venv" / "bin" / ".deps"
    deps.parent.mkdir(parents=True)
    for n, path in enumerate([tmp_path / "requirements-dev.txt", *inputs, deps]):
        path.write_text("")
        os.utime(path, (1_000_000 + n, 1_000_000 + n))

    assert "maturin develop" in make_dry_run(tmp_path)  # never built
    stamp = deps.parent / ".native"
    stamp.write_text("")
    os.utime(stamp, (2_000_000, 2_000_000))
    out = make_dry_run(tmp_path)
    assert "maturin" not in out
    assert "pip" not in out
    assert "strato --help" in out
    for path in inputs:
        os.utime(path, (3_000_000, 3_000_000))
        assert "maturin develop" in make_dry_run(tmp_path), path.name
        os.utime(path, (1_500_000, 1_500_000))
    # new pinned tools: the venv is brought up to date, the core is not rebuilt
    os.utime(tmp_path / "requirements-dev.txt", (3_000_000, 3_000_000))
    out = make_dry_run(tmp_path)
    assert "pip install" in out
    assert "maturin" not in out
