"""JWS compact serialization (RFC 7515) for the three algorithms atproto uses: ``HS256`` (the
PDS's own session tokens), ``ES256K`` and ``ES256`` (service-auth tokens signed with an
account's repo key).

Written here on top of :mod:`strato.crypto` and :mod:`hmac` rather than taken from PyJWT: PyJWT
signs ES256K/ES256 through ``cryptography``, whose ECDSA signatures have a random ``s`` that is
high half of the time, and verifies DER-converted signatures whatever their ``s``. atproto
requires low-S signatures on both curves; :class:`strato.crypto.PrivateKey` only makes low-S
signatures and :class:`strato.crypto.PublicKey` refuses high-S ones, and a 64-byte ``r || s``
signature is exactly the JWS form, so there is nothing to convert.

Parsing is strict: at most :data:`MAX_TOKEN_BYTES`, three unpadded base64url parts, a JSON
object header and payload within the data model's limits (:func:`strato.datamodel.check_json`:
a header nested a thousand deep would exhaust the decoder's stack), an ``alg`` from the
caller's allow-list (``none`` never is), no ``crit`` extensions. :class:`JwsError` carries a
stable ``reason``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from strato.crypto import K256, P256, PrivateKey, PublicKey
from strato.datamodel import check_json
from strato.errors import DataModelError

HS256: Final = "HS256"
ES256K: Final = "ES256K"
ES256: Final = "ES256"
#: The JWS ``alg`` of each curve's ECDSA-with-SHA-256.
CURVE_ALGS: Final = {K256: ES256K, P256: ES256}
#: Tokens longer than this are refused before any parsing (a service JWT is ~400 bytes).
MAX_TOKEN_BYTES: Final = 8192
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")


class JwsError(ValueError):
    """A token that is not a well-formed JWS this module accepts; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Jws:
    """A parsed (not yet verified) token: header and payload objects, the bytes that were
    signed (``header.payload`` as sent) and the signature."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        alg: str = self.header["alg"]
        return alg


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url: no padding, no other alphabet, no stray bits."""
    if _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise JwsError("malformed base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise JwsError("malformed base64url") from None
    if b64url_encode(data) != text:
        raise JwsError("non-canonical base64url")
    return data


def _json_part(data: dict[str, Any]) -> str:
    return b64url_encode(msgspec.json.encode(data))


def encode_hs256(payload: dict[str, Any], secret: bytes, typ: str) -> str:
    """An HS256 token (header ``{"typ", "alg"}``) signed with ``secret``."""
    signing_input = f"{_json_part({'typ': typ, 'alg': HS256})}.{_json_part(payload)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def encode_ecdsa(
    payload: dict[str, Any], key: PrivateKey, typ: str = "JWT", kid: str | None = None
) -> str:
    """An ES256K or ES256 token (by the key's curve) signed with ``key`` (low-S)."""
    header: dict[str, Any] = {"typ": typ, "alg": CURVE_ALGS[key.curve]}
    if kid is not None:
        header["kid"] = kid
    signing_input = f"{_json_part(header)}.{_json_part(payload)}"
    signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def decode(token: str, algorithms: frozenset[str] | tuple[str, ...]) -> Jws:
    """Parse a compact JWS whose ``alg`` is one of ``algorithms``; the signature is not checked
    (see :func:`verify_hs256` and :func:`verify_ecdsa`)."""
    if len(token) > MAX_TOKEN_BYTES:
        raise JwsError("token too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise JwsError("not a compact JWS (three parts)")
    header = _json_object(parts[0], "header")
    payload = _json_object(parts[1], "payload")
    alg = header.get("alg")
    if type(alg) is not str:
        raise JwsError("missing alg")
    if alg not in algorithms:
        raise JwsError(f"algorithm {alg!r} not allowed")
    if "crit" in header:
        raise JwsError("unsupported critical header parameters")
    typ = header.get("typ")
    if typ is not None and type(typ) is not str:
        raise JwsError("malformed typ")
    signature = b64url_decode(parts[2])
    return Jws(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def _json_object(part: str, name: str) -> dict[str, Any]:
    data = b64url_decode(part)
    try:
        check_json(data)
    except DataModelError as err:
        raise JwsError(f"{name}: {err.reason}") from None
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise JwsError(f"{name} is not JSON") from None
    if type(value) is not dict:
        raise JwsError(f"{name} is not a JSON object")
    return value


def verify_hs256(jws: Jws, secret: bytes) -> bool:
    """Whether an HS256 token carries the MAC of ``secret`` (compared in constant time)."""
    if jws.alg != HS256:
        return False
    mac = hmac.new(secret, jws.signing_input, hashlib.sha256).digest()
    return hmac.compare_digest(mac, jws.signature)


def verify_ecdsa(jws: Jws, key: PublicKey) -> bool:
    """Whether an ES256K/ES256 token is signed by ``key``: the ``alg`` must be the key's curve,
    the signature 64 bytes ``r || s`` with a low ``s``."""
    if CURVE_ALGS.get(key.curve) != jws.alg or len(jws.signature) != 64:
        return False
    return key.verify(jws.signing_input, jws.signature)
