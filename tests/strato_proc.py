"""strato commands as child processes for tests: free loopback ports, starting ``python -m
strato ...`` with its log in a file, waiting until a URL answers, stopping."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_ports(count: int) -> list[int]:
    """``count`` different ports nothing listens on now (on 127.0.0.1)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port() -> int:
    """A port nothing listens on now (on 127.0.0.1)."""
    return free_ports(1)[0]


def strato_env(**extra: str) -> dict[str, str]:
    """The environment of a child ``strato``: this one without the servers' settings
    (``STRATO_PDS_*``, ``STRATO_RELAY_*``, ``STRATO_PLC_*``, ``STRATO_UP_*``), plus ``extra``."""
    own = ("STRATO_PDS_", "STRATO_RELAY_", "STRATO_PLC_", "STRATO_UP_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(own)}
    return {**env, **extra}


def interruptible_children() -> None:
    """Let the children started next stop on Ctrl-C (SIGINT), as from a terminal. A shell runs
    a background job with SIGINT ignored, children inherit that, and a Python child whose
    SIGINT is ignored at start never raises KeyboardInterrupt; a handler, unlike an ignored
    signal, is reset to the default in an exec'd child. Call from the main thread."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def start(
    log: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdout: int | None = None,
    umask: int = -1,
) -> subprocess.Popen[str]:
    """``python -m strato ARGS`` with its stderr in ``log`` (appended); ``umask`` is the
    child's (-1: this process's)."""
    interruptible_children()
    with log.open("a") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "strato", *args],
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            stderr=err,
            env=env if env is not None else strato_env(),
            text=True,
            umask=umask,
        )


def wait_until_up(process: subprocess.Popen[str], url: str, log: Path, timeout: float = 60) -> None:
    """Wait until ``url`` answers 200; fail with the log if the process ends first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer:\n{log.read_text()}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    """Send ``sig`` (if still running), wait, close its stdout; the exit status."""
    if process.poll() is None:
        process.send_signal(sig)
    code = process.wait(timeout=60)
    if process.stdout is not None:
        process.stdout.close()
    return code
