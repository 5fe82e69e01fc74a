"""Keys and signatures (``strato.crypto``), against the atproto crypto fixtures and two peers.

The interop tests mirror the cross-implementation suite bluesky-social/atproto-interop-tests
(``shared/interop/crypto``: ``signature-fixtures.json``, ``w3c_didkey_K256.json``,
``w3c_didkey_P256.json``); they skip when the fixtures are absent. The cross-checks sign with
strato and verify with ``coincurve`` (libsecp256k1) and ``cryptography`` (OpenSSL), and the
other way round.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import random
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import coincurve
import pytest
from conftest import missing_reason, shared_path, skipped_param
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from strato import crypto
from strato._core import verify_signature, verify_signatures
from strato.crypto import PrivateKey, PublicKey
from strato.errors import InvalidKeyError

CRYPTO = shared_path("interop", "crypto")
CURVES = ("k256", "p256")
ORDER = {
    "k256": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}
EC_CURVE = {"k256": ec.SECP256K1(), "p256": ec.SECP256R1()}
P256_EXAMPLE = "did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo"
K256_EXAMPLE = "did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc"
B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def load(name: str) -> list[Any]:
    """Parameter sets for every entry of a fixture file, with ids from its comment or key."""
    path = CRYPTO / name
    if not path.is_file():
        return skipped_param(path)
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [
        pytest.param(entry, id=entry.get("comment") or entry.get("publicDidKey") or str(index))
        for index, entry in enumerate(entries)
    ]


def unpadded_b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def b58encode(data: bytes) -> str:
    """base58btc (Bitcoin alphabet): slow and obviously correct."""
    number = int.from_bytes(data, "big")
    digits = ""
    while number:
        number, digit = divmod(number, 58)
        digits = B58_ALPHABET[digit] + digits
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + digits


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + B58_ALPHABET.index(char)
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")


def split(signature: bytes) -> tuple[int, int]:
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def join(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def high_s_twin(signature: bytes, curve: str) -> bytes:
    r, s = split(signature)
    return join(r, ORDER[curve] - s)


def to_der(signature: bytes) -> bytes:
    return encode_dss_signature(*split(signature))


def from_der_low_s(der: bytes, curve: str) -> bytes:
    r, s = decode_dss_signature(der)
    return join(r, min(s, ORDER[curve] - s))


def fixed_key(curve: str, seed: int) -> PrivateKey:
    raw = random.Random(seed).randbytes(32)
    return PrivateKey.from_bytes(raw, curve)


def peer_public_key(key: PublicKey) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(
        EC_CURVE[key.curve], key.to_bytes(compressed=False)
    )


def peer_private_key(key: PrivateKey) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(key.to_bytes(), "big"), EC_CURVE[key.curve])


# -- interop fixtures ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry", load("signature-fixtures.json"))
def test_interop_signature_fixture(entry: dict[str, Any]) -> None:
    curve = {"ES256K": "k256", "ES256": "p256"}[entry["algorithm"]]
    key = PublicKey.from_did_key(entry["publicKeyDid"])
    assert key.curve == curve
    assert key.did_key() == entry["publicKeyDid"]
    # The fixture's publicKeyMultibase is base58btc of the bare compressed point (no multicodec).
    assert PublicKey.from_multibase(entry["publicKeyMultibase"], curve) == key
    message = unpadded_b64decode(entry["messageBase64"])
    signature = unpadded_b64decode(entry["signatureBase64"])
    assert key.verify(message, signature) is entry["validSignature"]
    assert crypto.verify(entry["publicKeyDid"], message, signature) is entry["validSignature"]
    assert crypto.verify_many([(entry["publicKeyDid"], message, signature)]) == [
        entry["validSignature"]
    ]
    if "high-s" in entry["tags"]:
        assert not entry["validSignature"]
        assert key.verify(message, high_s_twin(signature, curve))
    if "der-encoded" in entry["tags"]:
        assert not entry["validSignature"]
        # The same signature in the fixed form is valid: only the encoding is wrong.
        assert key.verify(message, from_der_low_s(signature, curve))


def load_did_keys() -> list[Any]:
    """``(entry, curve)`` for every private key of the two w3c did:key fixture files."""
    params = []
    for name, curve in (("w3c_didkey_K256.json", "k256"), ("w3c_didkey_P256.json", "p256")):
        path = CRYPTO / name
        if not path.is_file():
            skip = pytest.mark.skip(missing_reason(path))
            return [pytest.param(None, None, id="missing-fixtures", marks=skip)]
        for entry in json.loads(path.read_text(encoding="utf-8")):
            params.append(pytest.param(entry, curve, id=entry["publicDidKey"]))
    return params


@pytest.mark.parametrize(("entry", "curve"), load_did_keys())
def test_interop_w3c_did_key(entry: dict[str, str], curve: str) -> None:
    if "privateKeyBytesHex" in entry:
        raw = bytes.fromhex(entry["privateKeyBytesHex"])
    else:
        raw = b58decode(entry["privateKeyBytesBase58"])
    key = PrivateKey.from_bytes(raw, curve)
    assert key.public_key.did_key() == entry["publicDidKey"]
    assert PublicKey.from_did_key(entry["publicDidKey"]) == key.public_key


# -- key encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize(("did", "curve"), [(P256_EXAMPLE, "p256"), (K256_EXAMPLE, "k256")])
def test_spec_examples_round_trip(did: str, curve: str) -> None:
    key = PublicKey.from_did_key(did)
    assert key.curve == curve
    assert key.did_key() == did
    assert key.multikey() == did.removeprefix("did:key:")
    assert key.multikey().startswith({"p256": "zDnae", "k256": "zQ3s"}[curve])
    assert PublicKey.from_multikey(key.multikey()) == key
    compressed = key.to_bytes()
    uncompressed = key.to_bytes(compressed=False)
    assert len(compressed) == 33
    assert compressed[0] in (2, 3)
    assert len(uncompressed) == 65
    assert uncompressed[0] == 4
    assert uncompressed[1:33] == compressed[1:]
    assert PublicKey.from_bytes(compressed, curve) == key
    assert PublicKey.from_bytes(bytearray(uncompressed), curve) == key
    assert PublicKey.from_bytes(memoryview(compressed), curve) == key
    # DID-document forms: the multikey, and the legacy uncompressed point without a codec.
    assert PublicKey.from_multibase(key.multikey(), curve) == key
    assert PublicKey.from_multibase("z" + b58encode(uncompressed), curve) == key
    assert peer_public_key(key).public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    ) == bytes(compressed)


def test_public_key_value_semantics() -> None:
    key = PublicKey.from_did_key(K256_EXAMPLE)
    same = PublicKey.from_bytes(key.to_bytes(compressed=False), "k256")
    other = PublicKey.from_did_key(P256_EXAMPLE)
    assert key == same
    assert hash(key) == hash(same)
    assert key != other
    assert key != K256_EXAMPLE
    assert len({key, same, other}) == 2
    assert repr(key) == f"PublicKey('{K256_EXAMPLE}')"
    assert pickle.loads(pickle.dumps(key)) == key


def test_private_key_never_shows_its_secret() -> None:
    key = PrivateKey.from_bytes(bytes.fromhex("ab" * 32), "k256")
    text = repr(key)
    assert text == f"PrivateKey(curve='k256', public_key='{key.public_key.did_key()}')"
    assert "abab" not in text.lower()
    with pytest.raises(TypeError):
        pickle.dumps(key)


@pytest.mark.parametrize("curve", CURVES)
def test_private_key_bytes_round_trip(curve: str) -> None:
    key = PrivateKey.generate(curve)
    assert key.curve == curve
    raw = key.to_bytes()
    assert len(raw) == 32
    again = PrivateKey.from_bytes(bytearray(raw), curve)
    assert again.public_key == key.public_key
    assert PrivateKey.generate(curve).to_bytes() != raw
    assert PrivateKey.generate().curve == "k256"


def multikey(codec: bytes, body: bytes) -> str:
    return "z" + b58encode(codec + body)


K256_CODEC = b"\xe7\x01"
P256_CODEC = b"\x80\x24"
NOT_ON_CURVE = b"\x02" + b"\xff" * 32


def scalar_bytes(value: int) -> bytes:
    return value.to_bytes(32, "big")


KEY_ERRORS: list[tuple[str, Callable[[], object], str]] = [
    ("did-web", lambda: PublicKey.from_did_key("did:web:example.com"), "not a did:key"),
    ("bare-multikey", lambda: PublicKey.from_did_key(K256_EXAMPLE[8:]), "not a did:key"),
    (
        "base32-multibase",
        lambda: PublicKey.from_multikey("b" + K256_EXAMPLE[9:]),
        "multibase prefix is not 'z' (base58btc)",
    ),
    ("empty", lambda: PublicKey.from_multikey(""), "multibase prefix is not 'z' (base58btc)"),
    ("bad-base58", lambda: PublicKey.from_did_key("did:key:z0OIl"), "invalid base58btc"),
    (
        "ed25519-codec",
        lambda: PublicKey.from_multikey(multikey(b"\xed\x01", b"\x11" * 32)),
        "unsupported key multicodec",
    ),
    (
        "truncated-codec",
        lambda: PublicKey.from_multikey(multikey(b"\x80", b"")),
        "unsupported key multicodec",
    ),
    (
        "codec-other-curve",
        lambda: PublicKey.from_multibase(K256_EXAMPLE[8:], "p256"),
        "key multicodec does not match the curve",
    ),
    (
        "short-point",
        lambda: PublicKey.from_multikey(multikey(K256_CODEC, NOT_ON_CURVE[:32])),
        "wrong key length",
    ),
    (
        "long-point",
        lambda: PublicKey.from_multikey(multikey(P256_CODEC, NOT_ON_CURVE + b"\0")),
        "wrong key length",
    ),
    ("huge-text", lambda: PublicKey.from_multikey("z" + "2" * 500), "wrong key length"),
    ("sec1-32-bytes", lambda: PublicKey.from_bytes(b"\x02" * 32, "k256"), "wrong key length"),
    (
        "k256-not-on-curve",
        lambda: PublicKey.from_multikey(multikey(K256_CODEC, NOT_ON_CURVE)),
        "not a point on the curve",
    ),
    (
        "p256-not-on-curve",
        lambda: PublicKey.from_multikey(multikey(P256_CODEC, NOT_ON_CURVE)),
        "not a point on the curve",
    ),
    (
        "uncompressed-in-multikey",
        lambda: PublicKey.from_multikey(multikey(K256_CODEC, b"\x04" + b"\x11" * 32)),
        "not a point on the curve",
    ),
    (
        "hybrid-prefix",
        lambda: PublicKey.from_bytes(
            b"\x06" + PublicKey.from_did_key(K256_EXAMPLE).to_bytes(compressed=False)[1:], "k256"
        ),
        "not a point on the curve",
    ),
    ("zero-scalar", lambda: PrivateKey.from_bytes(bytes(32), "k256"), "private key out of range"),
    (
        "k256-scalar-n",
        lambda: PrivateKey.from_bytes(scalar_bytes(ORDER["k256"]), "k256"),
        "private key out of range",
    ),
    (
        "p256-scalar-above-n",
        lambda: PrivateKey.from_bytes(scalar_bytes(ORDER["p256"] + 1), "p256"),
        "private key out of range",
    ),
    (
        "p256-zero-scalar",
        lambda: PrivateKey.from_bytes(bytes(32), "p256"),
        "private key out of range",
    ),
    ("short-scalar", lambda: PrivateKey.from_bytes(b"\x01" * 31, "k256"), "wrong key length"),
]


@pytest.mark.parametrize(
    ("make", "reason"), [pytest.param(make, reason, id=name) for name, make, reason in KEY_ERRORS]
)
def test_key_errors_name_their_reason(make: Callable[[], object], reason: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        make()
    assert info.value.reason == reason
    assert str(info.value) == f"invalid key: {reason}"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("curve", CURVES)
def test_largest_scalar_is_accepted(curve: str) -> None:
    key = PrivateKey.from_bytes(scalar_bytes(ORDER[curve] - 1), curve)
    assert key.public_key.verify(b"m", key.sign(b"m"))


def test_unknown_curve_is_a_value_error() -> None:
    for make in (
        lambda: PrivateKey.generate("ed25519"),
        lambda: PrivateKey.from_bytes(b"\x01" * 32, "P256"),
        lambda: PublicKey.from_bytes(b"\x02" * 33, "secp384r1"),
    ):
        with pytest.raises(ValueError, match="unknown curve") as info:
            make()
        assert not isinstance(info.value, InvalidKeyError)


def test_curve_aliases() -> None:
    key = PublicKey.from_did_key(P256_EXAMPLE)
    for alias in ("P-256", "secp256r1", "p256"):
        assert PublicKey.from_bytes(key.to_bytes(), alias) == key
    assert PrivateKey.generate("secp256k1").curve == "k256"
    assert crypto.CURVES == ("k256", "p256")


# -- signing and verifying ----------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_signatures_are_low_s_and_deterministic(curve: str) -> None:
    rng = random.Random(curve)
    key = PrivateKey.generate(curve)
    public = key.public_key
    half = ORDER[curve] // 2
    for _ in range(300):
        message = rng.randbytes(rng.randrange(0, 200))
        signature = key.sign(message)
        assert len(signature) == 64
        r, s = split(signature)
        assert 0 < r < ORDER[curve]
        assert 0 < s <= half
        assert key.sign(message) == signature
        assert public.verify(message, signature)
        assert not public.verify(message, high_s_twin(signature, curve))


@pytest.mark.parametrize("curve", CURVES)
def test_our_signatures_verify_under_cryptography(curve: str) -> None:
    rng = random.Random(1)
    key = fixed_key(curve, 2)
    peer = peer_public_key(key.public_key)
    for _ in range(50):
        message = rng.randbytes(100)
        peer.verify(to_der(key.sign(message)), message, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("curve", CURVES)
def test_rfc6979_nonces_match_cryptography(curve: str) -> None:
    key = fixed_key(curve, 3)
    peer = peer_private_key(key)
    deterministic = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    for message in (b"", b"hello world", bytes(range(256)) * 4):
        assert key.sign(message) == from_der_low_s(peer.sign(message, deterministic), curve)


def test_k256_matches_coincurve_both_ways() -> None:
    rng = random.Random(4)
    for seed in range(20):
        key = fixed_key("k256", seed)
        theirs = coincurve.PrivateKey(key.to_bytes())
        their_public = coincurve.PublicKey(key.public_key.to_bytes())
        assert theirs.public_key.format() == key.public_key.to_bytes()
        message = rng.randbytes(64)
        ours = key.sign(message)
        assert their_public.verify(to_der(ours), message)
        their_signature = from_der_low_s(theirs.sign(message), "k256")
        assert their_signature == ours  # same RFC 6979 nonce, same low-S rule
        assert key.public_key.verify(message, their_signature)


@pytest.mark.parametrize("curve", CURVES)
def test_cryptography_signatures_verify_under_ours(curve: str) -> None:
    rng = random.Random(5)
    peer = ec.generate_private_key(EC_CURVE[curve])
    public = PublicKey.from_bytes(
        peer.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        ),
        curve,
    )
    seen_high = False
    for _ in range(40):
        message = rng.randbytes(50)
        der = peer.sign(message, ec.ECDSA(hashes.SHA256()))  # random nonce, any s
        low = from_der_low_s(der, curve)
        assert public.verify(message, low)
        assert not public.verify(message, high_s_twin(low, curve))
        assert not public.verify(message, der)
        seen_high |= decode_dss_signature(der)[1] > ORDER[curve] // 2
    assert seen_high  # 40 random nonces: some high s must have been normalised


@pytest.mark.parametrize("curve", CURVES)
def test_bad_signatures_are_false(curve: str) -> None:
    key = fixed_key(curve, 6)
    public = key.public_key
    message = b"the message"
    good = key.sign(message)
    r, s = split(good)
    n = ORDER[curve]
    flipped_r = bytearray(good)
    flipped_r[3] ^= 0x10
    flipped_s = bytearray(good)
    flipped_s[40] ^= 0x01
    other_curve = fixed_key("p256" if curve == "k256" else "k256", 6)
    bad: dict[str, bytes | bytearray] = {
        "empty": b"",
        "63 bytes": good[:63],
        "65 bytes": good + b"\0",
        "DER": to_der(good),
        "all zero": bytes(64),
        "zero r": join(0, s),
        "zero s": join(r, 0),
        "r = n": join(n, s),
        "r = 2^256 - 1": join(2**256 - 1, s),
        "flipped r": flipped_r,
        "flipped s": flipped_s,
        "high s": high_s_twin(good, curve),
        "other key": fixed_key(curve, 7).sign(message),
        "other curve": other_curve.sign(message),
    }
    assert public.verify(message, good)
    for name, signature in bad.items():
        assert not public.verify(message, signature), name
        assert not crypto.verify(public.did_key(), message, signature), name
    assert not public.verify(b"another message", good)
    for i in range(20):
        der = to_der(key.sign(bytes([i])))
        assert 68 <= len(der) <= 72
        assert not public.verify(bytes([i]), der)


def test_buffer_inputs() -> None:
    key = fixed_key("k256", 8)
    message = b"buffers"
    signature = key.sign(bytearray(message))
    assert signature == key.sign(memoryview(message))
    assert key.public_key.verify(memoryview(message), bytearray(signature))
    assert verify_signature(key.public_key.did_key(), bytearray(message), memoryview(signature))
    with pytest.raises(TypeError):
        key.sign("text")  # type: ignore[arg-type]


def test_verify_with_a_bad_did_key_raises() -> None:
    with pytest.raises(InvalidKeyError, match="not a did:key"):
        crypto.verify("did:plc:abc", b"m", bytes(64))
    assert crypto.verify_many([("did:plc:abc", b"m", bytes(64))]) == [False]


# -- batches and threads --------------------------------------------------------------------------


def test_verify_many_keeps_order_across_threads() -> None:
    rng = random.Random(9)
    keys = [fixed_key(CURVES[i % 2], 100 + i) for i in range(10)]
    dids = [key.public_key.did_key() for key in keys]
    items: list[tuple[str | PublicKey, bytes, bytes]] = []
    expected: list[bool] = []
    for i in range(1000):
        key = keys[i % len(keys)]
        message = rng.randbytes(rng.randrange(1, 300))
        signature = key.sign(message)
        ok = True
        if i % 13 == 0:
            signature = high_s_twin(signature, key.curve)
            ok = False
        elif i % 17 == 0:
            message += b"!"
            ok = False
        elif i % 101 == 0:
            signature = signature[:63]
            ok = False
        key_ref: str | PublicKey = key.public_key if i % 3 == 0 else dids[i % len(keys)]
        if i == 500:
            key_ref = "did:key:zBroken"
            ok = False
        items.append((key_ref, message, signature))
        expected.append(ok)
    assert verify_signatures(items) == expected
    assert crypto.verify_many(iter(items)) == expected
    assert crypto.verify_many([]) == []


def test_verify_many_rejects_bad_items() -> None:
    with pytest.raises(TypeError, match="did:key string or a PublicKey"):
        crypto.verify_many([(b"not a key", b"m", bytes(64))])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="length 3"):
        crypto.verify_many([("did:key:z", b"m")])  # type: ignore[list-item]


def test_concurrent_callers() -> None:
    key = fixed_key("p256", 10)
    did = key.public_key.did_key()
    messages = [i.to_bytes(4, "big") for i in range(200)]
    signatures = [key.sign(m) for m in messages]

    def run(offset: int) -> bool:
        rotated = signatures[offset:] + signatures[:offset]
        batch = [(did, m, s) for m, s in zip(messages, rotated, strict=True)]
        singles = [crypto.verify(did, m, s) for m, s in zip(messages, signatures, strict=True)]
        return verify_signatures(batch) == [offset == 0] * len(batch) and all(singles)

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(run, [0, 1, 0, 2, 0, 3]))


# -- keys at rest ---------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("password", [None, b"correct horse"])
def test_pem_round_trip(curve: str, password: bytes | None) -> None:
    key = PrivateKey.generate(curve)
    pem = crypto.private_key_to_pem(key, password)
    header = b"ENCRYPTED PRIVATE KEY" if password else b"-----BEGIN PRIVATE KEY-----"
    assert header in pem
    loaded = crypto.private_key_from_pem(pem, password)
    assert loaded.to_bytes() == key.to_bytes()
    assert loaded.curve == curve
    # cryptography reads what we write.
    peer = serialization.load_pem_private_key(pem, password)
    assert isinstance(peer, ec.EllipticCurvePrivateKey)
    assert peer.private_numbers().private_value == int.from_bytes(key.to_bytes(), "big")


def test_pem_password_errors() -> None:
    key = PrivateKey.generate("k256")
    encrypted = crypto.private_key_to_pem(key, b"secret")
    plain = crypto.private_key_to_pem(key)
    cases = [
        (encrypted, b"wrong", "wrong password"),
        (encrypted, None, "password required"),
        (plain, b"secret", "unexpected password"),
        (b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", None, "malformed PEM"),
        (b"not a pem", None, "malformed PEM"),
    ]
    for data, password, reason in cases:
        with pytest.raises(InvalidKeyError) as info:
            crypto.private_key_from_pem(data, password)
        assert info.value.reason == reason


def pkcs8(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def test_pem_of_other_keys_is_rejected() -> None:
    cases = [
        (pkcs8(rsa.generate_private_key(65537, 2048)), "not an elliptic-curve key"),
        (pkcs8(ed25519.Ed25519PrivateKey.generate()), "not an elliptic-curve key"),
        (pkcs8(ec.generate_private_key(ec.SECP384R1())), "unsupported curve"),
    ]
    for data, reason in cases:
        with pytest.raises(InvalidKeyError) as info:
            crypto.private_key_from_pem(data)
        assert info.value.reason == reason


def test_sec1_pem_is_read() -> None:
    peer = ec.generate_private_key(ec.SECP256R1())
    data = peer.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    key = crypto.private_key_from_pem(data)
    assert key.curve == "p256"
    assert int.from_bytes(key.to_bytes(), "big") == peer.private_numbers().private_value


@pytest.mark.parametrize("password", [None, b"pw"])
def test_save_and_load_private_key(tmp_path: Path, password: bytes | None) -> None:
    path = tmp_path / "signing.pem"
    path.write_bytes(b"old contents")
    path.chmod(0o644)
    key = PrivateKey.generate("p256")
    crypto.save_private_key(key, path, password)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["signing.pem"]  # no temporary file left behind
    assert crypto.load_private_key(path, password).to_bytes() == key.to_bytes()
    crypto.save_private_key(key, str(tmp_path / "second.pem"))
    assert stat.S_IMODE((tmp_path / "second.pem").stat().st_mode) == 0o600


def test_save_private_key_leaves_nothing_on_failure(tmp_path: Path) -> None:
    (tmp_path / "k.pem").mkdir()  # the final rename fails
    with pytest.raises(IsADirectoryError):
        crypto.save_private_key(PrivateKey.generate("k256"), tmp_path / "k.pem")
    assert os.listdir(tmp_path) == ["k.pem"]
