"""What the auth and input matrices share: the method tables, read at collection time from a PDS
and a relay built on a scratch directory (so a method registered tomorrow is in the matrices
without a word here), sample values for the parameters and fields a request needs, and the
network the matrices run against: a PLC directory, a PDS and a relay with admin passwords on
127.0.0.1, and the matrix's accounts (``alice`` and ``bob`` active, ``carol`` taken down,
``dave`` deleted, each with the tokens it held before) and credentials."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
import pytest
from pds_net import LocalPds, run_pds, run_plc
from relay_net import LocalRelay, run_relay
from strato.crypto import PrivateKey
from strato.lexicon.types._base import dec_hook
from strato.pds.app import create_app as create_pds_app
from strato.pds.settings import PdsSettings
from strato.relay.app import create_app as create_relay_app
from strato.relay.routes import admin_paths
from strato.relay.settings import RelaySettings
from strato.xrpc.auth import create_service_jwt, create_session_tokens
from strato.xrpc.method import RawInput
from strato.xrpc.router import XrpcMethod

ADMIN: Final = "matrix-admin-password-0123456789"
ELSEWHERE: Final = "did:web:elsewhere.test"
TID: Final = "3jzfcijpj2z2a"
BLOB_CID: Final = "bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
POST: Final = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-01-01T00:00:00Z"}
#: A value for each required parameter or field a matrix request carries, by name; ``ALICE``
#: stands for alice's DID. A method with a required name missing here fails its matrix tests.
ALICE: Final = "<alice>"
SAMPLES: Final[dict[str, Any]] = {
    "did": ALICE, "repo": ALICE, "dids": [ALICE], "identifier": "alice.test",
    "handle": "alice.test", "hostname": "example.com", "collection": "app.bsky.feed.post",
    "rkey": TID, "cid": BLOB_CID, "cids": [BLOB_CID], "aud": ELSEWHERE, "record": POST,
    "writes": [], "useCount": 1, "codeCount": 1, "limit": 1,
}  # fmt: skip


def basic(password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"admin:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------------------------
# The method tables


@dataclass(frozen=True)
class Tables:
    """The XRPC methods of the PDS and of the relay by NSID, and the relay's ``/admin/``
    paths (method, path)."""

    pds: dict[str, XrpcMethod]
    relay: dict[str, XrpcMethod]
    relay_admin_paths: list[tuple[str, str]]

    def params(self) -> list[Any]:
        """pytest parameters ``(server, nsid)`` of every method of the PDS and the relay."""
        return [
            pytest.param(server, nsid, id=f"{server}:{nsid}")
            for server, table in (("pds", self.pds), ("relay", self.relay))
            for nsid in sorted(table)
        ]

    def method(self, server: str, nsid: str) -> XrpcMethod:
        return (self.pds if server == "pds" else self.relay)[nsid]


@functools.cache
def tables() -> Tables:
    """The tables of apps built (never served) on a scratch directory."""
    with tempfile.TemporaryDirectory() as scratch:
        nowhere = "http://127.0.0.1:9"
        pds = create_pds_app(PdsSettings(data_dir=Path(scratch, "pds"), plc_url=nowhere))
        relay = create_relay_app(RelaySettings(data_dir=Path(scratch, "relay"), plc_url=nowhere))
        asyncio.run(pds.state.ctx.aclose())
        asyncio.run(relay.state.ctx.aclose())
    paths = [
        (method, route.path)
        for route in admin_paths.routes(relay.state.admin)
        for method in sorted((route.methods or set()) - {"HEAD"})
    ]
    return Tables(dict(pds.state.router.methods), dict(relay.state.router.methods), paths)


def required(struct: type[Any] | RawInput | None) -> list[msgspec.structs.FieldInfo]:
    if struct is None or isinstance(struct, RawInput):
        return []
    return [field for field in msgspec.structs.fields(struct) if field.required]


def sample(struct: type[Any] | RawInput | None, alice: str) -> dict[str, Any]:
    """Each required field of ``struct`` with its sample value (alice's DID for ``ALICE``)."""
    values: dict[str, Any] = {}
    for field in required(struct):
        name = field.encode_name
        assert name in SAMPLES, f"no sample value for {name!r}: add one to SAMPLES"
        value = SAMPLES[name]
        if isinstance(value, list):
            values[name] = [alice if item == ALICE else item for item in value]
        else:
            values[name] = alice if value == ALICE else value
    return values


_CANDIDATES: Final[list[Any]] = [12345, "x", True, ["x"], {"x": 1}]


def wrong_value(annotation: Any) -> Any | None:
    """A JSON value the type ``annotation`` refuses (None: it takes anything)."""
    for candidate in _CANDIDATES:
        try:
            msgspec.convert(candidate, annotation, dec_hook=dec_hook)
        except msgspec.ValidationError:
            return candidate
    return None


# ---------------------------------------------------------------------------------------------
# The network


@dataclass(frozen=True)
class Account:
    """A matrix account, its tokens and its repo signing key (all taken while it was live)."""

    did: str
    access: str
    refresh: str
    key: PrivateKey


@dataclass
class MatrixNet:
    pds: LocalPds
    relay: LocalRelay
    alice: Account
    bob: Account
    carol: Account
    dave: Account
    app_password: str
    privileged_app_password: str
    clients: dict[str, httpx.Client]

    @property
    def plc_url(self) -> str:
        return self.pds.plc_url

    def url(self, server: str) -> str:
        return self.pds.url if server == "pds" else self.relay.url

    def client(self, url: str) -> httpx.Client:
        if url not in self.clients:
            self.clients[url] = httpx.Client(base_url=url, timeout=30.0)
        return self.clients[url]

    def session_token(self, did: str, *, aud: str | None = None, age: float = 0.0) -> str:
        """An access token of ``did`` minted ``age`` seconds ago (for another audience)."""
        ctx = self.pds.ctx
        tokens = create_session_tokens(
            ctx.auth.jwt_secret, aud or ctx.settings.service_did, did, now=time.time() - age
        )
        return tokens.access_jwt

    def refresh_token(self, did: str, *, aud: str | None = None, age: float = 0.0) -> str:
        ctx = self.pds.ctx
        tokens = create_session_tokens(
            ctx.auth.jwt_secret, aud or ctx.settings.service_did, did, now=time.time() - age
        )
        return tokens.refresh_jwt

    def service_token(
        self, account: Account, lxm: str, *, aud: str | None = None, expired: bool = False
    ) -> str:
        """A service token from ``account`` for this PDS and the method ``lxm``."""
        audience = aud or self.pds.ctx.settings.service_did
        now = time.time() - (600 if expired else 0)
        return create_service_jwt(account.key, account.did, audience, lxm, now=now)


def _account(pds: LocalPds, handle: str) -> Account:
    session = pds.create_account(handle)
    did = session["did"]
    return Account(did, session["accessJwt"], session["refreshJwt"], pds.ctx.keys.signing_key(did))


def _app_password(pds: LocalPds, account: Account, name: str, privileged: bool) -> str:
    created = pds.xrpc(
        "com.atproto.server.createAppPassword", token=account.access,
        json={"name": name, "privileged": privileged},
    )  # fmt: skip
    assert created.status_code == 200, created.text
    login = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": account.did, "password": created.json()["password"]},
    )
    assert login.status_code == 200, login.text
    token: str = login.json()["accessJwt"]
    return token


def _admin(pds: LocalPds, nsid: str, body: dict[str, Any]) -> None:
    with pds.client() as client:
        answer = client.post(f"/xrpc/{nsid}", json=body, headers=basic(ADMIN))
    assert answer.status_code == 200, answer.text


@contextlib.contextmanager
def matrix_net(tmp: Path) -> Iterator[MatrixNet]:
    """The network and the matrix's accounts: carol taken down and dave deleted by the admin."""
    token_file = tmp / "admin-token"
    token_file.write_text(ADMIN + "\n")
    with (
        run_plc(tmp / "plc") as plc_url,
        run_pds(tmp / "pds", plc_url, admin_token_file=token_file) as pds,
        run_relay(tmp / "relay", plc_url, admin_token_file=token_file) as relay,
    ):
        alice, bob, carol, dave = (
            _account(pds, f"{name}.test") for name in ("alice", "bob", "carol", "dave")
        )
        app_password = _app_password(pds, alice, "standard", privileged=False)
        privileged = _app_password(pds, alice, "privileged", privileged=True)
        subject = {"$type": "com.atproto.admin.defs#repoRef", "did": carol.did}
        _admin(pds, "com.atproto.admin.updateSubjectStatus",
               {"subject": subject, "takedown": {"applied": True, "ref": "matrix"}})  # fmt: skip
        _admin(pds, "com.atproto.admin.deleteAccount", {"did": dave.did})
        net = MatrixNet(pds, relay, alice, bob, carol, dave, app_password, privileged, {})
        try:
            yield net
        finally:
            for client in net.clients.values():
                client.close()
