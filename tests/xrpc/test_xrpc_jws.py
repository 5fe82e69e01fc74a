"""The JWS compact encoding: HS256, ES256K and ES256 round trips, low-S signatures, agreement
with a standard ECDSA implementation (cryptography), and every token the parser refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from strato import datamodel
from strato.crypto import K256, P256, PrivateKey
from strato.xrpc import jws

ORDERS = {
    K256: 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    P256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}
ALL = (jws.HS256, jws.ES256K, jws.ES256)


def part(value: object) -> str:
    return jws.b64url_encode(msgspec.json.encode(value))


def test_hs256_round_trip() -> None:
    token = jws.encode_hs256({"sub": "did:plc:abc", "n": 1}, b"secret", "at+jwt")
    parsed = jws.decode(token, ALL)
    assert parsed.header == {"typ": "at+jwt", "alg": "HS256"}
    assert parsed.payload == {"sub": "did:plc:abc", "n": 1}
    assert jws.verify_hs256(parsed, b"secret")
    assert not jws.verify_hs256(parsed, b"other")
    expected = hmac.new(b"secret", token.rsplit(".", 1)[0].encode(), hashlib.sha256).digest()
    assert parsed.signature == expected


@pytest.mark.parametrize("curve", [K256, P256])
def test_ecdsa_round_trip_is_low_s(curve: str) -> None:
    key = PrivateKey.generate(curve)
    for i in range(20):
        token = jws.encode_ecdsa({"i": i}, key, kid="#atproto")
        parsed = jws.decode(token, ALL)
        assert parsed.alg == jws.CURVE_ALGS[curve]
        assert parsed.header["kid"] == "#atproto"
        assert len(parsed.signature) == 64
        s = int.from_bytes(parsed.signature[32:], "big")
        assert s <= ORDERS[curve] // 2
        assert jws.verify_ecdsa(parsed, key.public_key)
        assert not jws.verify_ecdsa(parsed, PrivateKey.generate(curve).public_key)


@pytest.mark.parametrize("curve", [K256, P256])
def test_high_s_and_der_signatures_are_refused(curve: str) -> None:
    key = PrivateKey.generate(curve)
    parsed = jws.decode(jws.encode_ecdsa({"a": 1}, key), ALL)
    r, s = parsed.signature[:32], int.from_bytes(parsed.signature[32:], "big")
    high = r + (ORDERS[curve] - s).to_bytes(32, "big")
    flipped = jws.Jws(parsed.header, parsed.payload, parsed.signing_input, high)
    assert not jws.verify_ecdsa(flipped, key.public_key)
    der = jws.Jws(parsed.header, parsed.payload, parsed.signing_input, b"\x30" + parsed.signature)
    assert not jws.verify_ecdsa(der, key.public_key)


def test_algorithm_must_match_the_key_curve() -> None:
    p256 = PrivateKey.generate(P256)
    parsed = jws.decode(jws.encode_ecdsa({}, p256), ALL)
    relabelled = jws.Jws(
        {**parsed.header, "alg": "ES256K"}, {}, parsed.signing_input, parsed.signature
    )
    assert not jws.verify_ecdsa(relabelled, p256.public_key)
    hs = jws.decode(jws.encode_hs256({}, b"k", "JWT"), ALL)
    assert not jws.verify_ecdsa(hs, p256.public_key)
    assert not jws.verify_hs256(parsed, b"k")


@pytest.mark.parametrize(("curve", "ec_curve"), [(K256, ec.SECP256K1()), (P256, ec.SECP256R1())])
def test_standard_ecdsa_signatures_verify_when_low_s(
    curve: str, ec_curve: ec.EllipticCurve
) -> None:
    secret = ec.generate_private_key(ec_curve)
    raw = secret.private_numbers().private_value.to_bytes(32, "big")
    public = PrivateKey.from_bytes(raw, curve).public_key
    signing_input = f"{part({'typ': 'JWT', 'alg': jws.CURVE_ALGS[curve]})}.{part({'x': 1})}"
    seen = set()
    for _ in range(40):
        r, s = decode_dss_signature(secret.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        token = f"{signing_input}.{jws.b64url_encode(signature)}"
        low = s <= ORDERS[curve] // 2
        seen.add(low)
        assert jws.verify_ecdsa(jws.decode(token, ALL), public) is low
    assert seen == {True, False}


#: JSON nested deep enough to exhaust a decoder's stack (the interpreter's recursion limit).
DEEP = b"[" * 2000 + b"]" * 2000


def _raw_token(header: bytes, payload: bytes) -> str:
    return ".".join(jws.b64url_encode(data) for data in (header, payload, b"sig"))


def _token(header: object, payload: object = None, signature: bytes = b"sig") -> str:
    body = part(payload if payload is not None else {})
    return f"{part(header)}.{body}.{jws.b64url_encode(signature)}"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("a" * 9000, "token too large"),
        ("a.b", "not a compact JWS (three parts)"),
        ("a.b.c.d", "not a compact JWS (three parts)"),
        (_token({"alg": "HS256"}) + "=", "malformed base64url"),
        (part({"alg": "HS256"}) + ".e30.a+b", "malformed base64url"),
        (part({"alg": "HS256"}) + ".e30.a", "malformed base64url"),
        (part({"alg": "HS256"}) + ".e30.ab", "non-canonical base64url"),
        (jws.b64url_encode(b"{nope") + ".e30.", "header is not JSON"),
        # invalid UTF-8, found by fuzz/
        ("eyJhbGciOiJub2ulIn0.e30.", "header: JSON text is not valid UTF-8 (byte 11)"),
        (
            part({"alg": "HS256"}) + "." + jws.b64url_encode(b'"\xa5"') + ".",
            "payload: JSON text is not valid UTF-8 (byte 1)",
        ),
        (_token([1, 2]), "header is not a JSON object"),
        (part({"alg": "HS256"}) + "." + part([1]) + ".", "payload is not a JSON object"),
        (_token({"typ": "JWT"}), "missing alg"),
        (_token({"alg": 5}), "missing alg"),
        (_token({"alg": "none"}), "algorithm 'none' not allowed"),
        (_token({"alg": "RS256"}), "algorithm 'RS256' not allowed"),
        (_token({"alg": "HS256", "crit": ["exp"]}), "unsupported critical header parameters"),
        (_token({"alg": "HS256", "typ": 1}), "malformed typ"),
        (_raw_token(b'{"alg":"HS256","x":' + DEEP + b"}", b"{}"), f"header: {datamodel.DEEP}"),
        (_raw_token(b'{"alg":"HS256"}', b'{"exp":' + DEEP + b"}"), f"payload: {datamodel.DEEP}"),
        (_token({"alg": "HS256"}, {"exp": 2**64}), f"payload: {datamodel.OUT_OF_RANGE}"),
    ],
)
def test_decode_refuses(token: str, reason: str) -> None:
    with pytest.raises(jws.JwsError) as info:
        jws.decode(token, ALL)
    assert info.value.reason == reason


def test_allow_list_is_per_call() -> None:
    token = jws.encode_hs256({}, b"k", "JWT")
    with pytest.raises(jws.JwsError, match="algorithm 'HS256' not allowed"):
        jws.decode(token, (jws.ES256K, jws.ES256))


def test_unpadded_base64url() -> None:
    for data in (b"", b"a", b"ab", b"abc", bytes(range(256))):
        text = jws.b64url_encode(data)
        assert "=" not in text
        assert text == base64.urlsafe_b64encode(data).decode().rstrip("=")
        assert jws.b64url_decode(text) == data
