//! Criterion benches of keys and signatures: the crates strato uses against the alternatives,
//! each on the same key, message and signature, plus strato's own paths (hashing, low-S check,
//! did:key parsing, the key cache, batches).
//!
//! The comparisons are the evidence for the crate choice in `rust/src/crypto.rs`:
//! - k256 verify and sign: `secp256k1` (libsecp256k1) against `RustCrypto` `k256`;
//! - P-256 verify: `ring` against `RustCrypto` `p256`;
//! - P-256 sign: `RustCrypto` `p256` (deterministic, RFC 6979) against `ring` (random nonces only,
//!   so not usable for atproto's deterministic signatures; shown for scale).

use _core::crypto::{self, BatchItem, BatchKey, Curve, PrivateKey, PublicKey};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256};
use std::hint::black_box;

/// A commit-sized message (a signed commit object is about 150 bytes).
const MESSAGE: &[u8] = &[0x5a; 160];
const SECRET: [u8; 32] = [0x17; 32];

fn digest() -> [u8; 32] {
    Sha256::digest(MESSAGE).into()
}

fn bench_k256(c: &mut Criterion) {
    let digest = digest();
    let ours = PrivateKey::from_bytes(&SECRET, Curve::K256).unwrap();
    let public = ours.public_key();
    let signature = ours.sign(MESSAGE);

    let lib_secret = secp256k1::SecretKey::from_secret_bytes(SECRET).unwrap();
    let lib_public = lib_secret.public_key();
    let lib_signature = secp256k1::ecdsa::Signature::from_compact(&signature).unwrap();
    let lib_message = secp256k1::Message::from_digest(digest);

    let rc_secret = k256::ecdsa::SigningKey::from_slice(&SECRET).unwrap();
    let rc_public = *rc_secret.verifying_key();
    let rc_signature = k256::ecdsa::Signature::from_slice(&signature).unwrap();

    let mut group = c.benchmark_group("k256");
    group.bench_function("verify/secp256k1", |b| {
        b.iter(|| secp256k1::ecdsa::verify(&lib_signature, black_box(lib_message), &lib_public));
    });
    group.bench_function("verify/k256", |b| {
        b.iter(|| rc_public.verify_prehash(black_box(&digest), &rc_signature));
    });
    group.bench_function("verify/strato", |b| {
        b.iter(|| public.verify(black_box(MESSAGE), &signature));
    });
    group.bench_function("sign/secp256k1", |b| {
        b.iter(|| secp256k1::ecdsa::sign(black_box(lib_message), &lib_secret));
    });
    group.bench_function("sign/k256", |b| {
        b.iter(|| -> k256::ecdsa::Signature {
            rc_secret.sign_prehash(black_box(&digest)).unwrap()
        });
    });
    group.bench_function("sign/strato", |b| {
        b.iter(|| ours.sign(black_box(MESSAGE)));
    });
    group.finish();
}

fn bench_p256(c: &mut Criterion) {
    let ours = PrivateKey::from_bytes(&SECRET, Curve::P256).unwrap();
    let public = ours.public_key();
    let signature = ours.sign(MESSAGE);
    let uncompressed = public.uncompressed();

    let ring_public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        uncompressed,
    );
    let rng = ring::rand::SystemRandom::new();
    let ring_pair = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &SECRET,
        &uncompressed,
        &rng,
    )
    .unwrap();

    let rc_secret = p256::ecdsa::SigningKey::from_slice(&SECRET).unwrap();
    let rc_public = *rc_secret.verifying_key();
    let rc_signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
    let digest = digest();

    let mut group = c.benchmark_group("p256");
    // Both verifiers hash the message themselves.
    group.bench_function("verify/ring", |b| {
        b.iter(|| ring_public.verify(black_box(MESSAGE), &signature));
    });
    group.bench_function("verify/p256", |b| {
        b.iter(|| rc_public.verify(black_box(MESSAGE), &rc_signature));
    });
    group.bench_function("verify/strato", |b| {
        b.iter(|| public.verify(black_box(MESSAGE), &signature));
    });
    group.bench_function("sign/p256", |b| {
        b.iter(|| -> p256::ecdsa::Signature {
            rc_secret.sign_prehash(black_box(&digest)).unwrap()
        });
    });
    group.bench_function("sign/ring (random nonce)", |b| {
        b.iter(|| ring_pair.sign(&rng, black_box(MESSAGE)).unwrap());
    });
    group.bench_function("sign/strato", |b| {
        b.iter(|| ours.sign(black_box(MESSAGE)));
    });
    group.finish();
}

fn bench_keys(c: &mut Criterion) {
    let k256 = PrivateKey::from_bytes(&SECRET, Curve::K256)
        .unwrap()
        .public_key()
        .did_key();
    let p256 = PrivateKey::from_bytes(&SECRET, Curve::P256)
        .unwrap()
        .public_key()
        .did_key();
    let mut group = c.benchmark_group("did_key");
    group.bench_function("parse/k256", |b| {
        b.iter(|| PublicKey::from_did_key(black_box(&k256)).unwrap());
    });
    group.bench_function("parse/p256", |b| {
        b.iter(|| PublicKey::from_did_key(black_box(&p256)).unwrap());
    });
    group.bench_function("cached/k256", |b| {
        b.iter(|| crypto::public_key_from_did_key_cached(black_box(&k256)).unwrap());
    });
    group.bench_function("format/k256", |b| {
        let key = PublicKey::from_did_key(&k256).unwrap();
        b.iter(|| black_box(&key).did_key());
    });
    group.finish();
}

fn bench_batch(c: &mut Criterion) {
    const ITEMS: usize = 1000;
    let keys: Vec<PrivateKey> = (0..50u8)
        .map(|i| PrivateKey::from_bytes(&[i + 1; 32], Curve::K256).unwrap())
        .collect();
    let dids: Vec<String> = keys.iter().map(|k| k.public_key().did_key()).collect();
    let messages: Vec<Vec<u8>> = (0..ITEMS)
        .map(|i| format!("commit {i}").repeat(10).into_bytes())
        .collect();
    let signatures: Vec<[u8; 64]> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| keys[i % keys.len()].sign(m))
        .collect();
    let items: Vec<BatchItem<'_>> = (0..ITEMS)
        .map(|i| BatchItem {
            key: BatchKey::DidKey(&dids[i % dids.len()]),
            message: &messages[i],
            signature: &signatures[i],
        })
        .collect();
    let mut group = c.benchmark_group("batch_k256");
    group.throughput(Throughput::Elements(ITEMS as u64));
    group.bench_function("one_thread", |b| {
        b.iter(|| {
            items
                .iter()
                .map(|item| item.verify().is_ok())
                .filter(|&ok| ok)
                .count()
        });
    });
    group.bench_function("verify_batch", |b| {
        b.iter(|| crypto::verify_batch(black_box(&items)));
    });
    group.finish();
}

criterion_group!(benches, bench_k256, bench_p256, bench_keys, bench_batch);
criterion_main!(benches);
