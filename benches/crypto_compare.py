"""Compare strato's signatures with coincurve and cryptography, in one process.

This module owns the Python-side performance comparison for keys and signatures (the Rust
criterion bench ``benches/crypto.rs`` compares the crates underneath). On the same keys,
messages and signatures it times:

1. k256 verification, one signature at a time: strato ``PublicKey.verify`` (and
   ``strato.crypto.verify`` with a did:key, through the key cache) against coincurve
   (libsecp256k1) and cryptography (OpenSSL);
2. k256 verification of a whole batch: strato ``verify_many`` (every core) against the same
   one-at-a-time loops;
3. the same two for P-256, against cryptography;
4. signing on both curves.

Peers get their fastest path: public key objects built beforehand and signatures already in
the DER form they take (atproto's 64-byte form would need a conversion per call); only the
message hashing stays in the timed call, for every library. Each timing is the best and the
median of several runs with the garbage collector disabled. Ratios are "peer time / strato time"
per item (> 1 means strato is faster), against the first strato row of the operation.

Each row has a correctness flag from cross-checks: every library accepts the valid signatures
and strato rejects the tampered ones (high-S twins, other messages, DER); peer signatures
(normalised to low-S) verify under strato and strato's verify under the peers. The script exits
non-zero if any flag is false. It refuses to run on a strato debug build unless
``--allow-debug`` is given.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import coincurve
from benchlib import (
    Goal,
    Row,
    add_run_flags,
    build_profile,
    environment,
    goal_table,
    measure,
    refuse_debug,
    table,
)
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.backends.openssl import backend as openssl
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from strato import crypto
from strato.crypto import PrivateKey, PublicKey

PACKAGES = ("strato", "coincurve", "cryptography")
ORDER = {
    "k256": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}
EC_CURVE: dict[str, ec.EllipticCurve] = {"k256": ec.SECP256K1(), "p256": ec.SECP256R1()}
ECDSA = ec.ECDSA(hashes.SHA256())


# -- data -------------------------------------------------------------------------------------


def split(signature: bytes) -> tuple[int, int]:
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def join(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def to_der(signature: bytes) -> bytes:
    return encode_dss_signature(*split(signature))


def from_der_low_s(der: bytes, curve: str) -> bytes:
    r, s = decode_dss_signature(der)
    return join(r, min(s, ORDER[curve] - s))


@dataclass
class Corpus:
    """Signed messages for one curve, every form each library takes prepared beforehand."""

    curve: str
    keys: list[PrivateKey]
    messages: list[bytes]
    signatures: list[bytes]
    publics: list[PublicKey]
    dids: list[str]
    ders: list[bytes]
    peer_publics: list[ec.EllipticCurvePublicKey]
    peer_secrets: list[ec.EllipticCurvePrivateKey]
    coincurve_publics: list[coincurve.PublicKey]
    coincurve_secrets: list[coincurve.PrivateKey]

    def owner(self, index: int) -> int:
        return index % len(self.keys)


def build_corpus(curve: str, count: int, accounts: int, seed: int) -> Corpus:
    rng = random.Random(f"{seed}-{curve}")
    keys = [PrivateKey.from_bytes(rng.randbytes(32), curve) for _ in range(accounts)]
    # Signed commits are about 150-300 bytes.
    messages = [rng.randbytes(rng.randrange(150, 300)) for _ in range(count)]
    signatures = [keys[i % accounts].sign(m) for i, m in enumerate(messages)]
    peer_secrets = [
        ec.derive_private_key(int.from_bytes(k.to_bytes(), "big"), EC_CURVE[curve]) for k in keys
    ]
    k256 = curve == "k256"
    return Corpus(
        curve=curve,
        keys=keys,
        messages=messages,
        signatures=signatures,
        publics=[k.public_key for k in keys],
        dids=[k.public_key.did_key() for k in keys],
        ders=[to_der(s) for s in signatures],
        peer_publics=[s.public_key() for s in peer_secrets],
        peer_secrets=peer_secrets,
        coincurve_publics=[coincurve.PublicKey(k.public_key.to_bytes()) for k in keys]
        if k256
        else [],
        coincurve_secrets=[coincurve.PrivateKey(k.to_bytes()) for k in keys] if k256 else [],
    )


# -- verification -----------------------------------------------------------------------------


def strato_rejects_tampered(corpus: Corpus) -> bool:
    """strato turns down high-S twins, signatures over other messages and DER encodings."""
    n = ORDER[corpus.curve]
    for i in range(0, len(corpus.messages), 7):
        public = corpus.publics[corpus.owner(i)]
        message, signature = corpus.messages[i], corpus.signatures[i]
        r, s = split(signature)
        if (
            public.verify(message, join(r, n - s))
            or public.verify(message + b"x", signature)
            or public.verify(message, corpus.ders[i])
        ):
            return False
    return True


def strato_verify_loop(corpus: Corpus) -> Callable[[], list[bool]]:
    publics = [corpus.publics[corpus.owner(i)] for i in range(len(corpus.messages))]
    triples = list(zip(publics, corpus.messages, corpus.signatures, strict=True))
    return lambda: [key.verify(m, s) for key, m, s in triples]


def strato_did_loop(corpus: Corpus) -> Callable[[], list[bool]]:
    dids = [corpus.dids[corpus.owner(i)] for i in range(len(corpus.messages))]
    triples = list(zip(dids, corpus.messages, corpus.signatures, strict=True))
    verify = crypto.verify
    return lambda: [verify(did, m, s) for did, m, s in triples]


def strato_batch(corpus: Corpus) -> Callable[[], list[bool]]:
    dids = [corpus.dids[corpus.owner(i)] for i in range(len(corpus.messages))]
    items = list(zip(dids, corpus.messages, corpus.signatures, strict=True))
    return lambda: crypto.verify_many(items)


def coincurve_loop(corpus: Corpus) -> Callable[[], list[bool]]:
    publics = [corpus.coincurve_publics[corpus.owner(i)] for i in range(len(corpus.messages))]
    triples = list(zip(publics, corpus.ders, corpus.messages, strict=True))
    return lambda: [key.verify(der, m) for key, der, m in triples]


def cryptography_loop(corpus: Corpus) -> Callable[[], list[bool]]:
    publics = [corpus.peer_publics[corpus.owner(i)] for i in range(len(corpus.messages))]
    triples = list(zip(publics, corpus.ders, corpus.messages, strict=True))

    def run() -> list[bool]:
        results = []
        for key, der, message in triples:
            try:
                key.verify(der, message, ECDSA)
            except InvalidSignature:
                results.append(False)
            else:
                results.append(True)
        return results

    return run


def verify_rows(corpus: Corpus, repeat: int) -> list[Row]:
    count = len(corpus.messages)
    tampered_ok = strato_rejects_tampered(corpus)
    single = f"{corpus.curve} verify (one at a time)"
    batch = f"{corpus.curve} verify ({count} in one call)"
    cases: list[tuple[str, str, Callable[[], list[bool]], bool, str]] = [
        (single, "strato", strato_verify_loop(corpus), tampered_ok, "PublicKey.verify"),
        (single, "strato", strato_did_loop(corpus), tampered_ok, "crypto.verify(did:key), cached"),
    ]
    if corpus.curve == "k256":
        cases.append((single, "coincurve", coincurve_loop(corpus), True, "DER, key preloaded"))
    cases += [
        (single, "cryptography", cryptography_loop(corpus), True, "DER, key preloaded"),
        (
            batch,
            "strato",
            strato_batch(corpus),
            tampered_ok,
            f"verify_many, {os.cpu_count()} threads",
        ),
    ]
    if corpus.curve == "k256":
        cases.append((batch, "coincurve", coincurve_loop(corpus), True, "loop, one thread"))
    cases.append((batch, "cryptography", cryptography_loop(corpus), True, "loop, one thread"))
    rows = []
    for operation, library, run, ok, note in cases:
        # Every library must accept every (valid) signature.
        correct = ok and all(run())
        rows.append(Row(operation, library, measure(run, count, repeat), correct, note))
    return rows


# -- signing ----------------------------------------------------------------------------------


def sign_rows(corpus: Corpus, repeat: int) -> list[Row]:
    count = len(corpus.messages)
    owners = [corpus.owner(i) for i in range(count)]
    half = ORDER[corpus.curve] // 2
    operation = f"{corpus.curve} sign"

    def ours() -> list[bytes]:
        return [corpus.keys[k].sign(m) for k, m in zip(owners, corpus.messages, strict=True)]

    signed = ours()
    # strato's signatures: deterministic, low-S, accepted by cryptography.
    ours_ok = signed == corpus.signatures and all(split(s)[1] <= half for s in signed)
    for k, message, der in zip(owners, corpus.messages, corpus.ders, strict=True):
        try:
            corpus.peer_publics[k].verify(der, message, ECDSA)
        except InvalidSignature:
            ours_ok = False
    rows = [Row(operation, "strato", measure(ours, count, repeat), ours_ok, "RFC 6979")]

    def accepted_by_strato(ders: list[bytes]) -> bool:
        return all(
            corpus.publics[k].verify(m, from_der_low_s(der, corpus.curve))
            for k, m, der in zip(owners, corpus.messages, ders, strict=True)
        )

    if corpus.curve == "k256":

        def theirs() -> list[bytes]:
            return [
                corpus.coincurve_secrets[k].sign(m)
                for k, m in zip(owners, corpus.messages, strict=True)
            ]

        ders = theirs()
        ok = accepted_by_strato(ders) and [from_der_low_s(d, "k256") for d in ders] == signed
        rows.append(Row(operation, "coincurve", measure(theirs, count, repeat), ok, "RFC 6979"))

    def openssl_sign() -> list[bytes]:
        return [
            corpus.peer_secrets[k].sign(m, ECDSA)
            for k, m in zip(owners, corpus.messages, strict=True)
        ]

    ok = accepted_by_strato(openssl_sign())
    timing = measure(openssl_sign, count, repeat)
    rows.append(Row(operation, "cryptography", timing, ok, "random nonce, DER, any s"))
    return rows


# -- report -----------------------------------------------------------------------------------


def goals(count: int) -> list[Goal]:
    return [
        Goal("k256 verify (one at a time)", "coincurve", 1.0),
        Goal(f"k256 verify ({count} in one call)", "coincurve", 1.8),
        Goal("p256 verify (one at a time)", "cryptography", 1.5),
    ]


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4_000, help="signatures per curve")
    parser.add_argument("--accounts", type=int, default=50, help="keys per curve")
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement")
    parser.add_argument("--seed", type=int, default=1)
    add_run_flags(parser, "smoke run: 200 signatures, 3 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.repeat = 200, 3
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    profile = build_profile()
    if refuse_debug("crypto_compare", profile, args.allow_debug):
        return 2
    extra = [f"cryptography's OpenSSL: {openssl.openssl_version_text()}"]
    print(
        "\n".join(
            ("- " if args.markdown else "") + line for line in environment(profile, PACKAGES, extra)
        )
    )
    print(f"signatures: {args.count} per curve by {args.accounts} keys, repeat {args.repeat}")
    print()
    rows: list[Row] = []
    for curve in crypto.CURVES:
        corpus = build_corpus(curve, args.count, args.accounts, args.seed)
        rows += verify_rows(corpus, args.repeat)
        rows += sign_rows(corpus, args.repeat)
    print(table(rows, args.markdown))
    print()
    print("ratio = peer time per item / strato time per item (> 1: strato is faster).")
    print()
    print(goal_table(rows, goals(args.count), args.markdown))
    return 0 if all(row.correct for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
