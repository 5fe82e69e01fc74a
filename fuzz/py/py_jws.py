"""atheris target: the Authorization header through every verifier a route can use.

The input's first byte picks one of ``strato.xrpc.auth``'s verifiers (access, refresh,
optional access, service, access-or-service, admin: :data:`VERIFIERS`, by the byte modulo
their number), the rest is the header's value (bytes, as a client sends them). The verifier
sees it as its routes do, so JWS parsing (``strato.xrpc.jws``), the session-token checks and
the service-token checks (with a key resolver that answers at once) are all reached. It must
return credentials or raise an ``XrpcError`` of status 400 or 401; nothing else. The seeds
(fuzz/seeds.py) are tokens signed with the secret and keys below, so that mutations start
past the signature checks.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import atheris
import harness
from starlette.requests import Request

with atheris.instrument_imports(include=["strato"]):
    from strato.crypto import K256, P256, PrivateKey, PublicKey
    from strato.xrpc.auth import Authenticator, AuthVerifier, ServiceAuthVerifier
    from strato.xrpc.errors import XrpcError

#: The seeds' clock: their tokens expire one minute after it.
NOW = 1_767_225_600 - 60
SECRET = b"secret"
SERVICE_DID = "did:web:fuzz.test"
KEYS = {
    curve: PrivateKey.from_bytes(bytes(31) + b"\x07", curve).public_key for curve in (K256, P256)
}


async def resolve_key(did: str, key_id: str, refresh: bool) -> PublicKey:
    return KEYS[P256] if key_id == "p256" else KEYS[K256]


SERVICE = ServiceAuthVerifier(frozenset({SERVICE_DID}), resolve_key, clock=lambda: NOW)
AUTH = Authenticator(SECRET, SERVICE_DID, "admin-password-0123", SERVICE, clock=lambda: NOW)
VERIFIERS: list[AuthVerifier] = [
    AUTH.access(),
    AUTH.refresh(),
    AUTH.optional_access(),
    AUTH.service(),
    AUTH.access_or_service(),
    AUTH.admin(),
]


def finish(awaitable: Awaitable[Any]) -> None:
    """Run a verifier's coroutine, which never waits (the resolver answers at once), to its end."""
    try:
        next(awaitable.__await__())
    except StopIteration:
        return
    raise AssertionError("a verifier waited")


def one_input(data: bytes) -> None:
    if not data:
        return
    verify = VERIFIERS[data[0] % len(VERIFIERS)]
    request = Request({"type": "http", "headers": [(b"authorization", data[1:])]})
    try:
        finish(verify(request, "com.atproto.repo.getRecord"))
    except XrpcError as err:
        if err.status not in (400, 401):
            raise AssertionError(f"a header refused with status {err.status}") from err


if __name__ == "__main__":
    harness.run(one_input)
