"""Helpers shared by the PLC tests: fixed keys, a settable clock, building signed logs, and a
directory served by uvicorn on a loopback port in a thread."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from strato.crypto import PrivateKey
from strato.plc import create_genesis

HOUR = 3600 * 1_000_000
#: 2025-01-01T00:00:00Z in microseconds.
EPOCH = 1_735_689_600 * 1_000_000


def key(name: str, curve: str = "k256") -> PrivateKey:
    """A fixed private key named ``name``."""
    return PrivateKey.from_bytes(hashlib.sha256(name.encode()).digest(), curve)


def did_key(private: PrivateKey) -> str:
    return private.public_key.did_key()


@dataclass
class Clock:
    """A clock the test moves by hand (µs)."""

    now: int = EPOCH

    def __call__(self) -> int:
        return self.now

    def advance(self, microseconds: int) -> None:
        self.now += microseconds


def genesis(
    rotation: list[PrivateKey], signer: PrivateKey | None = None, handle: str = "alice.test"
) -> tuple[dict[str, Any], str]:
    """A signed atproto genesis operation with ``rotation`` keys (signed by the first unless
    ``signer`` is given) and its DID."""
    return create_genesis(
        signing_key=did_key(key("atproto-signing")),
        rotation_keys=[did_key(k) for k in rotation],
        handle=handle,
        pds_endpoint="https://pds.test",
        signer=signer or rotation[0],
    )


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 (any free port) in a thread; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
