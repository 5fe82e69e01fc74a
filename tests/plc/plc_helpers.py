"""Helpers shared by the PLC tests: fixed keys, a settable clock, building signed logs, and a
directory served by uvicorn on a loopback port in a thread."""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from localnet import serve_app
from starlette.applications import Starlette
from strato.crypto import PrivateKey
from strato.identity.plc import create_genesis

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


def serve(app: Starlette) -> AbstractContextManager[str]:
    """Run ``app`` on 127.0.0.1 (any free port) in a thread; yields its URL."""
    return serve_app(app)
